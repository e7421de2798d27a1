package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the agent small: it must not link the server,
// the console, the detection engine or the rule set, nor the databases.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/vigilsec/vigil/internal/server",
		"github.com/vigilsec/vigil/internal/web",
		"github.com/vigilsec/vigil/internal/detect",
		"github.com/vigilsec/vigil/internal/ruleset",
		"github.com/vigilsec/vigil/internal/agents",
		"github.com/vigilsec/vigil/internal/meta",
		"modernc.org/sqlite",
		"github.com/jackc/pgx/v5",
	}
	var internal []string
	for _, p := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				t.Errorf("vigil-agent links %s", p)
			}
		}
		if strings.HasPrefix(p, "github.com/vigilsec/vigil/internal/") {
			internal = append(internal, p)
		}
	}
	// The agent's own packages, the journal (its disk buffer) and the
	// file tailer, all of the standard library only; nothing else of
	// Vigil.
	want := map[string]bool{"github.com/vigilsec/vigil/internal/agent": true, "github.com/vigilsec/vigil/internal/agentwire": true,
		"github.com/vigilsec/vigil/internal/journal": true, "github.com/vigilsec/vigil/internal/ingest": true, "github.com/vigilsec/vigil/internal/ingest/file": true,
		"github.com/vigilsec/vigil/internal/atomicfile": true, "github.com/vigilsec/vigil/internal/agent/fim": true,
		"github.com/vigilsec/vigil/internal/agent/inventory": true, "github.com/vigilsec/vigil/internal/ospkg": true}
	for _, p := range internal {
		if !want[p] {
			t.Errorf("vigil-agent links %s: only %v are expected", p, want)
		}
	}
}
