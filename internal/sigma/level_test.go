package sigma

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr bool
	}{
		{"informational", Informational, false},
		{"low", Low, false},
		{"medium", Medium, false},
		{"high", High, false},
		{"critical", Critical, false},
		{"", NoLevel, true},
		{"High", NoLevel, true}, // the specification writes levels in lower case
		{" high", NoLevel, true},
		{"info", NoLevel, true},
		{"severe", NoLevel, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLevel(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("ParseLevel(%q): got %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnknownLevel) {
				t.Errorf("ParseLevel(%q): got error %v, want one wrapping ErrUnknownLevel", tt.in, err)
			}
			if got := LevelOf(tt.in); got != tt.want {
				t.Errorf("LevelOf(%q): got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	_, err := ParseLevel("severe")
	if got, want := err.Error(), `unknown level "severe" (want informational, low, medium, high or critical)`; got != want {
		t.Errorf("ParseLevel error: got %q, want %q", got, want)
	}
}

func TestLevelOrder(t *testing.T) {
	if !slices.IsSorted(Levels) {
		t.Errorf("Levels: got %v, want them in increasing order", Levels)
	}
	want := []string{"informational", "low", "medium", "high", "critical"}
	for i, l := range Levels {
		if got := l.String(); got != want[i] {
			t.Errorf("Levels[%d].String(): got %q, want %q", i, got, want[i])
		}
		if !l.Valid() {
			t.Errorf("%v.Valid(): got false, want true", l)
		}
		if NoLevel >= l {
			t.Errorf("NoLevel >= %v, want NoLevel below every level", l)
		}
	}
	for _, l := range []Level{NoLevel, Critical + 1, 255} {
		if l.Valid() {
			t.Errorf("Level(%d).Valid(): got true, want false", l)
		}
	}
	if got, want := Level(9).String(), "Level(9)"; got != want {
		t.Errorf("Level(9).String(): got %q, want %q", got, want)
	}
}

// TestLevelText pins the text form: the lower-case names, as JSON, YAML
// and flags have always carried them.
func TestLevelText(t *testing.T) {
	type doc struct {
		Level Level `json:"level"`
	}
	for _, l := range append([]Level{NoLevel}, Levels...) {
		b, err := json.Marshal(doc{l})
		if err != nil {
			t.Fatalf("marshalling %v: %v", l, err)
		}
		if got, want := string(b), `{"level":"`+l.String()+`"}`; got != want {
			t.Errorf("json.Marshal(%v): got %s, want %s", l, got, want)
		}
		var back doc
		if err := json.Unmarshal(b, &back); err != nil || back.Level != l {
			t.Errorf("json.Unmarshal(%s): got %v, %v; want %v", b, back.Level, err, l)
		}
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"level":"severe"}`), &d); !errors.Is(err, ErrUnknownLevel) {
		t.Errorf(`json.Unmarshal("severe"): got error %v, want ErrUnknownLevel`, err)
	}
	if _, err := json.Marshal(doc{Level(9)}); err == nil {
		t.Errorf("json.Marshal(Level(9)): got no error, want one")
	}
}

func FuzzParseLevel(f *testing.F) {
	for _, s := range []string{"", "high", "High", "critical\x00", "informational "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLevel(s)
		if err != nil {
			if l != NoLevel || !errors.Is(err, ErrUnknownLevel) {
				t.Fatalf("ParseLevel(%q): got %v, %v", s, l, err)
			}
			return
		}
		if !l.Valid() || l.String() != s {
			t.Fatalf("ParseLevel(%q): got %v, which does not name itself %q", s, l, s)
		}
		var back Level
		if err := back.UnmarshalText([]byte(s)); err != nil || back != l {
			t.Fatalf("UnmarshalText(%q): got %v, %v; want %v", s, back, err, l)
		}
	})
}
