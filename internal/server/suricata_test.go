package server

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
)

type fakeRecorder struct{ got []detect.Detection }

func (f *fakeRecorder) Record(d detect.Detection) { f.got = append(f.got, d) }

// alertSample is the parser's Suricata alert sample.
func alertSample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "parse", "testdata", "suricata", "alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func parseEVE(line string) *event.Event {
	var ev event.Event
	parse.New(parse.Options{}).Parse(&ingest.Raw{Data: []byte(line), Received: time.Now()}, &ev)
	return &ev
}

func TestSuricataDetector(t *testing.T) {
	sample := alertSample(t)
	const sig = "LOCAL Windows executable served from a .top domain"
	tests := []struct {
		name              string
		line              string
		wantID, wantTitle string
		wantLevel         string
	}{
		{"severity 1", sample, "suricata:9100001", sig, "high"},
		{"severity 2", strings.Replace(sample, `"severity":1`, `"severity":2`, 1), "suricata:9100001", sig, "medium"},
		{"severity 3", strings.Replace(sample, `"severity":1`, `"severity":3`, 1), "suricata:9100001", sig, "low"},
		{"severity 4", strings.Replace(sample, `"severity":1`, `"severity":4`, 1), "suricata:9100001", sig, "informational"},
		{"no severity", strings.Replace(sample, `"severity":1,`, ``, 1), "suricata:9100001", sig, "informational"},
		{"no signature text", strings.Replace(sample, `"signature":"`+sig+`",`, ``, 1), "suricata:9100001", "Suricata signature 9100001", "high"},
		{"largest signature id", strings.Replace(sample, `9100001`, `4294967295`, 1), "suricata:4294967295", sig, "high"},
		{"signature id past 32 bits", strings.Replace(sample, `9100001`, `4294967296`, 1), "", "", ""},
		{"signature id not a number", strings.Replace(sample, `9100001`, `"91x"`, 1), "", "", ""},
		{"no signature id", strings.Replace(sample, `"signature_id":9100001,`, ``, 1), "", "", ""},
		{"not an alert", strings.Replace(sample, `"event_type":"alert"`, `"event_type":"http"`, 1), "", "", ""},
		{"not Suricata", `{"event":{"module":"suricata","kind":"alert"},"alert":{"signature_id":1,"severity":1}}`, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			d := newSuricataDetector(rec)
			ev := parseEVE(tc.line)
			d.Detect(ev)
			if tc.wantID == "" {
				if len(rec.got) != 0 {
					t.Fatalf("got %d detections (%s), want none", len(rec.got), rec.got[0].Rule.ID)
				}
				return
			}
			if len(rec.got) != 1 {
				t.Fatalf("got %d detections, want 1", len(rec.got))
			}
			r := rec.got[0].Rule
			if r.ID != tc.wantID || r.Title != tc.wantTitle || r.Level != tc.wantLevel {
				t.Errorf("got rule %q %q level %q, want %q %q level %q", r.ID, r.Title, r.Level, tc.wantID, tc.wantTitle, tc.wantLevel)
			}
			if rec.got[0].Event != ev || !rec.got[0].Time.Equal(ev.Timestamp()) {
				t.Errorf("detection does not carry the event and its time")
			}
		})
	}
}

func TestSuricataDetectorTitleBound(t *testing.T) {
	tests := []struct {
		name, sig, want string
	}{
		{"at the bound", strings.Repeat("a", maxSuricataTitle), strings.Repeat("a", maxSuricataTitle)},
		{"past the bound", strings.Repeat("a", maxSuricataTitle+1), strings.Repeat("a", maxSuricataTitle)},
		{"a character across the bound", strings.Repeat("a", maxSuricataTitle-1) + "é", strings.Repeat("a", maxSuricataTitle-1)},
		{"invalid UTF-8", "bad \xff byte", "bad \uFFFD byte"},
		{"blank", "   ", "Suricata signature 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := suricataTitle("7", tc.sig); got != tc.want {
				t.Errorf("got %q (%d bytes), want %q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
		})
	}
}

// TestSuricataDetectorRuleCache checks that repeats share one rule and that
// the cache stops growing at maxSuricataRules while alerts still pass.
func TestSuricataDetectorRuleCache(t *testing.T) {
	d := newSuricataDetector(&fakeRecorder{})
	a := d.rule("1", "x", "high", "", nil)
	if b := d.rule("1", "x", "high", "", nil); a != b {
		t.Errorf("the same signature got two rules")
	}
	if c := d.rule("1", "y", "high", "", nil); c == a || c.ID != a.ID {
		t.Errorf("another text for the same id: got rule %p id %q, want a new rule with id %q", c, c.ID, a.ID)
	}
	if c := d.rule("1", "x", "high", "", []string{"attack.t1071"}); c == a || !slices.Equal(c.Tags, []string{"suricata", "attack.t1071"}) {
		t.Errorf("other tags for the same id: got rule %p tags %v, want a new rule tagged suricata, attack.t1071", c, c.Tags)
	}
	for i := len(d.rules); i < maxSuricataRules; i++ {
		d.rule(strconv.Itoa(1000+i), "s", "low", "", nil)
	}
	if len(d.rules) != maxSuricataRules {
		t.Fatalf("got %d cached rules, want %d", len(d.rules), maxSuricataRules)
	}
	r := d.rule("99999999", "past the bound", "low", "c", nil)
	if r == nil || r.ID != "suricata:99999999" || r.Description != "Suricata signature 99999999 (c) fired." {
		t.Fatalf("past the bound: got %+v, want a rule all the same", r)
	}
	if len(d.rules) != maxSuricataRules {
		t.Errorf("past the bound: got %d cached rules, want %d", len(d.rules), maxSuricataRules)
	}
}

func TestSuricataDetectorTechniques(t *testing.T) {
	sample := alertSample(t)
	meta := func(ids string) string {
		return strings.Replace(sample, `"metadata":{"created_at":["2026_11_01"]}`, `"metadata":{"created_at":["2026_11_01"],"mitre_technique_id":[`+ids+`]}`, 1)
	}
	tests := []struct {
		name, line string
		want       []string
	}{
		{"none", sample, []string{"suricata"}},
		{"one", meta(`"T1105"`), []string{"suricata", "attack.t1105"}},
		{"sub-technique and repeat", meta(`"T1059.001","T1059.001"`), []string{"suricata", "attack.t1059.001"}},
		{"not technique ids", meta(`"TA0011","T10x5","1105","T1105.1","T1105;x"`), []string{"suricata"}},
		{"at the bound", meta(`"T1001","T1002","T1003","T1004"`), []string{"suricata", "attack.t1001", "attack.t1002", "attack.t1003", "attack.t1004"}},
		{"past the bound", meta(`"T1001","T1002","T1003","T1004","T1005"`), []string{"suricata", "attack.t1001", "attack.t1002", "attack.t1003", "attack.t1004"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			newSuricataDetector(rec).Detect(parseEVE(tc.line))
			if len(rec.got) != 1 {
				t.Fatalf("got %d detections, want 1", len(rec.got))
			}
			if got := rec.got[0].Rule.Tags; !slices.Equal(got, tc.want) {
				t.Errorf("tags: got %v, want %v", got, tc.want)
			}
		})
	}
}
