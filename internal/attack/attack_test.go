package attack

import (
	"slices"
	"strings"
	"testing"
)

func TestParseTag(t *testing.T) {
	tests := []struct {
		tag    string
		want   Tag
		wantOK bool
	}{
		{"attack.t1059", Tag{KindTechnique, "T1059"}, true},
		{"attack.t1059.001", Tag{KindTechnique, "T1059.001"}, true},
		{"ATTACK.T1110.003", Tag{KindTechnique, "T1110.003"}, true},
		{"attack.credential-access", Tag{KindTactic, "credential-access"}, true},
		{"attack.Command-And-Control", Tag{KindTactic, "command-and-control"}, true},
		{"attack.impact", Tag{KindTactic, "impact"}, true},
		{"attack.stealth", Tag{KindTactic, "stealth"}, true}, // not in the embedded matrix, still a tactic tag
		{"attack.g0032", Tag{KindGroup, "G0032"}, true},
		{"attack.s0154", Tag{KindSoftware, "S0154"}, true},
		{"attack.s1101", Tag{KindSoftware, "S1101"}, true},
		{"attack.ds0005", Tag{KindDataSource, "DS0005"}, true},
		{"attack.m1036", Tag{KindMitigation, "M1036"}, true},
		{"attack.a0004", Tag{KindAsset, "A0004"}, true},
		{"attack.", Tag{}, false},
		{"attack", Tag{}, false},
		{"", Tag{}, false},
		{"car.2016-04-005", Tag{}, false},
		{"cve.2021-44228", Tag{}, false},
		{"credential-access", Tag{}, false}, // a tactic needs the namespace
		{"attackx.t1059", Tag{}, false},
		{"attack.t105", Tag{}, false},
		{"attack.t10590", Tag{}, false},
		{"attack.t1059.01", Tag{}, false},
		{"attack.t1059.0011", Tag{}, false},
		{"attack.t1059x001", Tag{}, false},
		{"attack.t1059.", Tag{}, false},
		{"attack.g003", Tag{}, false},
		{"attack.x0001", Tag{}, false},
		{"attack.defense--evasion", Tag{}, false},
		{"attack.-impact", Tag{}, false},
		{"attack.impact-", Tag{}, false},
		{"attack.lateral movement", Tag{}, false},
		{"attack.execution\x00", Tag{}, false},
		{"attack.exécution", Tag{}, false},
		{"attack." + strings.Repeat("a", maxTactic), Tag{KindTactic, strings.Repeat("a", maxTactic)}, true},
		{"attack." + strings.Repeat("a", maxTactic+1), Tag{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			got, ok := ParseTag(tt.tag)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseTag(%q): got %+v, %v; want %+v, %v", tt.tag, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParent(t *testing.T) {
	tests := []struct {
		tag  Tag
		want string
	}{
		{Tag{KindTechnique, "T1059.001"}, "T1059"},
		{Tag{KindTechnique, "T1059"}, ""},
		{Tag{KindTactic, "execution"}, ""},
		{Tag{KindGroup, "G0032"}, ""},
	}
	for _, tt := range tests {
		if got := tt.tag.Parent(); got != tt.want {
			t.Errorf("%+v.Parent(): got %q, want %q", tt.tag, got, tt.want)
		}
	}
}

func TestTechniquesAndTactics(t *testing.T) {
	tags := []string{
		"attack.credential-access", "attack.t1110.001", "attack.T1110", "attack.t1110.003",
		"attack.g0032", "attack.execution", "Attack.Credential-Access", "attack.t1059.001", "tlp.amber", "attack.t999",
	}
	if got, want := Techniques(tags), []string{"T1110.001", "T1110", "T1110.003", "T1059.001", "T1059"}; !slices.Equal(got, want) {
		t.Errorf("Techniques: got %q, want %q", got, want)
	}
	if got, want := Tactics(tags), []string{"credential-access", "execution"}; !slices.Equal(got, want) {
		t.Errorf("Tactics: got %q, want %q", got, want)
	}
	if got := Techniques(nil); got != nil {
		t.Errorf("Techniques(nil): got %q, want nil", got)
	}
}

// TestMatrix checks the embedded data: it loads, it is whole (every parent
// and tactic a technique names is in it) and it carries MITRE's licence.
func TestMatrix(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Load(); again != m {
		t.Errorf("Load: got a new matrix on the second call, want the shared one")
	}
	want := []string{"reconnaissance", "resource-development", "initial-access", "execution", "persistence",
		"privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
		"collection", "command-and-control", "exfiltration", "impact"}
	var got []string
	for _, ta := range m.Tactics {
		got = append(got, ta.Short)
	}
	if !slices.Equal(got, want) {
		t.Errorf("tactics: got %q, want %q", got, want)
	}
	if ta, ok := m.Tactic("command-and-control"); !ok || ta.Name != "Command and Control" || ta.ID != "TA0011" {
		t.Errorf(`Tactic("command-and-control"): got %+v, %v; want Command and Control, TA0011`, ta, ok)
	}
	if _, ok := m.Tactic("stealth"); ok {
		t.Errorf(`Tactic("stealth"): got ok, want not in this matrix`)
	}
	if n := len(m.Techniques); n < 600 {
		t.Errorf("techniques: got %d, want the whole matrix (600 or more)", n)
	}
	ids := map[string]bool{}
	for _, te := range m.Techniques {
		ids[te.ID] = true
	}
	for _, te := range m.Techniques {
		tag, ok := ParseTag("attack." + strings.ToLower(te.ID))
		if !ok || tag.ID != te.ID || tag.Parent() != te.Parent {
			t.Errorf("technique %s: ParseTag gives %+v, %v (parent %q), want its id and parent %q", te.ID, tag, ok, tag.Parent(), te.Parent)
		}
		if te.Parent != "" && !ids[te.Parent] {
			t.Errorf("technique %s: parent %s is not in the matrix", te.ID, te.Parent)
		}
		for _, s := range te.Tactics {
			if _, ok := m.Tactic(s); !ok {
				t.Errorf("technique %s: tactic %q is not in the matrix", te.ID, s)
			}
		}
	}
	if !strings.Contains(License, "The MITRE Corporation") {
		t.Errorf("License does not name The MITRE Corporation")
	}
	if got := Copyright(); !strings.HasPrefix(got, "© ") || !strings.Contains(got, "The MITRE Corporation") {
		t.Errorf("Copyright(): got %q, want MITRE's copyright line", got)
	}
}

func FuzzParseTag(f *testing.F) {
	for _, s := range []string{"attack.t1059.001", "attack.credential-access", "attack.g0032", "attack.ds0005",
		"ATTACK.T1110", "attack.", "attack.t1059.", "attack.a-b-c", "cve.2021-44228"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tag, ok := ParseTag(s)
		if !ok {
			if tag != (Tag{}) {
				t.Fatalf("ParseTag(%q): got %+v with ok false", s, tag)
			}
			return
		}
		if tag.Kind < KindTechnique || tag.Kind > KindAsset || tag.ID == "" {
			t.Fatalf("ParseTag(%q): got %+v", s, tag)
		}
		// The id is the tag's value in MITRE's spelling, so it reads back.
		back, ok := ParseTag("attack." + tag.ID)
		if !ok || back != tag {
			t.Fatalf("ParseTag(%q) = %+v, but ParseTag(attack.%s) = %+v, %v", s, tag, tag.ID, back, ok)
		}
		if !strings.EqualFold(s[len("attack."):], tag.ID) {
			t.Fatalf("ParseTag(%q): id %q is not the tag's value", s, tag.ID)
		}
		if p := tag.Parent(); p != "" && !strings.HasPrefix(tag.ID, p+".") {
			t.Fatalf("ParseTag(%q): parent %q of %q", s, p, tag.ID)
		}
	})
}

func BenchmarkParseTag(b *testing.B) {
	for b.Loop() {
		ParseTag("attack.t1059.001")
		ParseTag("attack.credential-access")
	}
}
