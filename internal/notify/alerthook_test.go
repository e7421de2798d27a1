package notify

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/alert"
)

func TestAlertHook(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "all", Type: TypeWebhook, URL: srv.URL, MinLevel: "medium"})
	run(t, n)
	seen := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	mk := func(id, level string) alert.Alert {
		return alert.Alert{ID: id, RuleID: "r-" + id, RuleTitle: "Rule " + id, Level: level, Tags: []string{"attack.t1110"},
			Count: 3, FirstSeen: seen, LastSeen: seen.Add(time.Minute),
			Entities: map[string][]string{"host": {"web-1"}, "source.ip": {"203.0.113.7"}}}
	}
	hook := n.AlertHook(func(a *alert.Alert) string { return "https://vigil.example/alerts/" + a.ID })
	hook.AlertsChanged(context.Background(), []alert.Change{
		{Alert: mk("a1", "high"), New: true},
		{Alert: mk("a2", "high"), New: false}, // an update: not notified again
		{Alert: mk("a3", "low"), New: true},   // below the route's level
	})
	waitFor(t, 5*time.Second, "delivery", func() bool { return stats(t, n).Delivered == 1 })
	settle(t, n)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests: got %d, want 1", len(reqs))
	}
	var got Notification
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatal(err)
	}
	got.Data = nil
	want := Notification{
		ID: "a1", Kind: KindAlert, Level: "high", Title: "Rule a1", RuleID: "r-a1",
		Summary:  "Rule a1: 3 detections (high) on host web-1; source.ip 203.0.113.7",
		Tags:     []string{"attack.t1110"},
		Entities: map[string][]string{"host": {"web-1"}, "source.ip": {"203.0.113.7"}},
		Time:     seen, Link: "https://vigil.example/alerts/a1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
}
