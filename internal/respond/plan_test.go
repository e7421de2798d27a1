package respond

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestHotPathPlans asserts that the block table's statements reach their
// rows through an index or the primary key (issue 9): the unblocker asks
// for due blocks every second, and a wave blocks thousands of addresses.
// The statements are copied from respond.go with the function each
// mirrors: a change to one must be made to the other.
func TestHotPathPlans(t *testing.T) {
	db := metatest.Open(t)
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC).UnixNano()
	metatest.CheckIndexed(t, db, []metatest.Statement{
		{
			// Runner.unblockDue.
			Name:  "unblockDue",
			Query: `SELECT ip, incident_id, playbook FROM response_blocks WHERE until <= ?`,
			Args:  []any{now},
			Index: "response_blocks_until",
		},
		{
			// Runner.unblockDue, per unblocked address.
			Name:  "unblockDue (delete)",
			Query: `DELETE FROM response_blocks WHERE ip = ?`,
			Args:  []any{"203.0.113.5"},
		},
		{
			// The block_ip step: schedule the unblock (the conflict target
			// is the primary key, or the statement would not prepare).
			Name: "block_ip (upsert)",
			Query: `INSERT INTO response_blocks (ip, until, incident_id, playbook) VALUES (?, ?, ?, ?)
				ON CONFLICT(ip) DO UPDATE SET until = max(until, excluded.until), incident_id = excluded.incident_id`,
			Args: []any{"203.0.113.5", now + int64(time.Hour), "i1", "ssh-brute-force"},
		},
	})
}
