package searchlimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

// fakeStore answers searches with search.
type fakeStore struct {
	search func(ctx context.Context, req store.SearchRequest) (*store.Result, error)
}

func (f *fakeStore) Append(context.Context, []*event.Event) error { return nil }
func (f *fakeStore) Search(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
	return f.search(ctx, req)
}
func (f *fakeStore) Stats(context.Context) (store.Stats, error) { return store.Stats{}, nil }
func (f *fakeStore) Close() error                               { return nil }

// gate is a store whose searches run until released.
type gate struct {
	fakeStore
	release chan struct{}
}

func newGate() *gate {
	g := &gate{release: make(chan struct{})}
	g.search = func(ctx context.Context, _ store.SearchRequest) (*store.Result, error) {
		select {
		case <-g.release:
			return &store.Result{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g
}

type outcome struct {
	user string
	err  error
}

// start runs a search in the background and reports its outcome.
func start(l *Limiter, st store.Store, user string, out chan<- outcome) {
	go func() {
		_, err := l.Search(context.Background(), st, user, store.SearchRequest{})
		out <- outcome{user, err}
	}()
}

func TestPerUserLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Limits{MaxConcurrent: 4, MaxPerUser: 2, QueueWait: 2 * time.Second})
		g := newGate()
		out := make(chan outcome, 8)
		start(l, g, "alice", out)
		start(l, g, "alice", out)
		synctest.Wait()
		if got := l.Running(); got != 2 {
			t.Fatalf("running: got %d, want 2", got)
		}
		// Alice's third waits, Bob's runs at once.
		start(l, g, "alice", out)
		start(l, g, "bob", out)
		synctest.Wait()
		if got := l.Running(); got != 3 {
			t.Fatalf("running: got %d, want 3 (alice 2, bob 1)", got)
		}
		begin := time.Now()
		o := <-out // the fake clock moves only when every goroutine waits
		if waited := time.Since(begin); waited != 2*time.Second {
			t.Errorf("refused after %v, want the queue wait 2s", waited)
		}
		be, ok := errors.AsType[*BusyError](o.err)
		if !ok || o.user != "alice" || !be.PerUser || be.Limit != 2 {
			t.Fatalf("got %s: %v, want alice refused by the per-user limit 2", o.user, o.err)
		}
		if want := "too many searches of yours running (limit 2 per user): retry in 2 s"; be.Error() != want {
			t.Errorf("message: got %q, want %q", be.Error(), want)
		}
		close(g.release)
		for range 3 {
			if o := <-out; o.err != nil {
				t.Errorf("%s: %v", o.user, o.err)
			}
		}
		if got := testutil.ToFloat64(l.refused.WithLabelValues("busy")); got != 1 {
			t.Errorf("refused busy: got %v, want 1", got)
		}
	})
}

func TestOverallLimitWaitsForATurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Limits{MaxConcurrent: 2, MaxPerUser: 2, QueueWait: 2 * time.Second})
		slow, fast := newGate(), newGate()
		out := make(chan outcome, 8)
		start(l, slow, "a", out)
		start(l, fast, "b", out)
		synctest.Wait()
		start(l, slow, "c", out) // waits: two running in all
		synctest.Wait()
		if got := l.Running(); got != 2 {
			t.Fatalf("running: got %d, want 2", got)
		}
		time.Sleep(time.Second) // fake time: c has waited half its wait
		close(fast.release)     // b ends: c gets its turn
		if o := <-out; o.user != "b" || o.err != nil {
			t.Fatalf("got %s: %v, want b done", o.user, o.err)
		}
		synctest.Wait()
		if got := l.Running(); got != 2 {
			t.Fatalf("running: got %d, want 2 (a and c)", got)
		}
		close(slow.release)
		for range 2 {
			if o := <-out; o.err != nil {
				t.Errorf("%s: %v", o.user, o.err)
			}
		}
		// Past the wait with nothing ending: refused, naming the overall
		// bound.
		g := newGate()
		start(l, g, "a", out)
		start(l, g, "b", out)
		synctest.Wait()
		start(l, g, "c", out)
		o := <-out
		be, ok := errors.AsType[*BusyError](o.err)
		if !ok || o.user != "c" || be.PerUser || be.Limit != 2 {
			t.Fatalf("got %s: %v, want c refused by the overall limit 2", o.user, o.err)
		}
		close(g.release)
		<-out
		<-out
	})
}

func TestQueueBounds(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		queued int // searches that wait before the one that is refused at once
	}{
		{"queue full", Limits{MaxConcurrent: 1, MaxPerUser: 1, QueueWait: time.Minute, MaxQueued: 2}, 2},
		{"no waiting", Limits{MaxConcurrent: 1, MaxPerUser: 1, QueueWait: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := New(tt.limits)
				g := newGate()
				out := make(chan outcome, 8)
				start(l, g, "u0", out)
				synctest.Wait()
				for i := range tt.queued {
					start(l, g, fmt.Sprintf("w%d", i), out)
				}
				synctest.Wait()
				begin := time.Now()
				_, err := l.Search(context.Background(), g, "late", store.SearchRequest{})
				if _, ok := errors.AsType[*BusyError](err); !ok {
					t.Fatalf("got %v, want a *BusyError", err)
				}
				if d := time.Since(begin); d != 0 {
					t.Errorf("refused after %v, want at once", d)
				}
				close(g.release)
				for range 1 + tt.queued {
					<-out
				}
			})
		})
	}
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Limits{Timeout: 30 * time.Second})
		g := newGate()
		begin := time.Now()
		_, err := l.Search(context.Background(), g, "u", store.SearchRequest{})
		te, ok := errors.AsType[*TimeoutError](err)
		if !ok {
			t.Fatalf("got %v, want a *TimeoutError", err)
		}
		if d := time.Since(begin); d != 30*time.Second {
			t.Errorf("stopped after %v, want 30s", d)
		}
		if want := "query exceeded 30 s: narrow the time range or the filter, or raise search.timeout"; te.Error() != want {
			t.Errorf("message: got %q, want %q", te.Error(), want)
		}
		if l.Running() != 0 {
			t.Errorf("running after the timeout: %d, want 0", l.Running())
		}
		// The caller going away is not a timeout.
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel) // fake time: the caller gives up
		_, err = l.Search(ctx, g, "u", store.SearchRequest{})
		if _, ok := errors.AsType[*TimeoutError](err); ok || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: got %v, want context.Canceled", err)
		}
		if got := testutil.ToFloat64(l.refused.WithLabelValues("timeout")); got != 1 {
			t.Errorf("refused timeout: got %v, want 1", got)
		}
	})
}

