package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/metrics"
)

// lineParser stores the message text; "bad" lines get the parse_error tag.
type lineParser struct{}

func (lineParser) Parse(r *ingest.Raw, ev *event.Event) {
	ev.Input = r.Input
	ev.Received = r.Received
	ev.Raw = string(r.Data)
	ev.SetString(event.FieldMessage, ev.Raw)
	if ev.Raw == "bad" {
		ev.AddTag(event.TagParseError)
	}
}

// memStore records events; block, when set, holds Append until closed.
type memStore struct {
	mu    sync.Mutex
	msgs  []string
	block chan struct{}
	fail  atomic.Int32 // fail this many Appends
	calls atomic.Int32
}

func (s *memStore) Append(ctx context.Context, evs []*event.Event) error {
	s.calls.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail.Load() > 0 {
		s.fail.Add(-1)
		return errors.New("disk on fire")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.msgs = append(s.msgs, e.Raw)
	}
	return nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func raws(prefix string, n int) []ingest.Raw {
	out := make([]ingest.Raw, n)
	for i := range out {
		out[i] = ingest.Raw{Data: []byte(prefix + strconv.Itoa(i)), Input: "test", Received: time.Now()}
	}
	return out
}

func TestEnqueueDrainsEverything(t *testing.T) {
	st := &memStore{}
	p := New(Config{QueueSize: 100, Workers: 3, Writers: 2, BatchSize: 37, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	var wg sync.WaitGroup
	const producers, per = 8, 500
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i += 10 {
				if err := p.Enqueue(context.Background(), raws(fmt.Sprintf("p%d-%d-", g, i), 10)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := st.count(), producers*per; got != want {
		t.Fatalf("stored %d events, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, m := range st.msgs {
		if seen[m] {
			t.Fatalf("event %q stored twice", m)
		}
		seen[m] = true
	}
	if d := p.QueueDepth(); d != 0 {
		t.Errorf("queue depth after close = %d, want 0", d)
	}
}

func TestOfferDoneAfterDurable(t *testing.T) {
	st := &memStore{block: make(chan struct{})}
	p := New(Config{QueueSize: 10, Workers: 1, Writers: 1, BatchSize: 100, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	done := make(chan error, 1)
	if err := p.Offer(raws("a", 5), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("done(%v) called before the store committed", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The queue holds 5 of 10 places until the batch is stored.
	if err := p.Offer(raws("b", 6), nil); !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Offer over capacity: got %v, want ErrFull", err)
	}
	close(st.block)
	if err := <-done; err != nil {
		t.Fatalf("done: %v", err)
	}
	if got := st.count(); got != 5 {
		t.Fatalf("stored %d, want 5", got)
	}
	if err := p.Offer(raws("b", 6), nil); err != nil {
		t.Fatalf("Offer after drain: %v", err)
	}
	p.Close(context.Background())
}

func TestEnqueueBlocksWhenFull(t *testing.T) {
	st := &memStore{block: make(chan struct{})}
	p := New(Config{QueueSize: 4, Workers: 1, Writers: 1, BatchSize: 1, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	if err := p.Enqueue(context.Background(), raws("x", 4)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Enqueue(ctx, raws("y", 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue on full queue: got %v, want deadline exceeded", err)
	}
	unblocked := make(chan error, 1)
	go func() { unblocked <- p.Enqueue(context.Background(), raws("z", 1)) }()
	close(st.block)
	select {
	case err := <-unblocked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Enqueue still blocked after the store drained")
	}
	p.Close(context.Background())
	if got := st.count(); got != 5 {
		t.Fatalf("stored %d, want 5", got)
	}
}

func TestClosedRefuses(t *testing.T) {
	p := New(Config{}, lineParser{}, &memStore{}, nil, nil)
	p.Close(context.Background())
	if err := p.Enqueue(context.Background(), raws("a", 1)); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("Enqueue after Close: got %v, want ErrClosed", err)
	}
	if err := p.Offer(raws("a", 1), nil); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("Offer after Close: got %v, want ErrClosed", err)
	}
}

func TestStoreFailureReportedAndCounted(t *testing.T) {
	st := &memStore{}
	st.fail.Store(100)
	m := metrics.New()
	p := New(Config{QueueSize: 10, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond, StoreRetries: 2}, lineParser{}, st, m, nil)
	done := make(chan error, 1)
	p.Offer(raws("a", 3), func(err error) { done <- err })
	if err := <-done; err == nil {
		t.Fatal("done(nil) for a batch the store refused")
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("store_error")); got != 3 {
		t.Errorf("dropped = %v, want 3", got)
	}
	if got := st.calls.Load(); got != 3 {
		t.Errorf("store attempts = %d, want 3 (1 + 2 retries)", got)
	}
	p.Close(context.Background())
}

func TestRetryRecovers(t *testing.T) {
	st := &memStore{}
	st.fail.Store(2)
	p := New(Config{QueueSize: 10, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond, StoreRetries: 3}, lineParser{}, st, nil, nil)
	done := make(chan error, 1)
	p.Offer(raws("a", 3), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("done(%v) although the third attempt succeeded", err)
	}
	p.Close(context.Background())
}

func TestParseErrorsCounted(t *testing.T) {
	m := metrics.New()
	st := &memStore{}
	p := New(Config{}, lineParser{}, st, m, nil)
	p.Enqueue(context.Background(), []ingest.Raw{{Data: []byte("bad"), Input: "syslog-tcp"}, {Data: []byte("good"), Input: "syslog-tcp"}})
	p.Close(context.Background())
	if got := testutil.ToFloat64(m.ParseErrors.WithLabelValues("syslog-tcp")); got != 1 {
		t.Errorf("parse errors = %v, want 1", got)
	}
	if got := st.count(); got != 2 {
		t.Errorf("stored %d, want 2 (parse errors are stored too)", got)
	}
}

type countingDetector struct{ n atomic.Int64 }

func (d *countingDetector) Detect(*event.Event) { d.n.Add(1) }

func TestDetectorSeesEveryEvent(t *testing.T) {
	d := &countingDetector{}
	p := New(Config{Workers: 2}, lineParser{}, &memStore{}, nil, nil)
	p.SetDetector(d)
	for range 10 {
		p.Enqueue(context.Background(), raws("e", 100))
	}
	p.Close(context.Background())
	if got := d.n.Load(); got != 1000 {
		t.Errorf("detector saw %d events, want 1000", got)
	}
}

func TestCloseDeadline(t *testing.T) {
	st := &memStore{block: make(chan struct{})}
	p := New(Config{FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	p.Enqueue(context.Background(), raws("a", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck store: got %v, want deadline exceeded", err)
	}
}

type nopStore struct{}

func (nopStore) Append(context.Context, []*event.Event) error { return nil }

func BenchmarkPipeline(b *testing.B) {
	p := New(Config{QueueSize: 1 << 16, BatchSize: 8192}, lineParser{}, nopStore{}, nil, nil)
	batch := raws("Nov 22 04:16:49 host sshd[123]: Failed password for root from 10.0.0.1 port 22 ssh2 #", 512)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		msgs := make([]ingest.Raw, len(batch))
		copy(msgs, batch)
		p.Enqueue(context.Background(), msgs)
		n += len(msgs)
	}
	p.Close(context.Background())
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
