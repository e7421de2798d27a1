package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/store"
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

// memStore records events; block, when set, holds Append until closed;
// entered, when set, is closed by the first Append, so that a test can wait
// for the writer to reach the store.
type memStore struct {
	mu      sync.Mutex
	msgs    []string
	block   chan struct{}
	entered chan struct{}
	fail    atomic.Int32 // fail this many Appends
	calls   atomic.Int32
}

func (s *memStore) Append(ctx context.Context, evs []*event.Event) error {
	if s.calls.Add(1) == 1 && s.entered != nil {
		close(s.entered)
	}
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

// gatedStore refuses every Append until ok is closed; refused, when set,
// is closed at the first refusal.
type gatedStore struct {
	memStore
	ok       chan struct{}
	refused  chan struct{}
	refusals atomic.Int32
}

func (s *gatedStore) Append(ctx context.Context, evs []*event.Event) error {
	select {
	case <-s.ok:
		return s.memStore.Append(ctx, evs)
	default:
		if s.refusals.Add(1) == 1 && s.refused != nil {
			close(s.refused)
		}
		return errors.New("disk on fire")
	}
}

// TestOfferUnavailableWhileStoreFails: a batch offered with a done
// function that the store refuses is withdrawn at once: done gets
// ErrUnavailable (which wraps ErrFull, so a caller that retries a full
// pipeline retries this too) and none of it is stored. While the store
// fails, Offer refuses with ErrUnavailable (HTTP answers 503), letting one
// batch through per probe interval; once the store is back, the producer's
// retry stores each message once. In a testing/synctest bubble: the probe
// interval is fake time.
func TestOfferUnavailableWhileStoreFails(t *testing.T) {
	synctest.Test(t, testOfferUnavailableWhileStoreFails)
}

func testOfferUnavailableWhileStoreFails(t *testing.T) {
	st := &gatedStore{ok: make(chan struct{})}
	p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	done := make(chan error, 1)
	if err := p.Offer(raws("held", 5), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !errors.Is(err, ingest.ErrUnavailable) || !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("done for a refused batch: got %v, want ErrUnavailable wrapping ErrFull", err)
	}
	if !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("done's error %q does not carry the store's", err)
	}
	if got := p.StoreError(); got == nil {
		t.Error("StoreError() = nil while the store fails")
	}
	// Refused at once until the next probe.
	if err := p.Offer(raws("probe", 1), nil); !errors.Is(err, ingest.ErrUnavailable) {
		t.Fatalf("Offer right after a refusal: got %v, want ErrUnavailable", err)
	}
	if got := p.QueueDepth(); got != 0 {
		t.Errorf("queue depth after the withdrawal: got %d, want 0", got)
	}
	close(st.ok)
	// Still refused until the probe interval has passed.
	time.Sleep(probeInterval - time.Millisecond) // fake time
	if err := p.Offer(raws("early", 1), nil); !errors.Is(err, ingest.ErrUnavailable) {
		t.Fatalf("Offer before the probe interval passed: got %v, want ErrUnavailable", err)
	}
	// The producer sends again once it has; the store gets it.
	time.Sleep(time.Millisecond) // fake time
	if err := p.Offer(raws("held", 5), func(err error) { done <- err }); err != nil {
		t.Fatalf("Offer after the store recovered and the probe interval passed: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("done after the store recovered: %v", err)
	}
	if got := p.StoreError(); got != nil {
		t.Errorf("StoreError() = %v after a successful append, want nil", got)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range st.msgs {
		got[m]++
	}
	for i := range 5 {
		if n := got["held"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("held%d stored %d times, want 1", i, n)
		}
	}
}

// TestOfferContextWithdraws: a batch whose context ends before it reaches
// the store is withdrawn (done gets the context's error) and never stored;
// one that is stored first is not affected by its context ending later.
func TestOfferContextWithdraws(t *testing.T) {
	st := &memStore{block: make(chan struct{}), entered: make(chan struct{})}
	p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
	// The first batch occupies the only writer (its Append blocks).
	first := make(chan error, 1)
	if err := p.Offer(raws("first", 3), func(err error) { first <- err }); err != nil {
		t.Fatal(err)
	}
	<-st.entered
	ctx, cancel := context.WithCancelCause(context.Background())
	second := make(chan error, 1)
	if err := p.OfferContext(ctx, raws("second", 4), func(err error) { second <- err }); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("client gave up")
	cancel(cause)
	if err := <-second; !errors.Is(err, cause) {
		t.Fatalf("done for the withdrawn batch: got %v, want %v", err, cause)
	}
	close(st.block)
	if err := <-first; err != nil {
		t.Fatalf("first batch: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.msgs {
		if strings.HasPrefix(m, "second") {
			t.Errorf("withdrawn message %q was stored", m)
		}
	}
	if got := p.QueueDepth(); got != 0 {
		t.Errorf("queue depth after close: got %d, want 0 (the withdrawn batch's places freed)", got)
	}
}

// TestOfferContextInterruptsAppend: when the producer of a batch that is
// already in the store's hands gives up, the append is interrupted: the
// batch is withdrawn (nothing of it stored, done gets the cause) and the
// other messages of that append are stored on the next attempt.
func TestOfferContextInterruptsAppend(t *testing.T) {
	st := &memStore{block: make(chan struct{}), entered: make(chan struct{})}
	p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 100, FlushInterval: 50 * time.Millisecond}, lineParser{}, st, nil, nil)
	if err := p.Enqueue(context.Background(), raws("stream", 3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	if err := p.OfferContext(ctx, raws("offered", 2), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	<-st.entered
	cause := errors.New("client went away")
	cancel(cause)
	if err := <-done; !errors.Is(err, cause) {
		t.Fatalf("done: got %v, want %v", err, cause)
	}
	close(st.block)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range st.msgs {
		got[m]++
	}
	for _, m := range []string{"stream0", "stream1", "stream2"} {
		if got[m] != 1 {
			t.Errorf("%s stored %d times, want 1", m, got[m])
		}
	}
	for _, m := range []string{"offered0", "offered1"} {
		if got[m] != 0 {
			t.Errorf("withdrawn %s stored %d times, want 0", m, got[m])
		}
	}
	if calls := st.calls.Load(); calls < 2 {
		t.Errorf("store called %d times, want the interrupted attempt and another", calls)
	}
}

// partialStore stores the events of every day but one, and reports the
// others with a *store.PartialError, as the SQLite store does when one
// day's file is full.
type partialStore struct {
	memStore
	failDay string // message prefix that fails while fail > 0
	fail    atomic.Int32
}

func (s *partialStore) Append(ctx context.Context, evs []*event.Event) error {
	if err := ctx.Err(); err != nil {
		s.calls.Add(1)
		return err // interrupted, as SQLite is
	}
	if s.fail.Load() == 0 {
		return s.memStore.Append(ctx, evs)
	}
	s.fail.Add(-1)
	var ok, bad []*event.Event
	for _, ev := range evs {
		if strings.HasPrefix(ev.Raw, s.failDay) {
			bad = append(bad, ev)
		} else {
			ok = append(ok, ev)
		}
	}
	if len(bad) == 0 {
		return s.memStore.Append(ctx, evs)
	}
	s.memStore.Append(ctx, ok)
	if len(ok) == 0 {
		return errors.New("day full")
	}
	return &store.PartialError{Unstored: bad, Err: errors.New("day full")}
}

// TestPartialAppendRetriesOnlyTheRest: after an append that stored some
// days, only the events not stored are retried: each is stored once.
func TestPartialAppendRetriesOnlyTheRest(t *testing.T) {
	tests := []struct {
		name  string
		offer bool
	}{
		{"enqueued", false},
		{"offered, part stored: kept and finished", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &partialStore{failDay: "b"}
			st.fail.Store(2)
			p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 100, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
			msgs := append(raws("a", 5), raws("b", 5)...)
			if tt.offer {
				done := make(chan error, 1)
				if err := p.Offer(msgs, func(err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatalf("done: %v, want nil (part stored: the rest is retried, not withdrawn)", err)
				}
			} else if err := p.Enqueue(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, m := range st.msgs {
				got[m]++
			}
			if len(got) != 10 || len(st.msgs) != 10 {
				t.Fatalf("stored %d messages (%d distinct), want 10 once each: %v", len(st.msgs), len(got), got)
			}
		})
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

// syncingDetector counts the events it saw and, at each SyncDetections,
// how many of them were synced.
type syncingDetector struct {
	seen, synced atomic.Int64
}

func (d *syncingDetector) Detect(*event.Event) { d.seen.Add(1) }
func (d *syncingDetector) SyncDetections() error {
	d.synced.Store(d.seen.Load())
	return nil
}

// checkingStore fails the test if it is asked to store events whose
// detections are not synced yet.
type checkingStore struct {
	t      *testing.T
	d      *syncingDetector
	stored atomic.Int64
}

func (s *checkingStore) Append(_ context.Context, evs []*event.Event) error {
	n := s.stored.Add(int64(len(evs)))
	if synced := s.d.synced.Load(); synced < n {
		s.t.Errorf("storing up to event %d with detections synced only up to %d", n, synced)
	}
	return nil
}

func TestDetectionsSyncedBeforeStore(t *testing.T) {
	d := &syncingDetector{}
	st := &checkingStore{t: t, d: d}
	// One worker and one writer: events reach the store in the order
	// the detector saw them.
	p := New(Config{Workers: 1, Writers: 1, BatchSize: 64}, lineParser{}, st, nil, nil)
	p.SetDetector(d)
	for range 20 {
		p.Enqueue(context.Background(), raws("e", 50))
	}
	p.Close(context.Background())
	if got := st.stored.Load(); got != 1000 {
		t.Fatalf("stored %d, want 1000", got)
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

// probedStore refuses appends while full; Probe says whether it is.
type probedStore struct {
	memStore
	full   atomic.Bool
	probes atomic.Int32
}

func (s *probedStore) Append(ctx context.Context, evs []*event.Event) error {
	if s.full.Load() {
		return fmt.Errorf("appending: %w", store.ErrDiskFull)
	}
	return s.memStore.Append(ctx, evs)
}

func (s *probedStore) Probe(context.Context) error {
	s.probes.Add(1)
	if s.full.Load() {
		return store.ErrDiskFull
	}
	return nil
}

// TestProbeRecoversWithoutTraffic: after a refused append, the pipeline
// probes the store until it can write again, so that StoreError (the
// server's readiness) clears once space is freed even when no batch
// arrives to try; no probing goes on while the store is healthy.
func TestProbeRecoversWithoutTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &probedStore{}
		st.full.Store(true)
		p := New(Config{QueueSize: 10, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
		done := make(chan error, 1)
		if err := p.Offer(raws("x", 2), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("done: got %v, want ErrDiskFull", err)
		}
		time.Sleep(3 * probeInterval) // fake time, in the bubble
		synctest.Wait()
		if err := p.StoreError(); !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("StoreError while full: got %v, want ErrDiskFull", err)
		}
		if n := st.probes.Load(); n < 2 {
			t.Errorf("probes while full: got %d, want one per interval", n)
		}
		st.full.Store(false)
		time.Sleep(probeInterval) // fake time, in the bubble
		synctest.Wait()
		if err := p.StoreError(); err != nil {
			t.Fatalf("StoreError after space was freed: got %v, want nil", err)
		}
		n := st.probes.Load()
		time.Sleep(5 * probeInterval) // fake time, in the bubble
		synctest.Wait()
		if got := st.probes.Load(); got != n {
			t.Errorf("probes while healthy: got %d more, want 0", got-n)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAbandonedPartialBatchIsFinished: a batch part of which a partial
// append stored cannot be withdrawn when its producer gives up; the rest
// is retried with backoff (no busy loop interrupting each attempt) and
// stored once the store can, each message once.
func TestAbandonedPartialBatchIsFinished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &partialStore{failDay: "b"}
		st.fail.Store(1 << 30)
		p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 100, FlushInterval: time.Millisecond}, lineParser{}, st, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		if err := p.OfferContext(ctx, append(raws("a", 3), raws("b", 3)...), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // fake time, in the bubble
		synctest.Wait()
		cancel()
		calls := st.calls.Load()
		time.Sleep(time.Second) // fake time, in the bubble
		synctest.Wait()
		if n := st.calls.Load() - calls; n > 10 {
			t.Errorf("store called %d times in a second after the producer gave up, want a few (backoff)", n)
		}
		select {
		case err := <-done:
			t.Fatalf("done(%v) before the rest was stored", err)
		default:
		}
		st.fail.Store(0)
		time.Sleep(10 * time.Second) // fake time, in the bubble
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatalf("done: %v", err)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range st.msgs {
			got[m]++
		}
		if len(got) != 6 || len(st.msgs) != 6 {
			t.Errorf("stored %v, want each of the 6 messages once", got)
		}
	})
}

// rangeStore refuses for good, as the victorialogs engine does for times
// outside its range, every event whose message starts with "future"; it
// stores the others.
type rangeStore struct{ memStore }

func (s *rangeStore) Append(ctx context.Context, evs []*event.Event) error {
	var ok, bad []*event.Event
	for _, ev := range evs {
		if strings.HasPrefix(ev.Raw, "future") {
			bad = append(bad, ev)
		} else {
			ok = append(ok, ev)
		}
	}
	if err := s.memStore.Append(ctx, ok); err != nil {
		return err
	}
	if len(bad) > 0 {
		return &store.PartialError{Unstored: bad, Err: fmt.Errorf("%d events after tomorrow: %w", len(bad), store.ErrOutOfRange)}
	}
	return nil
}

// TestOutOfRangeRefusedNotRetried: events the store refuses for good are
// counted and reported to their producer, never retried (a retry would
// hold the writer and, through it, every input for ever); the others are
// stored and the pipeline goes on.
func TestOutOfRangeRefusedNotRetried(t *testing.T) {
	m := metrics.New()
	st := &rangeStore{}
	p := New(Config{QueueSize: 100, Workers: 1, Writers: 1, BatchSize: 100, FlushInterval: time.Millisecond}, lineParser{}, st, m, nil)
	done := make(chan error, 1)
	if err := p.Offer(append(raws("now", 4), raws("future", 3)...), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var re *ingest.RefusedError
	if !errors.As(err, &re) || re.Refused != 3 || re.Total != 7 || !errors.Is(err, store.ErrOutOfRange) {
		t.Fatalf("verdict: got %v, want a RefusedError of 3 of 7 wrapping store.ErrOutOfRange", err)
	}
	// A syslog-like batch without a verdict, then one that is fine.
	if err := p.Enqueue(context.Background(), raws("future", 2)); err != nil {
		t.Fatal(err)
	}
	if err := p.Offer(raws("later", 2), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("a later batch: %v, want stored", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.count(); got != 6 {
		t.Errorf("stored %d events, want 6 (4 now, 2 later)", got)
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("time_range")); got != 5 {
		t.Errorf("vigil_events_dropped_total{reason=time_range} = %v, want 5", got)
	}
}
