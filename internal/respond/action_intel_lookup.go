package respond

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/internal/incident"
)

// ActionIntelLookup looks a value up in the threat-intel feeds; a listed
// value is flagged as an indicator of compromise on the incident.
const ActionIntelLookup Action = "intel_lookup"

func init() {
	registerAction(actionSpec{name: ActionIntelLookup, target: true, manual: true, do: intelLookup})
}

func intelLookup(ctx context.Context, r *Runner, c *actionCall) (string, string) {
	if r.o.IntelLookup == nil {
		return "skipped", "no threat-intel feed configured"
	}
	hits := r.o.IntelLookup(c.target)
	if len(hits) == 0 {
		return "ok", "not listed in any feed"
	}
	// A listed value is an indicator of compromise on this incident.
	if err := r.inc.FlagObservable(ctx, c.t.IncidentID, "playbook", c.s.Target, c.target, true); err != nil && !errors.Is(err, incident.ErrNotFound) {
		return "failed", err.Error()
	}
	if len(hits) > 5 {
		hits = append(hits[:5], fmt.Sprintf("and %d more", len(hits)-5))
	}
	return "ok", "listed: " + strings.Join(hits, "; ")
}
