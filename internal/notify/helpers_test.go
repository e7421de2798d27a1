package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// openDB opens (or reopens) a SQLite file the way the server opens its meta
// database; in a PostgreSQL subtest (metatest.Engines), the schema path
// names.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	if metatest.EngineOf(t) == metatest.Postgres {
		return metatest.OpenPath(t, path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	if _, _, err := meta.Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return db
}

func testOptions() Options {
	return Options{
		BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond,
		Version:    "1.2.3",
		Hostname:   "vigil-test",
		Logger:     slog.New(slog.DiscardHandler),
		// The tests' receivers listen on loopback, which the egress
		// policy refuses unless an admin allows it: allowed here the
		// documented way (egress.allow).
		Egress: egress.MustNew("127.0.0.0/8", "::1/128"),
	}
}

// newNotifier opens a Notifier on a fresh database file and runs it until
// the test ends.
func newNotifier(t testing.TB, opts Options) *Notifier {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "meta.db"))
	t.Cleanup(func() { db.Close() })
	n, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return n
}

func run(t testing.TB, n *Notifier) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(context.Background()); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Wait until Run has registered, so Close stops it.
	waitFor(t, 5*time.Second, "Run to start", func() bool {
		n.runMu.Lock()
		defer n.runMu.Unlock()
		return n.cancel != nil
	})
	t.Cleanup(func() {
		n.Close()
		<-done
	})
}

// settle stops the notifier's delivery (Close returns once every delivery
// in flight has ended) and checks that nothing is left to deliver: what a
// receiver got is then final. A test that counts deliveries after waiting
// for some settles instead of sleeping, which could only hope that a
// duplicate or a late retry would have come within the sleep; a
// duplicate or a retry still queued is a pending row here.
func settle(t testing.TB, n *Notifier) {
	t.Helper()
	n.Close()
	if st := stats(t, n); st.Pending != 0 {
		t.Fatalf("after the deliveries: %d notifications pending, want 0", st.Pending)
	}
}

// waitFor polls cond (a state of the notifier's database or a receiver,
// which changes from other goroutines) until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a webhook endpoint that records requests and answers with
// the status its respond function picks for the nth request (1-based).
type receiver struct {
	mu      sync.Mutex
	reqs    []request
	respond func(n int, w http.ResponseWriter) int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, request{header: r.Header.Clone(), body: body, at: time.Now()})
	nth := len(rc.reqs)
	respond := rc.respond
	rc.mu.Unlock()
	code := http.StatusOK
	if respond != nil {
		code = respond(nth, w)
	}
	w.WriteHeader(code)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter) int) (*receiver, *httptest.Server) {
	rc := &receiver{respond: respond}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func mustCreate(t testing.TB, n *Notifier, r Route) Route {
	t.Helper()
	r.Enabled = true
	got, err := n.CreateRoute(context.Background(), r)
	if err != nil {
		t.Fatalf("CreateRoute: %v", err)
	}
	return got
}

func alertN(id, level, rule string) Notification {
	return Notification{
		ID: id, Kind: KindAlert, Level: level, Title: "Alert " + id, RuleID: rule,
		Summary:  "summary of " + id,
		Tags:     []string{"attack.credential_access", "attack.t1110.001"},
		Entities: map[string][]string{"host": {"web-1"}, "user": {"root"}, "source.ip": {"203.0.113.7"}},
		Time:     time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC),
		Link:     "https://vigil.example/alerts/" + id,
		Data:     json.RawMessage(`{"id":"` + id + `"}`),
	}
}

func mustNotify(t testing.TB, n *Notifier, nt Notification) {
	t.Helper()
	if err := n.Notify(context.Background(), nt); err != nil {
		t.Fatalf("Notify(%s): %v", nt.ID, err)
	}
}

func stats(t testing.TB, n *Notifier) Stats {
	t.Helper()
	st, err := n.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}
