package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/searchlimit"
)

// TestSearchLimits: the console's search page, sidebar and export run
// within the search limits and say which one stopped them.
func TestSearchLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Search = searchlimit.New(searchlimit.Limits{MaxGroups: 20, QueueWait: -1})
	})
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.Event
	for i := range 30 {
		ev := &event.Event{Time: now.Add(-time.Duration(i) * time.Second), Received: now}
		ev.SetString("message", "limit test")
		ev.SetString("source.ip", fmt.Sprintf("10.0.0.%d", i))
		ev.SetString("user.name", fmt.Sprintf("u%d", i%3))
		evs = append(evs, ev)
	}
	if err := e.db.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	want := "too many groups (limit 20): narrow the query or raise search.max_groups"
	_, page := c.get("/search?range=all&q=" + url.QueryEscape("limit | stats count() by source.ip"))
	if !strings.Contains(page, want) {
		t.Errorf("search page does not say %q", want)
	}
	resp, body := c.get("/search/export?range=all&format=csv&q=" + url.QueryEscape("limit | stats count() by source.ip"))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
		t.Errorf("export: got %d %.200q, want 422 %q", resp.StatusCode, body, want)
	}
	// The sidebar: a field with too many values says so, the others
	// still show their top values.
	_, side := c.get("/search/fields?q=limit&range=all&field=source.ip&field=user.name")
	if !strings.Contains(side, "more than 20 values") {
		t.Errorf("sidebar does not say source.ip has more than 20 values: %.800s", side)
	}
	if !strings.Contains(side, "user.name%3Au0") && !strings.Contains(side, "user.name:u0") {
		t.Errorf("sidebar has no link for user.name=u0: %.800s", side)
	}
	// Within the bound, the same aggregation answers.
	_, agg := c.get("/search?range=all&q=" + url.QueryEscape("limit | stats count() by user.name"))
	if !strings.Contains(agg, "3 rows") {
		t.Errorf("aggregate by user.name does not show 3 rows")
	}
}