func TestRequestBounds(t *testing.T) {
	var mu sync.Mutex
	var got []store.SearchRequest
	st := &fakeStore{search: func(_ context.Context, req store.SearchRequest) (*store.Result, error) {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		return &store.Result{}, nil
	}}
	l := New(Limits{MaxGroups: 50, MaxBytes: 1 << 20})
	for _, req := range []store.SearchRequest{{}, {MaxGroups: 7, MaxBytes: -1}} {
		if _, err := l.Search(context.Background(), st, "u", req); err != nil {
			t.Fatal(err)
		}
	}
	if got[0].MaxGroups != 50 || got[0].MaxBytes != 1<<20 {
		t.Errorf("unset bounds: got %d groups, %d bytes; want 50, 1048576", got[0].MaxGroups, got[0].MaxBytes)
	}
	if got[1].MaxGroups != 7 || got[1].MaxBytes != -1 {
		t.Errorf("set bounds: got %d groups, %d bytes; want 7, -1", got[1].MaxGroups, got[1].MaxBytes)
	}
	d := New(Limits{}).Limits()
	if d != Defaults() {
		t.Errorf("zero limits: got %+v, want the defaults %+v", d, Defaults())
	}
}

func TestPublic(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
		retry  int
	}{
		{"busy", &BusyError{Limit: 4, RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, "too many searches running (limit 4): retry in 2 s", 2},
		{"timeout", &TimeoutError{Timeout: 1500 * time.Millisecond}, http.StatusServiceUnavailable, "query exceeded 1.5 s: narrow the time range or the filter, or raise search.timeout", 0},
		{"groups", fmt.Errorf("searching segment %q: %w", "/var/lib/vigil/x.db", &store.LimitError{Err: store.ErrTooManyGroups, Limit: 10000}),
			http.StatusUnprocessableEntity, "too many groups (limit 10000): narrow the query or raise search.max_groups", 0},
		{"memory", &store.LimitError{Err: store.ErrMemoryBudget, Limit: 64 << 20},
			http.StatusUnprocessableEntity, "query memory budget exceeded (limit 64 MiB): narrow the query or raise search.max_query_memory", 0},
		{"bad request", fmt.Errorf("limit 5: %w", store.ErrBadRequest), http.StatusBadRequest, "limit 5: bad search request", 0},
		{"other", errors.New(`opening segment "/var/lib/vigil/events/x.db": boom`), http.StatusInternalServerError, "search failed (details in the server log)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, retry := Public(tt.err)
			if status != tt.status || msg != tt.msg || retry != tt.retry {
				t.Errorf("got %d %q retry %d, want %d %q retry %d", status, msg, retry, tt.status, tt.msg, tt.retry)
			}
			if strings.Contains(msg, "/var/lib") {
				t.Errorf("message %q names a path", msg)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	l := New(Limits{})
	reg := prometheus.NewRegistry()
	if err := l.Register(reg); err != nil {
		t.Fatal(err)
	}
	st := &fakeStore{search: func(context.Context, store.SearchRequest) (*store.Result, error) {
		return nil, &store.LimitError{Err: store.ErrTooManyGroups, Limit: 1}
	}}
	if _, err := l.Search(context.Background(), st, "u", store.SearchRequest{}); !errors.Is(err, store.ErrTooManyGroups) {
		t.Fatalf("got %v, want ErrTooManyGroups", err)
	}
	n, err := testutil.GatherAndCount(reg, "vigil_search_refused_total", "vigil_search_running")
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("got %d series, want 5 (4 reasons and running)", n)
	}
	if got := testutil.ToFloat64(l.refused.WithLabelValues("groups")); got != 1 {
		t.Errorf("refused groups: got %v, want 1", got)
	}
}

func TestSearchReservesItsMemoryBudget(t *testing.T) {
	var held, during int64
	st := &fakeStore{search: func(_ context.Context, req store.SearchRequest) (*store.Result, error) {
		during = held
		return &store.Result{}, nil
	}}
	l := New(Limits{MaxBytes: 64 << 20})
	l.ReserveWith(func(n int64) func() {
		held += n
		return func() { held -= n }
	})
	for _, tc := range []struct {
		req  store.SearchRequest
		want int64
	}{{store.SearchRequest{}, 64 << 20}, {store.SearchRequest{MaxBytes: 8 << 20}, 8 << 20}} {
		if _, err := l.Search(context.Background(), st, "u", tc.req); err != nil {
			t.Fatal(err)
		}
		if during != tc.want {
			t.Errorf("reserved during the search: got %d, want %d", during, tc.want)
		}
		if held != 0 {
			t.Errorf("reserved after the search: got %d, want 0", held)
		}
	}
}
