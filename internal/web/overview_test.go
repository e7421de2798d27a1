package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestAlertActivity(t *testing.T) { metatest.Engines(t, testAlertActivity) }

func testAlertActivity(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	since := now.Truncate(time.Hour).Add(-(overviewHours - 1) * time.Hour)
	for _, a := range []struct {
		id, rule, level string
		first, last     time.Time
		count           int
	}{
		{"a1", "A", "high", now.Add(-time.Minute), now, 3},
		{"a2", "A", "high", now.Add(-30 * time.Hour), now.Add(-time.Hour), 5}, // first seen before the window
		{"b1", "B", "low", since.Add(time.Minute), since.Add(time.Minute), 1},
		{"c1", "C", "low", now.Add(-50 * time.Hour), now.Add(-49 * time.Hour), 9}, // outside the window
	} {
		_, err := e.db.Meta().ExecContext(context.Background(), `INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, event)
			VALUES (?, ?, ?, ?, 0, '[]', ?, ?, ?, '{}', '{}')`, a.id, a.rule, "Rule "+a.rule, a.level, a.count, a.first.UnixNano(), a.last.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
	}
	chart, top, err := e.c.alertActivity(httptest.NewRequest("GET", "/", nil), since, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []ruleCount{{RuleID: "A", Title: "Rule A", Level: "high", Alerts: 2, Hits: 8}, {RuleID: "B", Title: "Rule B", Level: "low", Alerts: 1, Hits: 1}}
	if d := cmp.Diff(want, top); d != "" {
		t.Errorf("top rules (-want +got):\n%s", d)
	}
	// Two bars: A's alert first seen in the last hour, B's in the first.
	if got := strings.Count(string(chart), "<rect "); got != 2 {
		t.Errorf("got %d bars, want 2:\n%s", got, chart)
	}
	if !strings.Contains(string(chart), `class="bar-high"`) || !strings.Contains(string(chart), `class="bar-low"`) {
		t.Errorf("chart lacks the high and low bars")
	}
}
