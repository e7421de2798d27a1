package vlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// victoriaLogs starts a real victoria-logs server (.ci/run installs it)
// with flags (default: a retention of a century) and returns its URL.
func victoriaLogs(t *testing.T, flags ...string) string {
	if len(flags) == 0 {
		flags = []string{"-retentionPeriod=100y"}
	}
	return sharedtest.StartVictoriaLogs(t, flags...)
}

func openRemote(t *testing.T, o RemoteOptions) *Remote {
	t.Helper()
	if o.URL == "" {
		o.URL = victoriaLogs(t)
	}
	if o.Retention == 0 {
		o.Retention = 100 * 365 * 24 * time.Hour
	}
	r, err := OpenRemote(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRemoteConformance runs the query language's conformance suite
// against a real VictoriaLogs server: the same answers as the embedded
// engine and the reference, row for row.
func TestRemoteConformance(t *testing.T) {
	storetest.Conformance(t, openRemote(t, RemoteOptions{}))
}

// TestRemoteAppend: events outside the server's range are refused with a
// clear error, not sent (the server would drop them silently); the others
// are searchable as soon as Append returns; Stats counts them.
func TestRemoteAppend(t *testing.T) {
	ctx := context.Background()
	r := openRemote(t, RemoteOptions{})
	now := time.Now().UTC()
	var evs []*event.Event
	for i := range 5 {
		ev := &event.Event{Time: now.Add(-time.Duration(i) * time.Minute)}
		ev.SetString("message", fmt.Sprintf("remote append %d", i))
		ev.SetString("host.name", "h1")
		evs = append(evs, ev)
	}
	future := &event.Event{Time: now.Add(72 * time.Hour)}
	future.SetString("message", "remote append future")
	err := r.Append(ctx, append(evs, future))
	var pe *store.PartialError
	if !errors.As(err, &pe) || !errors.Is(err, store.ErrOutOfRange) || len(pe.Unstored) != 1 {
		t.Fatalf("append with a future event: got %v, want a PartialError of 1 wrapping ErrOutOfRange", err)
	}
	res, err := r.Search(ctx, store.SearchRequest{Query: mustParse(t, `"remote append"`), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 5 || len(res.Events) != 5 {
		t.Errorf("search right after append: total %d, %d events; want 5", res.Total, len(res.Events))
	}
	st, err := r.Stats(ctx)
	if err != nil || st.Events != 5 {
		t.Errorf("stats: %+v, %v; want 5 events", st, err)
	}
	if _, err := OpenRemote(ctx, RemoteOptions{URL: "ftp://x"}); err == nil {
		t.Error("an ftp URL: got no error")
	}
	if _, err := OpenRemote(ctx, RemoteOptions{URL: "http://127.0.0.1:1"}); err == nil {
		t.Error("a server that does not answer: got no error")
	}
	if _, err := OpenRemote(ctx, RemoteOptions{URL: "http://vigil:s3cret@127.0.0.1:1"}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a server that does not answer, with a password in its URL: got %v, want an error without the password", err)
	}
}

// The store reads the server's retention from its flags, and refuses what
// the server would drop.
func TestRemoteReadsServerRetention(t *testing.T) {
	ctx := context.Background()
	r, err := OpenRemote(ctx, RemoteOptions{URL: victoriaLogs(t, "-retentionPeriod=30d", "-futureRetention=3d")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.o.Retention != 30*24*time.Hour || r.o.FutureSkew != 3*24*time.Hour {
		t.Fatalf("got retention %v, future %v; want 720h, 72h from the server's flags", r.o.Retention, r.o.FutureSkew)
	}
	old := &event.Event{Time: time.Now().Add(-40 * 24 * time.Hour)}
	old.SetString("message", "too old")
	if err := r.Append(ctx, []*event.Event{old}); !errors.Is(err, store.ErrOutOfRange) {
		t.Errorf("an event older than the server's retention: got %v, want ErrOutOfRange", err)
	}
}

func TestParseFlagDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true}, {"100y", 100 * 365 * 24 * time.Hour, true}, {"2w", 14 * 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true}, {"1", 31 * 24 * time.Hour, true}, {"1.5d", 36 * time.Hour, true},
		{"1000000y", 200 * 365 * 24 * time.Hour, true}, {"", 0, false}, {"d", 0, false}, {"5x", 0, false}, {"-1d", 0, false},
	} {
		got, err := parseFlagDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseFlagDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseFlagDuration(f *testing.F) {
	for _, s := range []string{"7d", "100y", "1", "1.5w", "", "9e99y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseFlagDuration(s)
		if err == nil && (d < 0 || d > 200*365*24*time.Hour) {
			t.Fatalf("parseFlagDuration(%q) = %v: outside 0..200y", s, d)
		}
	})
}

// TestRemoteClusterConformance runs the conformance suite against a
// VictoriaLogs cluster: two storage nodes behind a front (the same
// victoria-logs program with -storageNode), through which Vigil inserts,
// flushes and selects.
func TestRemoteClusterConformance(t *testing.T) {
	n1 := strings.TrimPrefix(victoriaLogs(t), "http://")
	n2 := strings.TrimPrefix(victoriaLogs(t), "http://")
	front := victoriaLogs(t, "-storageNode="+n1+","+n2)
	storetest.Conformance(t, openRemote(t, RemoteOptions{URL: front, Retention: 100 * 365 * 24 * time.Hour}))
}

// Concurrent Appends share force_flush calls, and each returns only after
// a flush that began once its rows were taken: a server (a stand-in
// whose flush is slow) sees fewer flushes than Appends, and every insert
// done before the last flush began.
func TestRemoteSharedFlush(t *testing.T) {
	var mu sync.Mutex
	inserted, flushes, coveredAtLastFlush := 0, 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
		case "/insert/jsonline":
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			inserted++
			mu.Unlock()
		case "/internal/force_flush":
			mu.Lock()
			flushes++
			coveredAtLastFlush = inserted
			mu.Unlock()
			time.Sleep(30 * time.Millisecond) // a flush that takes a while
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	r, err := OpenRemote(ctx, RemoteOptions{URL: srv.URL, Retention: 24 * time.Hour, FutureSkew: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const appends = 16
	var wg sync.WaitGroup
	for i := range appends {
		wg.Go(func() {
			ev := &event.Event{Time: time.Now()}
			ev.SetString("message", fmt.Sprintf("shared flush %d", i))
			if err := r.Append(ctx, []*event.Event{ev}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if flushes >= appends || flushes == 0 {
		t.Errorf("%d flushes for %d concurrent appends, want fewer (shared)", flushes, appends)
	}
	if coveredAtLastFlush != appends {
		t.Errorf("the last flush began after %d of %d inserts, want all", coveredAtLastFlush, appends)
	}
}
