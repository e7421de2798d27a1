package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestWebhookSignatureAndShape(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	rt := mustCreate(t, n, Route{Name: "soc", Type: TypeWebhook, URL: srv.URL + "/hook?token=x", Secret: "s3cret", MinLevel: "medium"})
	run(t, n)
	want := alertN("a1", "high", "rule-1")
	mustNotify(t, n, want)
	waitFor(t, 5*time.Second, "delivery", func() bool { return rc.count() == 1 })

	req := rc.requests()[0]
	if got := req.header.Get("X-Vigil-Signature"); !Verify("s3cret", req.body, got) {
		t.Errorf("X-Vigil-Signature %q does not verify with the route secret", got)
	}
	if Verify("other", req.body, req.header.Get("X-Vigil-Signature")) {
		t.Errorf("signature verifies with a wrong secret")
	}
	for k, v := range map[string]string{
		"Content-Type":     "application/json",
		"User-Agent":       "Vigil",
		"X-Vigil-Event":    "alert",
		"X-Vigil-Delivery": rt.ID + ":a1",
	} {
		if got := req.header.Get(k); got != v {
			t.Errorf("header %s: got %q, want %q", k, got, v)
		}
	}
	var got Notification
	if err := json.Unmarshal(req.body, &got); err != nil {
		t.Fatalf("decoding body: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
	waitFor(t, 5*time.Second, "delivered state", func() bool { return stats(t, n).Delivered == 1 })
}

func TestMatches(t *testing.T) {
	base := alertN("x", "high", "rule-ssh")
	tests := []struct {
		name  string
		route Route
		mod   func(*Notification)
		want  bool
	}{
		{"no filters", Route{}, nil, true},
		{"level equal", Route{MinLevel: "high"}, nil, true},
		{"level above", Route{MinLevel: "medium"}, nil, true},
		{"level below", Route{MinLevel: "critical"}, nil, false},
		{"unknown level dropped by filter", Route{MinLevel: "low"}, func(n *Notification) { n.Level = "weird" }, false},
		{"tag exact", Route{Tags: []string{"attack.credential_access"}}, nil, true},
		{"tag parent matches subtechnique", Route{Tags: []string{"attack.t1110"}}, nil, true},
		{"tag prefix not at dot", Route{Tags: []string{"attack.t111"}}, nil, false},
		{"tag wildcard", Route{Tags: []string{"attack.t11*"}}, nil, true},
		{"tag case-insensitive", Route{Tags: []string{"attack.t1110"}}, func(n *Notification) { n.Tags = []string{"ATTACK.T1110"} }, true},
		{"tag none", Route{Tags: []string{"attack.t1059"}}, nil, false},
		{"rule match", Route{Rules: []string{"other", "rule-ssh"}}, nil, true},
		{"rule no match", Route{Rules: []string{"other"}}, nil, false},
		{"entity match", Route{Entities: map[string][]string{"host": {"WEB-1"}}}, nil, true},
		{"entity other kind", Route{Entities: map[string][]string{"user": {"web-1"}}}, nil, false},
		{"entity cidr", Route{Entities: map[string][]string{"source.ip": {"203.0.113.0/24"}}}, nil, true},
		{"entity cidr miss", Route{Entities: map[string][]string{"source.ip": {"10.0.0.0/8"}}}, nil, false},
		{"entity any of kinds", Route{Entities: map[string][]string{"host": {"db-9"}, "user": {"root"}}}, nil, true},
		{"all filters must pass", Route{MinLevel: "low", Rules: []string{"rule-ssh"}, Tags: []string{"attack.t1059"}}, nil, false},
		{"all filters pass", Route{MinLevel: "low", Rules: []string{"rule-ssh"}, Tags: []string{"attack.t1110"}, Entities: map[string][]string{"host": {"web-1"}}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nt := base
			if tt.mod != nil {
				tt.mod(&nt)
			}
			r := tt.route
			r.normalize()
			if got := r.Matches(&nt); got != tt.want {
				t.Errorf("Matches: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFiltersEndToEnd(t *testing.T) {
	n := newNotifier(t, testOptions())
	rcHigh, srvHigh := newReceiver(t, nil)
	rcSSH, srvSSH := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "high", Type: TypeWebhook, URL: srvHigh.URL, MinLevel: "high"})
	mustCreate(t, n, Route{Name: "ssh", Type: TypeWebhook, URL: srvSSH.URL, Rules: []string{"rule-ssh"}})
	off := mustCreate(t, n, Route{Name: "off", Type: TypeWebhook, URL: srvSSH.URL})
	off.Enabled = false
	if _, err := n.UpdateRoute(context.Background(), off); err != nil {
		t.Fatal(err)
	}
	run(t, n)
	mustNotify(t, n, alertN("1", "low", "rule-ssh"))
	mustNotify(t, n, alertN("2", "critical", "rule-web"))
	mustNotify(t, n, alertN("3", "medium", "rule-web"))
	waitFor(t, 5*time.Second, "deliveries", func() bool { return stats(t, n).Delivered == 2 })
	ids := func(rc *receiver) []string {
		var out []string
		for _, r := range rc.requests() {
			var nt Notification
			json.Unmarshal(r.body, &nt)
			out = append(out, nt.ID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"2"}, ids(rcHigh)); diff != "" {
		t.Errorf("high route (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1"}, ids(rcSSH)); diff != "" {
		t.Errorf("ssh route (-want +got):\n%s", diff)
	}
}

func TestNotifyIdempotent(t *testing.T) { metatest.Engines(t, testNotifyIdempotent) }

func testNotifyIdempotent(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "r", Type: TypeWebhook, URL: srv.URL})
	mustNotify(t, n, alertN("dup", "high", "r1"))
	mustNotify(t, n, alertN("dup", "high", "r1"))
	if got := stats(t, n).Pending; got != 1 {
		t.Fatalf("pending after two Notify of one id: got %d, want 1", got)
	}
	run(t, n)
	waitFor(t, 5*time.Second, "delivery", func() bool { return stats(t, n).Delivered == 1 })
	mustNotify(t, n, alertN("dup", "high", "r1")) // after delivery too
	settle(t, n)
	if got := rc.count(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
}

func TestNotifyRejectsInvalid(t *testing.T) {
	n := newNotifier(t, testOptions())
	for _, nt := range []Notification{{Kind: KindAlert}, {ID: "x", Kind: "digest"}} {
		if err := n.Notify(context.Background(), nt); !errors.Is(err, ErrInvalid) {
			t.Errorf("Notify(%+v): got %v, want ErrInvalid", nt, err)
		}
	}
}

func TestRetryWithBackoffThenDeliveredOnce(t *testing.T) {
	metatest.Engines(t, testRetryWithBackoffThenDeliveredOnce)
}

func testRetryWithBackoffThenDeliveredOnce(t *testing.T) {
	opts := testOptions()
	opts.BackoffMin = 40 * time.Millisecond
	n := newNotifier(t, opts)
	rc, srv := newReceiver(t, func(i int, w http.ResponseWriter) int {
		if i <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	mustCreate(t, n, Route{Name: "flaky", Type: TypeWebhook, URL: srv.URL})
	run(t, n)
	mustNotify(t, n, alertN("r1", "high", "x"))
	waitFor(t, 10*time.Second, "delivery", func() bool { return stats(t, n).Delivered == 1 })
	settle(t, n)
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("requests: got %d, want 4 (3 failures, 1 success)", len(reqs))
	}
	// Jittered exponential backoff: attempt k waits in [min·2^(k-1)/2, min·2^(k-1)].
	for k := 1; k < len(reqs); k++ {
		gap := reqs[k].at.Sub(reqs[k-1].at)
		lo := opts.BackoffMin << (k - 1) / 2
		if gap < lo-5*time.Millisecond {
			t.Errorf("gap before attempt %d: got %s, want at least %s", k+1, gap, lo)
		}
	}
	for _, r := range reqs {
		if got := r.header.Get("X-Vigil-Delivery"); got != reqs[0].header.Get("X-Vigil-Delivery") {
			t.Errorf("delivery id changed across retries: %q", got)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, func(i int, w http.ResponseWriter) int {
		if i == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	mustCreate(t, n, Route{Name: "r", Type: TypeWebhook, URL: srv.URL})
	run(t, n)
	mustNotify(t, n, alertN("ra", "high", "x"))
	waitFor(t, 10*time.Second, "delivery", func() bool { return stats(t, n).Delivered == 1 })
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: got %d, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 950*time.Millisecond {
		t.Errorf("retry after Retry-After: 1 came after %s, want at least 1s", gap)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{"-3", 0},
		{"junk", 0},
		{"999999999", 86400 * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

// freeAddr returns a loopback address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRestartWhileReceiverDownDeliversExactlyOnce(t *testing.T) {
	metatest.Engines(t, testRestartWhileReceiverDownDeliversExactlyOnce)
}

func testRestartWhileReceiverDownDeliversExactlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	addr := freeAddr(t)
	ctx := context.Background()

	// First life: the receiver is down.
	db := openDB(t, path)
	n, err := Open(ctx, db, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	rt, err := n.CreateRoute(ctx, Route{Name: "down", Type: TypeWebhook, URL: "http://" + addr + "/hook", Secret: "k", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	if err := n.Notify(ctx, alertN("survivor", "critical", "x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a failed attempt", func() bool {
		var attempts int
		db.QueryRow(`SELECT attempts FROM notify_outbox WHERE notification_id = 'survivor'`).Scan(&attempts)
		return attempts >= 2
	})
	n.Close()
	<-done
	db.Close()

	// The receiver comes up on the same address.
	rc := &receiver{}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relistening on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()

	// Second life on the same database file.
	db = openDB(t, path)
	defer db.Close()
	n, err = Open(ctx, db, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if st := stats(t, n); st.Pending != 1 {
		t.Fatalf("pending after reopen: got %d, want 1", st.Pending)
	}
	run(t, n)
	waitFor(t, 10*time.Second, "delivery after restart", func() bool { return stats(t, n).Delivered == 1 })
	settle(t, n)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests after restart: got %d, want exactly 1", len(reqs))
	}
	if got, want := reqs[0].header.Get("X-Vigil-Delivery"), rt.ID+":survivor"; got != want {
		t.Errorf("X-Vigil-Delivery: got %q, want %q", got, want)
	}
	if !Verify("k", reqs[0].body, reqs[0].header.Get("X-Vigil-Signature")) {
		t.Errorf("signature does not verify after restart")
	}
}

func TestClientErrorIsDeadAfterLimitedTries(t *testing.T) {
	metatest.Engines(t, testClientErrorIsDeadAfterLimitedTries)
}

func testClientErrorIsDeadAfterLimitedTries(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusBadRequest })
	rt := mustCreate(t, n, Route{Name: "bad", Type: TypeWebhook, URL: srv.URL})
	run(t, n)
	mustNotify(t, n, alertN("d1", "high", "x"))
	waitFor(t, 10*time.Second, "dead", func() bool { return stats(t, n).Dead == 1 })
	settle(t, n)
	if got := rc.count(); got != 3 {
		t.Errorf("tries: got %d, want 3", got)
	}
	st := stats(t, n)
	if diff := cmp.Diff(Counts{Dead: 1}, st.Routes[rt.ID]); diff != "" {
		t.Errorf("route stats (-want +got):\n%s", diff)
	}
}

func TestMaxAgeMakesDead(t *testing.T) { metatest.Engines(t, testMaxAgeMakesDead) }

func testMaxAgeMakesDead(t *testing.T) {
	opts := testOptions()
	opts.MaxAge = 150 * time.Millisecond
	n := newNotifier(t, opts)
	_, srv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusBadGateway })
	mustCreate(t, n, Route{Name: "r", Type: TypeWebhook, URL: srv.URL})
	run(t, n)
	mustNotify(t, n, alertN("old", "high", "x"))
	waitFor(t, 10*time.Second, "dead by age", func() bool { return stats(t, n).Dead == 1 })
}

// digestOrSingle decodes a webhook body into the notification ids it
// carries.
func carried(t *testing.T, r request) (kind string, ids []string) {
	t.Helper()
	var probe struct {
		Kind  string       `json:"kind"`
		ID    string       `json:"id"`
		Items []DigestItem `json:"items"`
		Count int          `json:"count"`
	}
	if err := json.Unmarshal(r.body, &probe); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	if probe.Kind == KindDigest {
		if probe.Count != len(probe.Items) {
			t.Errorf("digest count %d, items %d", probe.Count, len(probe.Items))
		}
		for _, it := range probe.Items {
			ids = append(ids, it.ID)
		}
		return probe.Kind, ids
	}
	return probe.Kind, []string{probe.ID}
}

func TestRateLimitExcessGoesToDigest(t *testing.T) {
	metatest.Engines(t, testRateLimitExcessGoesToDigest)
}

func testRateLimitExcessGoesToDigest(t *testing.T) {
	opts := testOptions()
	opts.RateWindow = time.Second
	n := newNotifier(t, opts)
	rc, srv := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "limited", Type: TypeWebhook, URL: srv.URL, RateLimit: 2})
	const total = 10
	for i := range total {
		mustNotify(t, n, alertN(fmt.Sprintf("n%02d", i), "high", fmt.Sprintf("rule-%d", i%3)))
	}
	run(t, n)
	waitFor(t, 10*time.Second, "all delivered", func() bool { return stats(t, n).Delivered == total })
	settle(t, n)

	reqs := rc.requests()
	seen := map[string]int{}
	var kinds []string
	for _, r := range reqs {
		kind, ids := carried(t, r)
		kinds = append(kinds, kind)
		if got := r.header.Get("X-Vigil-Event"); got != kind {
			t.Errorf("X-Vigil-Event %q for a %s body", got, kind)
		}
		for _, id := range ids {
			seen[id]++
		}
	}
	if diff := cmp.Diff([]string{"alert", "alert", "digest"}, kinds); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	for i := range total {
		id := fmt.Sprintf("n%02d", i)
		if seen[id] != 1 {
			t.Errorf("notification %s arrived %d times, want 1", id, seen[id])
		}
	}
	// The digest waited for a token: at least half a window (one token)
	// after the second message.
	if len(reqs) == 3 {
		if gap := reqs[2].at.Sub(reqs[1].at); gap < opts.RateWindow/2-20*time.Millisecond {
			t.Errorf("digest came %s after the last single, want about %s", gap, opts.RateWindow/2)
		}
	}
}

func TestDigestMode(t *testing.T) { metatest.Engines(t, testDigestMode) }

func testDigestMode(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	rt := mustCreate(t, n, Route{Name: "daily", Type: TypeWebhook, URL: srv.URL, Secret: "d", Digest: 300 * time.Millisecond})
	run(t, n)
	start := time.Now()
	levels := []string{"high", "low", "high", "critical", "medium"}
	for i, l := range levels {
		mustNotify(t, n, alertN(fmt.Sprintf("d%d", i), l, fmt.Sprintf("rule-%d", i%2)))
	}
	waitFor(t, 10*time.Second, "digest", func() bool { return stats(t, n).Delivered == int64(len(levels)) })
	if el := time.Since(start); el < 280*time.Millisecond {
		t.Errorf("digest sent after %s, want after the 300ms interval", el)
	}
	settle(t, n)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("messages: got %d, want 1 digest", len(reqs))
	}
	r := reqs[0]
	if !Verify("d", r.body, r.header.Get("X-Vigil-Signature")) {
		t.Errorf("digest signature does not verify")
	}
	var d Digest
	if err := json.Unmarshal(r.body, &d); err != nil {
		t.Fatal(err)
	}
	if got, want := r.header.Get("X-Vigil-Delivery"), rt.ID+":"+d.ID; got != want {
		t.Errorf("X-Vigil-Delivery: got %q, want %q", got, want)
	}
	if got := r.header.Get("X-Vigil-Event"); got != "digest" {
		t.Errorf("X-Vigil-Event: got %q, want digest", got)
	}
	if d.Count != 5 || d.Level != "critical" {
		t.Errorf("digest count %d level %q, want 5 critical", d.Count, d.Level)
	}
	if diff := cmp.Diff(map[string]int{"high": 2, "low": 1, "critical": 1, "medium": 1}, d.ByLevel); diff != "" {
		t.Errorf("by_level (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"rule-0": 3, "rule-1": 2}, d.ByRule); diff != "" {
		t.Errorf("by_rule (-want +got):\n%s", diff)
	}
	if len(d.Titles) != digestTitles {
		t.Errorf("titles: got %d, want %d", len(d.Titles), digestTitles)
	}
}

func TestDigestRetryKeepsDeliveryID(t *testing.T) {
	metatest.Engines(t, testDigestRetryKeepsDeliveryID)
}

func testDigestRetryKeepsDeliveryID(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, func(i int, w http.ResponseWriter) int {
		if i == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	mustCreate(t, n, Route{Name: "d", Type: TypeWebhook, URL: srv.URL, Digest: 50 * time.Millisecond})
	mustNotify(t, n, alertN("a", "high", "x"))
	mustNotify(t, n, alertN("b", "high", "x"))
	run(t, n)
	waitFor(t, 10*time.Second, "digest delivered", func() bool { return stats(t, n).Delivered == 2 })
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: got %d, want 2", len(reqs))
	}
	if a, b := reqs[0].header.Get("X-Vigil-Delivery"), reqs[1].header.Get("X-Vigil-Delivery"); a != b {
		t.Errorf("digest delivery id changed on retry: %q then %q", a, b)
	}
}

func TestConcurrentNotify(t *testing.T) { metatest.Engines(t, testConcurrentNotify) }

func testConcurrentNotify(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "a", Type: TypeWebhook, URL: srv.URL})
	mustCreate(t, n, Route{Name: "b", Type: TypeWebhook, URL: srv.URL, MinLevel: "high"})
	run(t, n)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				lvl := "low"
				if i%2 == 0 {
					lvl = "high"
				}
				if err := n.Notify(context.Background(), alertN(fmt.Sprintf("w%d-%d", w, i), lvl, "x")); err != nil {
					t.Errorf("Notify: %v", err)
				}
			}
		}()
	}
	// Route changes while notifying must not race either.
	if _, err := n.ListRoutes(context.Background()); err != nil {
		t.Error(err)
	}
	wg.Wait()
	want := workers*each + workers*each/2
	waitFor(t, 20*time.Second, "all delivered", func() bool { return stats(t, n).Delivered == int64(want) })
	settle(t, n)
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[r.header.Get("X-Vigil-Delivery")]++
	}
	if len(seen) != want {
		t.Errorf("distinct deliveries: got %d, want %d", len(seen), want)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("delivery %s arrived %d times", id, c)
		}
	}
}

func TestSlackPayload(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, srv := newReceiver(t, nil)
	mustCreate(t, n, Route{Name: "slack", Type: TypeSlack, URL: srv.URL + "/services/T/B/X"})
	run(t, n)
	nt := alertN("s1", "critical", "rule-<x>")
	nt.Title = "Brute force & <spray>"
	mustNotify(t, n, nt)
	waitFor(t, 5*time.Second, "slack post", func() bool { return rc.count() == 1 })
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct{ Type, Text string } `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(rc.requests()[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if want := "[CRITICAL] Brute force & <spray>"; p.Text != want {
		t.Errorf("text: got %q, want %q", p.Text, want)
	}
	if len(p.Blocks) < 3 || p.Blocks[0].Type != "header" || p.Blocks[0].Text.Text != nt.Title {
		t.Fatalf("blocks: got %+v, want a header with the title first", p.Blocks)
	}
	var fields []string
	for _, f := range p.Blocks[1].Fields {
		fields = append(fields, f.Text)
	}
	want := []string{"*Level*\ncritical", "*Rule*\nrule-&lt;x&gt;", "*host*\nweb-1", "*source.ip*\n203.0.113.7", "*user*\nroot"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	last := p.Blocks[len(p.Blocks)-1]
	if last.Text == nil || last.Text.Text != "<https://vigil.example/alerts/s1|Open in Vigil>" {
		t.Errorf("link block: got %+v", last)
	}
}

func TestRouteValidate(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		ok    bool
	}{
		{"webhook", Route{Name: "w", Type: "webhook", URL: "https://h.example/x"}, true},
		{"no name", Route{Type: "webhook", URL: "https://h.example/x"}, false},
		{"unknown type", Route{Name: "w", Type: "pager"}, false},
		{"no type", Route{Name: "w"}, false},
		{"ftp url", Route{Name: "w", Type: "webhook", URL: "ftp://h.example/x"}, false},
		{"no host", Route{Name: "w", Type: "slack", URL: "https:///x"}, false},
		{"bad level", Route{Name: "w", Type: "webhook", URL: "http://h", MinLevel: "severe"}, false},
		{"negative rate", Route{Name: "w", Type: "webhook", URL: "http://h", RateLimit: -1}, false},
		{"email", Route{Name: "e", Type: "email", Email: &EmailConfig{Host: "smtp.example", From: "v@example.org", To: []string{"soc@example.org"}}}, true},
		{"email no host", Route{Name: "e", Type: "email", Email: &EmailConfig{From: "v@example.org", To: []string{"soc@example.org"}}}, false},
		{"email no from", Route{Name: "e", Type: "email", Email: &EmailConfig{Host: "smtp.example", To: []string{"soc@example.org"}}}, false},
		{"email no to", Route{Name: "e", Type: "email", Email: &EmailConfig{Host: "smtp.example", From: "v@example.org"}}, false},
		{"email missing", Route{Name: "e", Type: "email"}, false},
		{"syslog", Route{Name: "s", Type: "syslog", Syslog: &SyslogConfig{Addr: "siem:514"}}, true},
		{"syslog bad network", Route{Name: "s", Type: "syslog", Syslog: &SyslogConfig{Addr: "siem:514", Network: "sctp"}}, false},
		{"syslog bad format", Route{Name: "s", Type: "syslog", Syslog: &SyslogConfig{Addr: "siem:514", Format: "leef"}}, false},
		{"syslog no port", Route{Name: "s", Type: "syslog", Syslog: &SyslogConfig{Addr: "siem"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.route
			r.normalize()
			err := r.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate: got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestRouteJSONDigest(t *testing.T) {
	var r Route
	if err := json.Unmarshal([]byte(`{"name":"x","digest":"5m"}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Digest != 5*time.Minute {
		t.Errorf("digest: got %s, want 5m", r.Digest)
	}
	if err := json.Unmarshal([]byte(`{"digest":90}`), &r); err != nil || r.Digest != 90*time.Second {
		t.Errorf("digest seconds: got %s, %v, want 1m30s", r.Digest, err)
	}
	if err := json.Unmarshal([]byte(`{"digest":"soon"}`), &r); err == nil {
		t.Errorf("digest \"soon\": got no error")
	}
	b, _ := json.Marshal(Route{Name: "x", Digest: time.Hour}) // a value, not a pointer
	var back map[string]any
	json.Unmarshal(b, &back)
	if back["digest"] != "1h0m0s" {
		t.Errorf("marshalled digest: got %v, want 1h0m0s", back["digest"])
	}
}

func BenchmarkNotify(b *testing.B) {
	n := newNotifier(b, testOptions())
	mustCreate(b, n, Route{Name: "a", Type: TypeWebhook, URL: "http://127.0.0.1:1/"})
	mustCreate(b, n, Route{Name: "b", Type: TypeWebhook, URL: "http://127.0.0.1:1/", MinLevel: "high"})
	nt := alertN("", "high", "x")
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		nt.ID = fmt.Sprintf("b%d", i)
		if err := n.Notify(ctx, nt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatches(b *testing.B) {
	r := Route{MinLevel: "medium", Tags: []string{"attack.t1059", "attack.t1110"}, Entities: map[string][]string{"source.ip": {"203.0.113.0/24"}}}
	r.normalize()
	nt := alertN("x", "high", "rule")
	b.ReportAllocs()
	for b.Loop() {
		if !r.Matches(&nt) {
			b.Fatal("no match")
		}
	}
}

func TestMetrics(t *testing.T) { metatest.Engines(t, testMetrics) }

func testMetrics(t *testing.T) {
	n := newNotifier(t, testOptions())
	_, srv := newReceiver(t, func(i int, w http.ResponseWriter) int {
		if i == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	rt := mustCreate(t, n, Route{Name: "m", Type: TypeWebhook, URL: srv.URL})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n)
	run(t, n)
	mustNotify(t, n, alertN("m1", "high", "x"))
	mustNotify(t, n, alertN("m2", "high", "x"))
	gather := func() map[string]float64 {
		got := map[string]float64{}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					key += "," + l.GetName() + "=" + l.GetValue()
				}
				if m.Counter != nil {
					got[key] = m.GetCounter().GetValue()
				} else {
					got[key] = m.GetGauge().GetValue()
				}
			}
		}
		return got
	}
	// The outbox row is committed before the delivery counter moves: wait
	// for both, not only the row.
	delivered := "vigil_notify_notifications_total,route=" + rt.ID + ",state=delivered"
	waitFor(t, 10*time.Second, "delivered", func() bool { return stats(t, n).Delivered == 2 && gather()[delivered] == 2 })
	got := gather()
	want := map[string]float64{
		"vigil_notify_notifications_total,route=" + rt.ID + ",state=delivered": 2,
		"vigil_notify_attempt_failures_total,route=" + rt.ID:                   1,
		"vigil_notify_outbox_rows,state=pending":                               0,
		"vigil_notify_outbox_rows,state=delivered":                             2,
		"vigil_notify_outbox_rows,state=dead":                                  0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func BenchmarkNotifyAll100(b *testing.B) {
	n := newNotifier(b, testOptions())
	mustCreate(b, n, Route{Name: "a", Type: TypeWebhook, URL: "http://127.0.0.1:1/"})
	mustCreate(b, n, Route{Name: "b", Type: TypeWebhook, URL: "http://127.0.0.1:1/", MinLevel: "high"})
	batch := make([]Notification, 100)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for j := range batch {
			i++
			batch[j] = alertN(fmt.Sprintf("b%d", i), "high", "x")
		}
		if err := n.NotifyAll(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/notification")
}

// BenchmarkDeliverWebhook measures outbox-to-receiver throughput of one
// route: each op queues 100 notifications and waits until the receiver has
// all of them.
func BenchmarkDeliverWebhook(b *testing.B) {
	n := newNotifier(b, testOptions())
	rc, srv := newReceiver(b, nil)
	mustCreate(b, n, Route{Name: "a", Type: TypeWebhook, URL: srv.URL})
	run(b, n)
	ctx := context.Background()
	batch := make([]Notification, 100)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for j := range batch {
			i++
			batch[j] = alertN(fmt.Sprintf("d%d", i), "high", "x")
		}
		if err := n.NotifyAll(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for rc.count() < i {
			// A benchmark's poll of the receiver, which runs in another
			// goroutine: short, and outside any assertion.
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/notification")
}

func TestReceiverDownThenUp(t *testing.T) {
	addr := freeAddr(t)
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "later", Type: TypeWebhook, URL: "http://" + addr + "/"})
	run(t, n)
	mustNotify(t, n, alertN("late", "high", "x"))
	mustNotify(t, n, alertN("later", "high", "x"))
	attempts := func() int {
		var a int
		n.db.QueryRow(`SELECT attempts FROM notify_outbox WHERE route_id = ? AND notification_id = 'late'`, rt.ID).Scan(&a)
		return a
	}
	waitFor(t, 5*time.Second, "three refused attempts", func() bool { return attempts() >= 3 })
	var lastErr string
	n.db.QueryRow(`SELECT last_error FROM notify_outbox WHERE notification_id = 'late'`).Scan(&lastErr)
	if lastErr == "" {
		t.Errorf("last_error is empty after refused attempts")
	}

	rc := &receiver{}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	waitFor(t, 10*time.Second, "delivery", func() bool { return stats(t, n).Delivered == 2 })
	settle(t, n)
	var got []string
	for _, r := range rc.requests() {
		got = append(got, r.header.Get("X-Vigil-Delivery"))
	}
	if diff := cmp.Diff([]string{rt.ID + ":late", rt.ID + ":later"}, got); diff != "" {
		t.Errorf("deliveries, in order, once each (-want +got):\n%s", diff)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsKeepSecrets(t *testing.T) {
	var logs syncBuffer
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n := newNotifier(t, opts)
	_, srv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusForbidden })
	mustCreate(t, n, Route{Name: "slack", Type: TypeSlack, URL: srv.URL + "/services/T000/B000/XXXXSECRETPATH?token=QUERYSECRET", Secret: "HMACSECRET"})
	run(t, n)
	mustNotify(t, n, alertN("s", "high", "x"))
	waitFor(t, 10*time.Second, "dead", func() bool { return stats(t, n).Dead == 1 })
	out := logs.String()
	if !strings.Contains(out, "403") {
		t.Errorf("logs do not say what failed:\n%s", out)
	}
	for _, secret := range []string{"SECRETPATH", "QUERYSECRET", "HMACSECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %s:\n%s", secret, out)
		}
	}
	var lastErr string
	n.db.QueryRow(`SELECT last_error FROM notify_outbox`).Scan(&lastErr)
	if strings.Contains(lastErr, "SECRETPATH") {
		t.Errorf("last_error contains the URL path: %q", lastErr)
	}
}

func TestDigestFormats(t *testing.T) {
	var items []*Notification
	for i, l := range []string{"low", "critical", "high"} {
		nt := alertN(fmt.Sprintf("i%d", i), l, "rule-a")
		items = append(items, &nt)
	}
	d := buildDigest("digest-1", &Route{Name: "r"}, items, time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC))
	m := &message{route: &Route{Type: TypeEmail}, event: KindDigest, deliveryID: "r1:digest-1", d: d}

	cef := formatCEF(m, "1")
	if want := "CEF:0|Vigil|Vigil|1|digest|Vigil digest: 3 notifications|10|"; !strings.HasPrefix(cef, want) {
		t.Errorf("CEF digest: got %q, want prefix %q", cef, want)
	}
	if !strings.Contains(cef, "cnt=3") {
		t.Errorf("CEF digest lacks cnt=3: %q", cef)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(emailMessage(m, &mail.Address{Address: "a@example.org"}, []string{"b@example.org"}, d.Time, "h"))))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Header.Get("Subject"), "[Vigil] critical: Digest: 3 notifications"; got != want {
		t.Errorf("Subject: got %q, want %q", got, want)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	for _, want := range []string{"1 critical, 1 high, 1 low", "- [critical] Alert i1 (rule-a)"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("email digest body lacks %q:\n%s", want, body)
		}
	}
	sp := slackPayload(m)
	if got, want := sp["text"], "[CRITICAL] Vigil digest: 3 notifications"; got != want {
		t.Errorf("slack text: got %q, want %q", got, want)
	}
	line := formatSyslog(m, "rfc5424", "1", "h")
	if !strings.Contains(line, `[vigil@32473 id="digest-1" level="critical" count="3" delivery="r1:digest-1"]`) {
		t.Errorf("rfc5424 digest: %q", line)
	}
}
