package httpin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/store"
)

// fullStore refuses appends as a full disk does, with the file path the
// SQLite store puts in its errors, while full is set; it records what it
// stores.
type fullStore struct {
	full  atomic.Bool
	mu    sync.Mutex
	raws  []string
	block chan struct{} // when set, Append waits for it
}

const secretPath = "/var/lib/vigil-secret-dir/events/2026-12-07/1-000000.db"

func (s *fullStore) Append(ctx context.Context, evs []*event.Event) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.full.Load() {
		return fmt.Errorf("appending %d events: %w: segment %q: commit: database or disk is full (13)", len(evs), store.ErrDiskFull, secretPath)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.raws = append(s.raws, ev.Raw)
	}
	return nil
}

func (s *fullStore) count(raw string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.raws {
		if r == raw {
			n++
		}
	}
	return n
}

// TestDiskFullAnswers: with the store's disk full, every ingest endpoint
// answers 503 with Retry-After, the body says the disk is full and shows
// no server path, and nothing of the refused batch is stored; the client's
// retry once the disk has room stores each event once. In testing/synctest
// bubbles: the pipeline's probe and the handler's wait are fake time.
func TestDiskFullAnswers(t *testing.T) {
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		wantText         string // in the 503 body
	}{
		{"native", "/api/v1/ingest", `{"n":"native"}` + "\n" + `{"n":"native-2"}`, bearer("good"), "disk full"},
		{"bulk", "/logs/_bulk", `{"index":{}}` + "\n" + `{"n":"bulk"}` + "\n", bearer("good"), "disk full"},
		{"hec", "/services/collector/event", `{"event":"hec"}`, map[string]string{"Authorization": "Splunk good"}, "Server is busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testDiskFullAnswers(t, tt.path, tt.body, tt.hdr, tt.wantText) })
		})
	}
}

func testDiskFullAnswers(t *testing.T, path, reqBody string, hdr map[string]string, wantText string) {
	st := &fullStore{}
	st.full.Store(true)
	p := pipeline.New(pipeline.Config{QueueSize: 1000, Workers: 1, Writers: 2, BatchSize: 10, FlushInterval: time.Millisecond}, textParser{}, st, nil, nil)
	defer p.Close(context.Background())
	srv, _ := newTestHandler(Config{WaitTimeout: 5 * time.Second}, p)
	// The first request reaches the store and is refused; the
	// next ones are refused before it.
	var wait time.Duration
	for i := range 3 {
		status, h, body := serve(srv, "POST", path, []byte(reqBody), hdr)
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("request %d with the disk full: got %d Retry-After %q (%s), want 503 with Retry-After", i, status, h.Get("Retry-After"), body)
		}
		wait = retryAfter(t, h)
		if !strings.Contains(string(body), wantText) {
			t.Errorf("request %d: body %s does not say %q", i, body, wantText)
		}
		for _, leak := range []string{"/var/lib", "1-000000.db", "(13)"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("request %d: body %s shows %q", i, body, leak)
			}
		}
	}
	if got := p.StoreError(); !errors.Is(got, store.ErrDiskFull) {
		t.Errorf("pipeline store error: got %v, want ErrDiskFull", got)
	}
	st.mu.Lock()
	stored := len(st.raws)
	st.mu.Unlock()
	if stored != 0 {
		t.Fatalf("stored %d events of refused requests, want 0", stored)
	}
	// Space freed: the client's retry, after Retry-After (by which
	// time the pipeline's probe has found room), goes through and
	// stores one copy.
	st.full.Store(false)
	time.Sleep(wait) // fake time: the client honours Retry-After
	if status, _, body := serve(srv, "POST", path, []byte(reqBody), hdr); status != http.StatusOK {
		t.Fatalf("after freeing space and Retry-After: got %d (%s), want 200", status, body)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	seen := map[string]int{}
	for _, r := range st.raws {
		seen[r]++
	}
	for r, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times, want once", r, n)
		}
	}
	if len(seen) == 0 {
		t.Error("nothing stored after the retry")
	}
}

// TestWaitTimeoutWithdraws: a request whose batch cannot reach the store
// within WaitTimeout is answered 503 and its batch is withdrawn: when the
// store frees up, it is not stored behind the client's back (a retry
// would duplicate it).
func TestWaitTimeoutWithdraws(t *testing.T) { synctest.Test(t, testWaitTimeoutWithdraws) }

func testWaitTimeoutWithdraws(t *testing.T) {
	st := &fullStore{block: make(chan struct{})}
	p := pipeline.New(pipeline.Config{QueueSize: 1000, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, textParser{}, st, nil, nil)
	defer p.Close(context.Background())
	const wait = 300 * time.Millisecond
	srv, _ := newTestHandler(Config{WaitTimeout: wait}, p)
	// The first request takes the only writer, which waits in Append.
	first := make(chan int, 1)
	go func() {
		status, _, _ := serve(srv, "POST", "/api/v1/ingest", []byte(`{"n":"first"}`), bearer("good"))
		first <- status
	}()
	synctest.Wait()
	if p.QueueDepth() == 0 {
		t.Fatal("the first request's batch is not queued")
	}
	start := time.Now()
	status, _, body := serve(srv, "POST", "/api/v1/ingest", []byte(`{"n":"second"}`), bearer("good"))
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), errWaitTimeout.Error()) {
		t.Fatalf("queued behind a stuck store: got %d (%s), want 503 %q", status, body, errWaitTimeout)
	}
	if took := time.Since(start); took != wait {
		t.Errorf("answered after %v, want the wait timeout %v", took, wait)
	}
	close(st.block)
	if got := <-first; got != http.StatusOK && got != http.StatusServiceUnavailable {
		t.Errorf("first request: got %d, want 200 (stored after the store freed up) or 503", got)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := st.count(`{"n":"second"}`); n != 0 {
		t.Errorf("the withdrawn batch was stored %d times, want 0", n)
	}
}
