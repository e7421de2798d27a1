// Package pipeline moves raw messages from the inputs to the store: a
// bounded queue (the backpressure point), parse and detect workers, and
// store writers that commit events in batches and tell each producer when
// its messages are durable.
//
// Memory is bounded by Config.QueueSize: a message holds its place in the
// queue from the moment an input hands it over until its event is committed.
// When the queue is full, Enqueue blocks (stream inputs stop reading) and
// Offer fails at once with ingest.ErrFull (HTTP answers 429).
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/metrics"
)

// Parser turns one raw message into an event. It must not fail: input it
// cannot decode becomes an event with the parse_error tag.
type Parser interface {
	Parse(r *ingest.Raw, ev *event.Event)
}

// Store commits events durably.
type Store interface {
	Append(ctx context.Context, evs []*event.Event) error
}

// Detector sees every parsed event before it is stored. It must not keep ev
// after it returns (it clones what it keeps) and must be safe for
// concurrent use.
type Detector interface {
	Detect(ev *event.Event)
}

// Config sizes the pipeline.
type Config struct {
	QueueSize     int
	Workers       int
	Writers       int
	BatchSize     int
	FlushInterval time.Duration
	// StoreRetries is how many times a failed store batch is retried
	// (with backoff) before its events are counted as dropped and the
	// producers are told.
	StoreRetries int
}

func (c *Config) setDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 65536
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Writers <= 0 {
		c.Writers = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 4096
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.StoreRetries <= 0 {
		c.StoreRetries = 5
	}
}

// Pipeline implements ingest.Sink.
type Pipeline struct {
	cfg    Config
	parser Parser
	store  Store
	det    atomic.Pointer[detectorBox]
	m      *metrics.Metrics
	log    *slog.Logger

	gate *gate

	mu     sync.RWMutex // held for reading while sending on in; for writing by Close
	closed bool
	in     chan *batch
	out    chan chunk

	workers sync.WaitGroup
	writers sync.WaitGroup
	ctx     context.Context // cancelled when a drain deadline passes
	cancel  context.CancelFunc
	stopped chan struct{}
}

type detectorBox struct{ d Detector }

var _ ingest.Sink = (*Pipeline)(nil)

// batch is one producer's submission.
type batch struct {
	msgs      []ingest.Raw
	done      func(error)
	remaining atomic.Int64 // events not yet committed (or failed)
	failed    atomic.Pointer[error]
}

// chunk is a run of parsed events of one batch on its way to a writer.
type chunk struct {
	b   *batch
	evs []*event.Event
}

const chunkSize = 256

