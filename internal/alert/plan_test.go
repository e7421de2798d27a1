package alert

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestHotPathPlans asserts that every statement the recorder runs per
// batch (and at start) reaches its rows through an index or a primary key
// (issue 9: every query left on the hot path uses an index).
func TestHotPathPlans(t *testing.T) {
	db := metatest.Open(t)
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC).UnixNano()
	metatest.CheckIndexed(t, db, []metatest.Statement{
		{Name: "lookupSQL", Query: lookupSQL, Index: "alerts_dedup", Args: []any{"0123456789abcdef0123456789abcdef", now - int64(time.Hour)}},
		{Name: "openAlertsSQL", Query: openAlertsSQL, Index: "console_alerts_status", Args: []any{now - int64(time.Hour), 100001}},
		{Name: "updateAlertSQL", Query: updateAlertSQL, Args: []any{2, now, now, `{"source.ip":["203.0.113.5"]}`, 0, "a1"}},
		{Name: "upsertMemberSQL", Query: upsertMemberSQL, Args: []any{"a1", "source.ip", "203.0.113.5", now, now, 1}},
		{Name: "newest alert (loadOpen)", Query: `SELECT max(last_seen) FROM alerts`, Index: "alerts_last_seen"},
		{Name: "membersSQL", Query: membersSQL, Args: []any{"a1", "source.ip", "198.51.100.", "198.51.100.\U0010FFFF", 1000, 0}},
		{Name: "memberKindSQL", Query: memberKindSQL, Args: []any{"a1"}},
	})
}
