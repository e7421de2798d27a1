package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/agent/fim"
	"github.com/vigilsec/vigil/internal/agentwire"
)

// TestFIMLine: an event whose three paths are the longest and the worst
// to escape stays within a record's line, its paths cleaned as log
// records' are.
func TestFIMLine(t *testing.T) {
	worst := "/" + strings.Repeat("\"\\\n\xff\u2028", 4096)
	st := &fim.State{Type: fim.TypeSymlink, Target: worst}
	line, err := fimLine(fim.Event{Action: fim.Modified, Path: worst, Before: st, After: st, Trigger: fim.TriggerRealtime})
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > agentwire.MaxLine {
		t.Fatalf("got %d bytes, want at most %d", len(line), agentwire.MaxLine)
	}
	var ev fim.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ev.Path, ev.Before.Target, ev.After.Target} {
		if len(p) > agentwire.MaxPath || strings.ContainsAny(p, "\n\x00") || !strings.HasPrefix(p, "/\"\\?") {
			t.Errorf("path %.40q (%d bytes): want it cleaned and at most %d bytes", p, len(p), agentwire.MaxPath)
		}
	}
	if st.Target != worst {
		t.Errorf("the caller's state was changed")
	}
}
