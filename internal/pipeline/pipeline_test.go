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

// TestStoreFailsThenRecovers: a store that refuses several batches in a
// row loses nothing; every event is stored once, and none is counted as
// dropped.
func TestStoreFailsThenRecovers(t *testing.T) {
	st := &memStore{}
	st.fail.Store(4)
	m := metrics.New()
	p := New(Config{QueueSize: 64, Workers: 2, Writers: 2, BatchSize: 16, FlushInterval: time.Millisecond}, lineParser{}, st, m, nil)
	var wg sync.WaitGroup
	const producers, per = 4, 200
	for g := range producers {
		wg.Go(func() {
			for i := 0; i < per; i += 10 {
				if err := p.Enqueue(context.Background(), raws(fmt.Sprintf("p%d-%d-", g, i), 10)); err != nil {
					t.Error(err)
					return
				}
			}
		})
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
	if got := st.fail.Load(); got != 0 {
		t.Errorf("store still had %d failures to give, want all 4 used", got)
	}
	if n := testutil.CollectAndCount(m.Dropped); n != 0 {
		t.Errorf("got %d dropped-event series, want none", n)
	}
}

// gatedStore refuses every Append until ok is closed.
type gatedStore struct {
	memStore
	ok       chan struct{}
	refusals atomic.Int32
}

func (s *gatedStore) Append(ctx context.Context, evs []*event.Event) error {
	select {
	case <-s.ok:
		return s.memStore.Append(ctx, evs)
	default:
		s.refusals.Add(1)
		return errors.New("disk on fire")
	}
}

// TestOfferUnavailableWhileStoreFails: while the store refuses batches,
// Offer refuses with ErrUnavailable (HTTP answers 503), which a caller
// that retries ErrFull also retries; the held batch is stored once the
// store is back and its producer is told.
func TestOfferUnavailableWhileStoreFails(t *testing.T) {
	st := &gatedStore{ok: make(chan struct{})}
	p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	done := make(chan error, 1)
	if err := p.Offer(raws("held", 5), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := p.Offer(raws("probe", 1), nil)
		if errors.Is(err, ingest.ErrUnavailable) {
			if !errors.Is(err, ingest.ErrFull) {
				t.Errorf("ErrUnavailable does not wrap ErrFull")
			}
			break
		}
		if err != nil {
			t.Fatalf("Offer while the store fails: got %v, want nil or ErrUnavailable", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("Offer never answered ErrUnavailable while the store refused every batch")
		}
		time.Sleep(time.Millisecond) // polling for the writer's first refusal
	}
	select {
	case err := <-done:
		t.Fatalf("done(%v) while the store refuses everything", err)
	default:
	}
	close(st.ok)
	if err := <-done; err != nil {
		t.Fatalf("done: %v", err)
	}
	// The store is back: Offer accepts again.
	deadline = time.Now().Add(10 * time.Second)
	for errors.Is(p.Offer(raws("after", 1), nil), ingest.ErrUnavailable) {
		if time.Now().After(deadline) {
			t.Fatal("Offer still refuses after the store recovered")
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range st.msgs {
		got[m[:4]]++
	}
	if got["held"] != 5 {
		t.Errorf("stored %d of the 5 held messages", got["held"])
	}
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

func TestCloseDeadlineWithoutSpoolLoses(t *testing.T) {
	st := &memStore{block: make(chan struct{})}
	m := metrics.New()
	p := New(Config{FlushInterval: time.Millisecond}, lineParser{}, st, m, nil)
	p.Enqueue(context.Background(), raws("a", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck store and no spool: got %v, want deadline exceeded", err)
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("spool_error")); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
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
