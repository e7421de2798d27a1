package incident

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestHotPathPlans asserts that every statement an alert batch runs here
// (grouping into incidents, entity risk) reaches its rows through an index
// or a primary key (issue 9). The statements are not named constants in
// incident.go and risk.go, so each is copied here with the function it
// mirrors: a change to one must be made to the other.
func TestHotPathPlans(t *testing.T) {
	db := metatest.Open(t)
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC).UnixNano()
	metatest.CheckIndexed(t, db, []metatest.Statement{
		{
			// Manager.findOpen: the open incident sharing an entity value.
			// The sort is over the incidents of one entity value.
			Name: "findOpen",
			Query: `SELECT i.id, i.updated FROM incident_entities e JOIN incidents i ON i.id = e.incident_id
				WHERE e.kind = ? AND e.value = ? AND i.status NOT IN ('resolved', 'false_positive') AND i.updated >= ?
				ORDER BY i.updated DESC LIMIT 1`,
			Args:  []any{"source.ip", "203.0.113.5", now - int64(24*time.Hour)},
			Index: "incident_entities_value",
			Sorts: true,
		},
		{
			// Manager.place: a repeat of an alert in an incident.
			Name:  "place (touch)",
			Query: `UPDATE incidents SET updated = ? WHERE id = ? AND updated < ?`,
			Args:  []any{now, "i1", now},
		},
		{
			// Manager.place: the incident a new alert joins.
			Name:  "place (read)",
			Query: `SELECT ` + incidentColumns + ` FROM incidents WHERE id = ?`,
			Args:  []any{"i1"},
		},
		{
			// Manager.place: the incident a new alert joins.
			Name:  "place (update)",
			Query: `UPDATE incidents SET entities = ?, tags = ?, severity = ?, updated = ? WHERE id = ?`,
			Args:  []any{`{}`, `[]`, "high", now, "i1"},
		},
		{
			// Manager.attach.
			Name:  "attach",
			Query: `UPDATE alerts SET incident_id = ? WHERE id = ?`,
			Args:  []any{"i1", "a1"},
		},
		{
			// Manager.riskState: an entity's score, on an index miss.
			Name:  "riskSelectSQL",
			Query: riskSelectSQL,
			Args:  []any{"source.ip", "203.0.113.5"},
		},
		{
			// Manager.flushRisk: a changed score (the conflict target is
			// the primary key, or the statement would not prepare).
			Name:  "riskUpsertSQL",
			Query: riskUpsertSQL,
			Args:  []any{"source.ip", "203.0.113.5", 40.0, now, false},
		},
	})
}
