package server

import (
	"os"
	"path/filepath"
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
	a := d.rule("1", "x", "high", "")
	if b := d.rule("1", "x", "high", ""); a != b {
		t.Errorf("the same signature got two rules")
	}
	if c := d.rule("1", "y", "high", ""); c == a || c.ID != a.ID {
		t.Errorf("another text for the same id: got rule %p id %q, want a new rule with id %q", c, c.ID, a.ID)
	}
	for i := len(d.rules); i < maxSuricataRules; i++ {
		d.rule(strconv.Itoa(1000+i), "s", "low", "")
	}
	if len(d.rules) != maxSuricataRules {
		t.Fatalf("got %d cached rules, want %d", len(d.rules), maxSuricataRules)
	}
	r := d.rule("99999999", "past the bound", "low", "c")
	if r == nil || r.ID != "suricata:99999999" || r.Description != "Suricata signature 99999999 (c) fired." {
		t.Fatalf("past the bound: got %+v, want a rule all the same", r)
	}
	if len(d.rules) != maxSuricataRules {
		t.Errorf("past the bound: got %d cached rules, want %d", len(d.rules), maxSuricataRules)
	}
}