// New returns a started pipeline. Close stops it.
func New(cfg Config, p Parser, s Store, m *metrics.Metrics, log *slog.Logger) *Pipeline {
	cfg.setDefaults()
	if m == nil {
		m = metrics.New()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &Pipeline{
		cfg:     cfg,
		parser:  p,
		store:   s,
		m:       m,
		log:     log,
		gate:    newGate(cfg.QueueSize),
		in:      make(chan *batch, cfg.QueueSize),
		out:     make(chan chunk, cfg.Workers*4),
		ctx:     ctx,
		cancel:  cancel,
		stopped: make(chan struct{}),
	}
	for range cfg.Workers {
		pl.workers.Add(1)
		go pl.work()
	}
	for range cfg.Writers {
		pl.writers.Add(1)
		go pl.write()
	}
	go func() {
		pl.workers.Wait()
		close(pl.out)
		pl.writers.Wait()
		close(pl.stopped)
	}()
	return pl
}

// SetDetector installs (or, with nil, removes) the detector that sees every
// event. It can be called while the pipeline runs: later events see the new
// detector, none is skipped.
func (p *Pipeline) SetDetector(d Detector) {
	if d == nil {
		p.det.Store(nil)
		return
	}
	p.det.Store(&detectorBox{d})
}

// QueueDepth returns how many messages are accepted but not yet committed.
func (p *Pipeline) QueueDepth() int { return p.gate.used() }

// QueueSize returns the queue's capacity in messages.
func (p *Pipeline) QueueSize() int { return p.cfg.QueueSize }

// Enqueue implements ingest.Sink: it blocks while the queue is full.
func (p *Pipeline) Enqueue(ctx context.Context, msgs []ingest.Raw) error {
	return p.submit(ctx, msgs, nil, true)
}

// Offer implements ingest.Sink: it fails with ingest.ErrFull when the queue
// has no room now.
func (p *Pipeline) Offer(msgs []ingest.Raw, done func(error)) error {
	return p.submit(context.Background(), msgs, done, false)
}

func (p *Pipeline) submit(ctx context.Context, msgs []ingest.Raw, done func(error), wait bool) error {
	if len(msgs) == 0 {
		if done != nil {
			done(nil)
		}
		return nil
	}
	n := len(msgs)
	if wait {
		if err := p.gate.acquire(ctx, n); err != nil {
			return err
		}
	} else if !p.gate.tryAcquire(n) {
		if p.isClosed() {
			return ingest.ErrClosed
		}
		return ingest.ErrFull
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.gate.release(n)
		return ingest.ErrClosed
	}
	b := &batch{msgs: msgs, done: done}
	b.remaining.Store(int64(n))
	p.in <- b // never blocks: the gate admits at most QueueSize messages, so at most QueueSize batches
	p.mu.RUnlock()
	return nil
}

func (p *Pipeline) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// work parses and runs detection on each message.
// fieldSlab is how many fields one slab holds: a few dozen events' worth,
// so that an event kept long (by an alert, say) pins little else.
const fieldSlab = 512

func (p *Pipeline) work() {
	defer p.workers.Done()
	// Messages are parsed into scratch, whose field slice has room for a
	// typical event; each event then gets exactly its fields, carved from a
	// shared slab. That halves the bytes allocated per event (and so the
	// collector's work) against a roomy slice per event.
	var (
		scratch event.Event
		slab    []event.Field
	)
	for b := range p.in {
		evs := make([]*event.Event, 0, min(len(b.msgs), chunkSize))
		var parseErrs int
		for i := range b.msgs {
			scratch = event.Event{Fields: scratch.Fields[:0], Tags: scratch.Tags[:0]}
			p.parser.Parse(&b.msgs[i], &scratch)
			ev := new(event.Event)
			*ev = scratch
			n := len(scratch.Fields)
			if cap(slab)-len(slab) < n {
				slab = make([]event.Field, 0, max(fieldSlab, n))
			}
			ev.Fields = slab[len(slab) : len(slab)+n : len(slab)+n]
			copy(ev.Fields, scratch.Fields)
			slab = slab[:len(slab)+n]
			ev.Tags = nil
			if len(scratch.Tags) > 0 {
				ev.Tags = slices.Clone(scratch.Tags)
			}
			if ev.HasTag(event.TagParseError) {
				parseErrs++
			}
			if box := p.det.Load(); box != nil {
				box.d.Detect(ev)
			}
			evs = append(evs, ev)
			b.msgs[i].Data = nil // the event owns what it needs; free the raw bytes early
			if len(evs) == chunkSize {
				p.out <- chunk{b: b, evs: evs}
				evs = make([]*event.Event, 0, chunkSize)
			}
		}
		if parseErrs > 0 {
			p.m.ParseErrors.WithLabelValues(b.msgs[0].Input).Add(float64(parseErrs))
		}
		if len(evs) > 0 {
			p.out <- chunk{b: b, evs: evs}
		}
	}
}

// write commits chunks in batches of up to BatchSize events, at least every
// FlushInterval.
func (p *Pipeline) write() {
	defer p.writers.Done()
	var (
		pending []chunk
		evs     = make([]*event.Event, 0, p.cfg.BatchSize)
		timer   = time.NewTimer(time.Hour)
		armed   bool
	)
	timer.Stop()
	flush := func() {
		if len(evs) > 0 {
			err := p.commit(evs)
			for _, c := range pending {
				c.b.complete(int64(len(c.evs)), err, p.gate)
			}
		}
		clear(evs) // drop references so stored events can be collected
		evs = evs[:0]
		pending = pending[:0]
		if armed {
			timer.Stop()
			armed = false
		}
	}
	for {
		select {
		case c, ok := <-p.out:
			if !ok {
				flush()
				return
			}
			pending = append(pending, c)
			evs = append(evs, c.evs...)
			if len(evs) >= p.cfg.BatchSize {
				flush()
			} else if !armed {
				timer.Reset(p.cfg.FlushInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			flush()
		}
	}
}

// commit writes evs, retrying with backoff. A final failure is returned so
// the producers learn of it; the events are counted as dropped.
func (p *Pipeline) commit(evs []*event.Event) error {
	start := time.Now()
	backoff := 50 * time.Millisecond
	var err error
	for attempt := 0; attempt <= p.cfg.StoreRetries; attempt++ {
		if attempt > 0 {
			p.log.Warn("store batch failed, retrying", "events", len(evs), "attempt", attempt, "err", err)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				// The drain deadline passed: no more waiting.
			}
			backoff = min(backoff*2, 5*time.Second)
		}
		if err = p.store.Append(p.ctx, evs); err == nil {
			p.m.Stored.Add(float64(len(evs)))
			p.m.BatchSeconds.Observe(time.Since(start).Seconds())
			p.m.BatchEvents.Observe(float64(len(evs)))
			return nil
		}
	}
	p.m.Dropped.WithLabelValues("store_error").Add(float64(len(evs)))
	p.log.Error("store batch lost after retries", "events", len(evs), "err", err)
	return fmt.Errorf("storing %d events: %w", len(evs), err)
}

// complete records that n events of b are committed (or failed with err);
// the last one tells the producer and frees the batch's queue places.
func (b *batch) complete(n int64, err error, g *gate) {
	if err != nil {
		b.failed.CompareAndSwap(nil, &err)
	}
	if b.remaining.Add(-n) != 0 {
		return
	}
	g.release(len(b.msgs))
	if b.done != nil {
		var e error
		if f := b.failed.Load(); f != nil {
			e = *f
		}
		b.done(e)
	}
}

// Close stops accepting messages and drains: every accepted message is
// parsed and committed before it returns. If ctx ends first, pending store
// retries are abandoned, Close still waits for the writers to finish, and
// returns ctx's error.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.gate.close()
		close(p.in)
	}
	p.mu.Unlock()
	select {
	case <-p.stopped:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-p.stopped
		return fmt.Errorf("draining pipeline: %w", ctx.Err())
	}
}

// gate is a counting semaphore whose waiters can give up.
type gate struct {
	mu     sync.Mutex
	n, cap int
	wake   chan struct{} // closed and replaced on every release
	done   bool
}

func newGate(capacity int) *gate { return &gate{cap: capacity, wake: make(chan struct{})} }

// fits reports whether n more can enter. A batch larger than the whole
// capacity enters alone, so no batch waits forever.
func (g *gate) fits(n int) bool { return g.n+n <= g.cap || g.n == 0 }

func (g *gate) tryAcquire(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done || !g.fits(n) {
		return false
	}
	g.n += n
	return true
}

func (g *gate) acquire(ctx context.Context, n int) error {
	for {
		g.mu.Lock()
		if g.done {
			g.mu.Unlock()
			return ingest.ErrClosed
		}
		if g.fits(n) {
			g.n += n
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) release(n int) {
	g.mu.Lock()
	g.n -= n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// close makes waiting and future acquires fail with ErrClosed.
func (g *gate) close() {
	g.mu.Lock()
	g.done = true
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) used() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
