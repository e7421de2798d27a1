// Package pipeline moves raw messages from the inputs to the store: a
// bounded queue (the backpressure point), parse and detect workers, and
// store writers that commit events in batches and tell each producer when
// its messages are durable.
//
// Memory is bounded by Config.QueueSize: a message holds its place in the
// queue from the moment an input hands it over until its event is committed.
// When the queue is full, Enqueue blocks (stream inputs stop reading) and
// Offer fails at once with ingest.ErrFull (HTTP answers 429).
//
// Nothing accepted is dropped. A batch the store refuses is retried with
// backoff until the store takes it; meanwhile the queue fills, so stream
// inputs stop reading, and Offer fails with ingest.ErrUnavailable (HTTP
// answers 503). A batch keeps its raw messages until its events are
// committed, so that when Close's deadline passes before the store has
// taken everything, the raw messages still held are written to a spool
// file in Config.SpoolDir; Replay queues them again at the next start.
//
// A batch given to Offer with a done function is stored whole or not at
// all, since its producer can send it again: it goes to the store in one
// piece, and when the store refuses it (a full disk) it is withdrawn and
// done reports the error at once, rather than being held and retried;
// with OfferContext it is also withdrawn when its context ends before it
// is stored. A producer told of a failure therefore never finds part of
// its batch stored, and its retry stores each message once.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/logevery"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/store"
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

// Prober is a Store that can tell whether it can write again without
// storing anything (the SQLite store writes a scratch file). While appends
// fail, the pipeline probes it every probe interval, so that it takes new
// batches again (and readiness recovers) once space is freed, even when
// no batch arrives to try.
type Prober interface {
	Probe(ctx context.Context) error
}

// Detector sees every parsed event before it is stored. It must not keep ev
// after it returns (it clones what it keeps) and must be safe for
// concurrent use.
type Detector interface {
	Detect(ev *event.Event)
}

// DetectionSyncer is a Detector whose hand-off of detections becomes
// durable when SyncDetections returns (the alert recorder's journal). The
// pipeline calls it before it stores a batch, so that the detections of
// every stored (and acknowledged) event survive a crash. An error is
// counted by the detector; the events are stored all the same.
type DetectionSyncer interface {
	SyncDetections() error
}

// Config sizes the pipeline. It is the pipeline section of the server's
// configuration (config.Config holds it as it is), and DefaultConfig is
// the one place its defaults are defined.
type Config struct {
	// QueueSize bounds the messages accepted but not yet stored. When it
	// is full, stream inputs stop reading and HTTP answers 429.
	QueueSize int `koanf:"queue_size"`
	// Workers is the number of parse/detect workers (0: one per CPU).
	Workers int `koanf:"workers"`
	// Writers is the number of concurrent store writers.
	Writers int `koanf:"writers"`
	// BatchSize is the most events written to the store in one
	// transaction.
	BatchSize int `koanf:"batch_size"`
	// FlushInterval bounds how long an event waits for its batch to fill.
	FlushInterval time.Duration `koanf:"flush_interval"`
	// SpoolDir is where Close writes the raw messages it could not store
	// before its deadline, and where Replay finds them. Without it such
	// messages are lost, counted as dropped, and Close reports it. The
	// server sets it (DATA/spool); it is not a setting.
	SpoolDir string `koanf:"-"`
}

// DefaultConfig returns the default sizes: a queue of 32,768 messages,
// one worker per CPU, two store writers, batches of up to 8,192 events
// flushed at least every 100 ms (docs/configuration.md says why).
func DefaultConfig() Config {
	return Config{QueueSize: 32 << 10, Writers: 2, BatchSize: 8192, FlushInterval: 100 * time.Millisecond}
}

// Validate reports every field out of its range, one error per field
// named by its key.
func (c Config) Validate() error {
	var errs []error
	if c.QueueSize < 1 {
		errs = append(errs, errors.New("queue_size: must be at least 1"))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("workers: must not be negative"))
	}
	if c.Writers < 1 || c.Writers > 64 {
		errs = append(errs, fmt.Errorf("writers: %d is outside 1..64", c.Writers))
	}
	if c.BatchSize < 1 {
		errs = append(errs, errors.New("batch_size: must be at least 1"))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, errors.New("flush_interval: must be positive"))
	}
	return errors.Join(errs...)
}

// Store retry backoff: short at first, since most store errors are
// momentary (a busy lock), then capped so that a store that comes back is
// used again within seconds.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// setDefaults gives zero fields their defaults (DefaultConfig; Workers:
// one per CPU).
func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Writers <= 0 {
		c.Writers = d.Writers
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = d.FlushInterval
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

	gate  *gate
	spool *spooler
	// failing counts the writers whose current batch the store refused;
	// while it is not zero Offer refuses with ingest.ErrUnavailable.
	failing atomic.Int32
	// refusedLogged counts the events refused for their time since the
	// last log line about them (see refuse).
	refusedLogged  atomic.Int64
	lastRefusedLog logevery.Every
	// health is the store's state as the last append found it.
	health health

	mu     sync.RWMutex // held for reading while sending on in; for writing by Close
	closed bool
	in     chan *batch
	out    chan chunk

	workers sync.WaitGroup
	writers sync.WaitGroup
	ctx     context.Context // cancelled when Close's deadline passes: stop storing, spool
	cancel  context.CancelFunc
	stopped chan struct{}
}

type detectorBox struct{ d Detector }

// probeInterval is how often, while the store is failing and no batch is
// being retried, Offer lets one batch through to find out whether the
// store is back; the others are refused with ingest.ErrUnavailable.
const probeInterval = time.Second

// health records the last store failure until an append (or a probe)
// succeeds.
type health struct {
	mu      sync.Mutex
	err     error
	probeAt time.Time
	probing bool // a probe loop runs
}

// failed records err; it reports whether the caller should start a probe
// loop (none runs).
func (h *health) failed(err error) (startProbe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
	h.probeAt = time.Now().Add(probeInterval)
	startProbe = !h.probing
	h.probing = true
	return startProbe
}

// probeDone ends the probe loop if the store is healthy again; it
// reports whether the loop should stop.
func (h *health) probeDone() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.probing = false
		return true
	}
	return false
}

func (h *health) ok() {
	h.mu.Lock()
	h.err = nil
	h.mu.Unlock()
}

func (h *health) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// admit reports whether an Offer may go to the store: the store is not
// known to fail, or it is time for the next probe. Otherwise it returns
// the store's last error.
func (h *health) admit(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return nil
	}
	if now.Before(h.probeAt) {
		return h.err
	}
	h.probeAt = now.Add(probeInterval)
	return nil
}

// storeFailed records a failed append and, with a store that can be
// probed, makes sure a probe loop runs until the store is writable.
func (p *Pipeline) storeFailed(err error) {
	pr, ok := p.store.(Prober)
	if !p.health.failed(err) || !ok {
		return
	}
	go func() {
		t := time.NewTicker(probeInterval)
		defer t.Stop()
		for !p.health.probeDone() {
			select {
			case <-t.C:
			case <-p.ctx.Done():
				p.health.mu.Lock()
				p.health.probing = false
				p.health.mu.Unlock()
				return
			}
			if err := pr.Probe(p.ctx); err == nil && p.health.get() != nil {
				p.log.Info("store writable again (probe)")
				p.health.ok()
			}
		}
	}()
}

// StoreError returns the error of the store's last append while the store
// is failing (a full disk, say), and nil once an append succeeds. The
// server reports it as degraded readiness.
func (p *Pipeline) StoreError() error { return p.health.get() }

// unavailable is the error Offer refuses with while the store fails.
func unavailable(cause error) error {
	if cause == nil {
		return ingest.ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ingest.ErrUnavailable, cause)
}

var _ ingest.Sink = (*Pipeline)(nil)

// batch is one producer's submission. It keeps its raw messages until
// every event is committed, so that what is not stored by Close's deadline
// can be spooled as it arrived.
type batch struct {
	msgs      []ingest.Raw
	done      func(error)
	remaining atomic.Int64 // events not yet committed (or spooled, or failed)
	failed    atomic.Pointer[error]
	// refused counts the events the store refused for good (their time
	// is outside its range), refusedErr says why (the first cause).
	refused    atomic.Int64
	refusedErr atomic.Pointer[error]
	// atomic is set for a batch offered with a done function: it is
	// stored whole or withdrawn (see the package documentation).
	atomic bool
	// state is batchPending, batchClaimed or batchWithdrawn; only
	// atomic batches leave batchPending.
	state atomic.Int32
	// stopWatch stops watching the OfferContext context, if any (set
	// while the watch may already be running, hence atomic).
	stopWatch atomic.Pointer[func() bool]
	// ctx is the OfferContext context. When it ends while a writer is
	// storing the batch, abandoned is set and cancelAttempt (the writer's,
	// while its append runs) interrupts the append, so that the batch can
	// still be withdrawn if the store had not committed it.
	ctx           context.Context
	abandoned     atomic.Bool
	cancelAttempt atomic.Pointer[context.CancelCauseFunc]
	// detected is set for messages replayed from a spool whose events the
	// detector already saw before the shutdown that spooled them.
	detected bool
	// spilled is set for a batch written to the spool without entering
	// the queue: it holds no places there.
	spilled bool
}

// States of an atomic batch.
const (
	// batchPending: queued or parsed, not yet given to the store; it can
	// still be withdrawn.
	batchPending int32 = iota
	// batchClaimed: a writer is storing it (or Close is spooling it); its
	// outcome is the store's.
	batchClaimed
	// batchWithdrawn: its producer was told it failed, and nothing of it
	// is or will be stored.
	batchWithdrawn
)

// claim marks b as being stored; false means it was withdrawn.
func (b *batch) claim() bool {
	return !b.atomic || b.state.CompareAndSwap(batchPending, batchClaimed) || b.state.Load() == batchClaimed
}

// withdraw tells b's producer that b failed with err, if b can still be
// withdrawn (it was not given to the store). The batch's queue places are
// freed by whoever holds it next (discard).
func (b *batch) withdraw(err error) bool {
	if !b.atomic || !b.state.CompareAndSwap(batchPending, batchWithdrawn) {
		return false
	}
	b.finish(err)
	return true
}

// finish stops the context watch and tells the producer.
func (b *batch) finish(err error) {
	if stop := b.stopWatch.Load(); stop != nil {
		(*stop)()
	}
	if b.done != nil {
		b.done(err)
	}
}

// watch is the OfferContext context's end: withdraw b, or, when a writer
// has it, ask the writer to give it up.
func (b *batch) watch() {
	cause := context.Cause(b.ctx)
	if b.withdraw(cause) {
		return
	}
	b.abandoned.Store(true)
	if cancel := b.cancelAttempt.Load(); cancel != nil {
		(*cancel)(cause)
	}
}

// withdrawn reports whether b was withdrawn.
func (b *batch) withdrawn() bool { return b.atomic && b.state.Load() == batchWithdrawn }

// discard frees the queue places of a withdrawn batch that leaves the
// pipeline.
func (p *Pipeline) discard(b *batch) {
	if !b.spilled {
		p.gate.release(len(b.msgs))
	}
}

// drop withdraws b, which a writer holds and nothing of which is stored,
// frees its queue places and tells its producer err.
func (p *Pipeline) drop(b *batch, err error) {
	b.state.Store(batchWithdrawn)
	p.discard(b)
	b.finish(err)
}

// chunk is a run of parsed events of one batch on its way to a writer:
// evs are the events of raws, which are messages of b; n is how many
// there were (after a partial append, evs and raws hold only those not
// stored yet).
type chunk struct {
	b    *batch
	evs  []*event.Event
	raws []ingest.Raw
	n    int
}

// whole reports whether c is an atomic batch nothing of which is stored
// yet: one that can still be withdrawn.
func (c *chunk) whole() bool { return c.b.atomic && len(c.evs) == c.n }

func newChunk(b *batch, off int, evs []*event.Event) chunk {
	return chunk{b: b, evs: evs, raws: b.msgs[off : off+len(evs)], n: len(evs)}
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
		spool:   &spooler{dir: cfg.SpoolDir},
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

// Enqueue implements ingest.Sink: it blocks while the queue is full, until
// ctx ends. From BeginShutdown's spillAt on it never blocks: what does not
// fit in the queue goes to the spool.
func (p *Pipeline) Enqueue(ctx context.Context, msgs []ingest.Raw) error {
	return p.submit(ctx, msgs, nil, true, false)
}

// Offer implements ingest.Sink: it fails with ingest.ErrFull when the queue
// has no room now, and with ingest.ErrUnavailable while the store is
// failing (a message accepted then would only wait for the store, and the
// caller can hold it as well as the pipeline can). Messages written to the
// spool at a shutdown count as durable: done gets nil once the spool is
// synced.
//
// With a done function the batch is stored whole or not at all: when the
// store refuses it, done gets an error wrapping ingest.ErrUnavailable (and
// the store's error) and none of its messages is stored.
func (p *Pipeline) Offer(msgs []ingest.Raw, done func(error)) error {
	return p.OfferContext(context.Background(), msgs, done)
}

// OfferContext is Offer with a context: when ctx ends before the batch is
// given to the store, the batch is withdrawn and done gets ctx's error;
// nothing of it is stored. When it is already being stored, done reports
// that outcome as usual. HTTP inputs pass the request's context with their
// wait timeout, so that a request answered with an error leaves nothing
// behind that the client's retry would duplicate.
func (p *Pipeline) OfferContext(ctx context.Context, msgs []ingest.Raw, done func(error)) error {
	return p.submit(ctx, msgs, done, false, false)
}

// BeginShutdown tells the pipeline that shutdown has begun and the inputs
// are draining what their peers already sent: from spillAt on, an Enqueue
// that finds the queue full, or is waiting for room, writes its messages
// to the spool instead. Until then the drain hands messages over as fast
// as the store takes them, so that they are searchable at once; after, as
// fast as the disk takes them, so that the drain empties the socket
// buffers before its deadline and what it read is not lost if the deadline
// comes first. Replay stores spilled messages at the next start. Offer is
// unchanged: its callers can send again.
func (p *Pipeline) BeginShutdown(spillAt time.Time) {
	time.AfterFunc(time.Until(spillAt), p.gate.startSpill)
}

func (p *Pipeline) submit(ctx context.Context, msgs []ingest.Raw, done func(error), wait, detected bool) error {
	if len(msgs) == 0 {
		if done != nil {
			done(nil)
		}
		return nil
	}
	n := len(msgs)
	if wait {
		err := p.gate.acquire(ctx, n)
		if errors.Is(err, errSpill) {
			return p.spill(msgs, detected)
		}
		if err != nil {
			return err
		}
	} else {
		switch {
		case p.failing.Load() > 0:
			if p.isClosed() {
				return ingest.ErrClosed
			}
			return unavailable(p.health.get())
		case p.isClosed():
			return ingest.ErrClosed
		}
		if err := p.health.admit(time.Now()); err != nil {
			return unavailable(err)
		}
		if !p.gate.tryAcquire(n) {
			if p.isClosed() {
				return ingest.ErrClosed
			}
			return ingest.ErrFull
		}
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.gate.release(n)
		return ingest.ErrClosed
	}
	b := &batch{msgs: msgs, done: done, detected: detected, atomic: !wait && done != nil}
	b.remaining.Store(int64(n))
	if b.atomic && ctx.Done() != nil {
		b.ctx = ctx
		stop := context.AfterFunc(ctx, b.watch)
		b.stopWatch.Store(&stop)
	}
	p.in <- b // never blocks: the gate admits at most QueueSize messages, so at most QueueSize batches
	p.mu.RUnlock()
	return nil
}

// spill writes msgs to the spool, beside the queue (see BeginShutdown).
func (p *Pipeline) spill(msgs []ingest.Raw, detected bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ingest.ErrClosed
	}
	b := &batch{msgs: msgs, detected: detected, spilled: true}
	b.remaining.Store(int64(len(msgs)))
	p.spool.add(b, msgs, detected)
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
		if b.withdrawn() {
			p.discard(b) // withdrawn while queued: its producer was told
			continue
		}
		if p.ctx.Err() != nil {
			// Close's deadline passed: parsing now would only delay the
			// spool, and replay parses these at the next start.
			if b.claim() {
				p.spool.add(b, b.msgs, b.detected)
			} else {
				p.discard(b)
			}
			continue
		}
		// An atomic batch travels as one chunk, so that one writer stores
		// it in one append.
		size := chunkSize
		if b.atomic {
			size = len(b.msgs)
		}
		evs := make([]*event.Event, 0, min(len(b.msgs), size))
		var parseErrs int
		off := 0
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
			if box := p.det.Load(); box != nil && !b.detected {
				box.d.Detect(ev)
			}
			evs = append(evs, ev)
			if len(evs) == size && i+1 < len(b.msgs) {
				p.out <- newChunk(b, off, evs)
				off = i + 1
				evs = make([]*event.Event, 0, chunkSize)
				if p.ctx.Err() != nil && off < len(b.msgs) {
					p.spool.add(b, b.msgs[off:], b.detected)
					break
				}
			}
		}
		if parseErrs > 0 {
			p.m.ParseErrors.WithLabelValues(b.msgs[0].Input).Add(float64(parseErrs))
		}
		if len(evs) > 0 {
			p.out <- newChunk(b, off, evs)
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
		if len(pending) > 0 {
			p.commit(pending, evs)
		}
		clear(evs) // drop references so stored events can be collected
		evs = evs[:0]
		clear(pending)
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

// commit stores the chunks, retrying with backoff for as long as the store
// refuses them: a store error never drops events. Meanwhile the chunks hold
// their places in the queue, which is how the pushback reaches the inputs.
// Atomic batches are the exception: one the store refuses is withdrawn
// and its producer told at once (it can send again), and one withdrawn
// by its producer meanwhile is left out of the next attempt. After a
// partial append (some days stored) only what is not stored is retried.
// Only Close's deadline ends the retries: what is left then is spooled,
// as the raw messages it came from (the detector has seen their events).
// evs is scratch space for the events of one attempt.
func (p *Pipeline) commit(pending []chunk, evs []*event.Event) {
	start := time.Now()
	backoff := minBackoff
	failing := false
	defer func() {
		if failing {
			p.failing.Add(-1)
		}
	}()
	for attempt := 1; ; attempt++ {
		live := pending[:0]
		evs = evs[:0]
		for _, c := range pending {
			if !c.b.claim() {
				p.discard(c.b) // withdrawn by its producer
				continue
			}
			if c.whole() && c.b.abandoned.Load() {
				// Its producer gave up during the last attempt, which
				// stored none of it: withdraw it now.
				p.drop(c.b, context.Cause(c.b.ctx))
				continue
			}
			live = append(live, c)
			evs = append(evs, c.evs...)
		}
		clear(pending[len(live):])
		pending = live
		if len(pending) == 0 {
			return
		}
		if p.ctx.Err() != nil {
			p.spoolChunks(pending)
			return
		}
		if attempt == 1 {
			p.syncDetections()
		}
		// An atomic batch whose producer gives up while it is being
		// stored interrupts the attempt (see batch.watch), so that it can
		// still be withdrawn; not once part of it is stored (a partial
		// append): that part cannot be taken back, so the rest is stored.
		actx, cancel := context.WithCancelCause(p.ctx)
		for _, c := range pending {
			if c.whole() {
				c.b.cancelAttempt.Store(&cancel)
				if c.b.abandoned.Load() { // gave up before the store above
					cancel(context.Cause(c.b.ctx))
				}
			}
		}
		err := p.store.Append(actx, evs)
		for _, c := range pending {
			if c.b.atomic {
				c.b.cancelAttempt.Store(nil)
			}
		}
		interrupted := err != nil && actx.Err() != nil && p.ctx.Err() == nil
		cancel(nil)
		if err == nil {
			if failing {
				p.log.Info("store recovered", "events", len(evs), "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			}
			p.health.ok()
			p.m.Stored.Add(float64(len(evs)))
			p.m.BatchSeconds.Observe(time.Since(start).Seconds())
			p.m.BatchEvents.Observe(float64(len(evs)))
			for _, c := range pending {
				c.b.complete(int64(c.n), nil, p.gate)
			}
			return
		}
		var partial *store.PartialError
		if errors.As(err, &partial) {
			p.m.Stored.Add(float64(len(evs) - len(partial.Unstored)))
			if errors.Is(partial.Err, store.ErrOutOfRange) {
				// The rest is stored; these are refused for good
				// (retrying would refuse them again, for ever).
				p.health.ok()
				p.refuse(pending, partial)
				return
			}
			pending = keepUnstored(pending, partial.Unstored, p.gate)
		}
		if p.ctx.Err() != nil {
			p.spoolChunks(pending)
			return
		}
		if interrupted {
			// Not the store's failure: a producer gave up. Its batch, if
			// nothing of it was stored, is withdrawn; the others go again
			// at once, atomic ones withdrawable again.
			kept := pending[:0]
			for _, c := range pending {
				switch {
				case c.whole() && c.b.abandoned.Load():
					p.drop(c.b, context.Cause(c.b.ctx))
					continue
				case c.whole():
					c.b.state.Store(batchPending)
				}
				kept = append(kept, c)
			}
			clear(pending[len(kept):])
			pending = kept
			continue
		}
		p.storeFailed(err)
		kept := pending[:0]
		withdrawn := 0
		for _, c := range pending {
			if c.whole() {
				// Nothing of it is stored: withdraw it, its producer
				// sends it again.
				p.drop(c.b, unavailable(err))
				withdrawn++
				continue
			}
			kept = append(kept, c)
		}
		clear(pending[len(kept):])
		pending = kept
		if len(pending) == 0 {
			p.log.Warn("store refused a batch; its producers were told to send it again", "events", len(evs), "batches", withdrawn, "err", err)
			return
		}
		if !failing {
			failing = true
			p.failing.Add(1)
		}
		p.log.Warn("store refused a batch; holding it and retrying", "events", len(evs), "withdrawn_batches", withdrawn, "attempt", attempt, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// refuse completes the chunks of an append that stored every event but
// partial.Unstored, which the store refuses for good: those are counted
// (vigil_events_dropped_total, reason time_range), logged at most every
// ten seconds, and reported to their batches' producers
// (ingest.RefusedError; an HTTP client gets 422).
func (p *Pipeline) refuse(pending []chunk, partial *store.PartialError) {
	refused := make(map[*event.Event]bool, len(partial.Unstored))
	for _, ev := range partial.Unstored {
		refused[ev] = true
	}
	p.m.Dropped.WithLabelValues("time_range").Add(float64(len(partial.Unstored)))
	if n := p.refusedLogged.Add(int64(len(partial.Unstored))); p.lastRefusedLog.Due(10 * time.Second) {
		p.refusedLogged.Add(-n)
		p.log.Warn("store refused events whose time is outside the range it accepts (retention.max_age; more than a day ahead); the others are stored",
			"refused", n, "err", partial.Err)
	}
	for _, c := range pending {
		k := 0
		for _, ev := range c.evs {
			if refused[ev] {
				k++
			}
		}
		if k > 0 {
			cause := partial.Err
			c.b.refusedErr.CompareAndSwap(nil, &cause)
			c.b.refused.Add(int64(k))
		}
		c.b.complete(int64(c.n), nil, p.gate)
	}
}

// keepUnstored drops from the chunks the events a partial append stored:
// chunks left with nothing are complete.
func keepUnstored(pending []chunk, unstored []*event.Event, g *gate) []chunk {
	left := make(map[*event.Event]bool, len(unstored))
	for _, ev := range unstored {
		left[ev] = true
	}
	kept := pending[:0]
	for _, c := range pending {
		evs := make([]*event.Event, 0, len(c.evs))
		raws := make([]ingest.Raw, 0, len(c.evs))
		for i, ev := range c.evs {
			if left[ev] {
				evs = append(evs, ev)
				raws = append(raws, c.raws[i])
			}
		}
		c.evs, c.raws = evs, raws
		if len(c.evs) == 0 {
			c.b.complete(int64(c.n), nil, g)
			continue
		}
		kept = append(kept, c)
	}
	clear(pending[len(kept):])
	return kept
}

// syncDetections makes the detector's hand-off durable, if it has one
// (see DetectionSyncer). A failure is counted and logged by the detector.
func (p *Pipeline) syncDetections() {
	if box := p.det.Load(); box != nil {
		if s, ok := box.d.(DetectionSyncer); ok {
			_ = s.SyncDetections()
		}
	}
}

// spoolChunks writes what the chunks hold to the spool (Close's deadline
// passed); the part a partial append stored is complete.
func (p *Pipeline) spoolChunks(pending []chunk) {
	for _, c := range pending {
		p.spool.add(c.b, c.raws, true)
		if stored := c.n - len(c.evs); stored > 0 {
			c.b.complete(int64(stored), nil, p.gate)
		}
	}
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
	if !b.spilled {
		g.release(len(b.msgs))
	}
	var e error
	if f := b.failed.Load(); f != nil {
		e = *f
	} else if r := b.refused.Load(); r > 0 {
		e = &ingest.RefusedError{Refused: int(r), Total: len(b.msgs), Err: *b.refusedErr.Load()}
	}
	b.finish(e)
}

// Close stops accepting messages and drains: every accepted message is
// parsed and committed before it returns. If ctx ends first, the store is
// no longer waited for: the raw messages not yet committed are written to
// a spool file in Config.SpoolDir and synced, their producers are told
// they are durable, and Close returns nil. Close returns an error only if
// messages are lost: when there is no spool directory or the spool cannot
// be written. Without a deadline on ctx, Close waits for a failing store
// for as long as it takes.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.gate.close()
		close(p.in)
	}
	p.mu.Unlock()
	var late error
	select {
	case <-p.stopped:
	case <-ctx.Done():
		late = ctx.Err()
		p.cancel() // workers and writers now spool instead of storing
		<-p.stopped
	}
	p.cancel()
	// Spooled messages that were detected are replayed without detection:
	// their detections must be durable first.
	p.syncDetections()
	path, n, err := p.spool.finish(p.gate)
	if n == 0 {
		return nil
	}
	if err != nil {
		p.m.Dropped.WithLabelValues("spool_error").Add(float64(n))
		return fmt.Errorf("draining pipeline: %d messages neither stored nor spooled: %w", n, errors.Join(err, late))
	}
	p.log.Warn("messages spooled at shutdown (not stored by the deadline, or beyond the queue while inputs drained); they are stored at the next start",
		"messages", n, "spool", path)
	return nil
}

// replayBatch is how many spooled messages Replay queues at once.
const replayBatch = 512

// Replay queues the messages of every spool file in Config.SpoolDir,
// oldest file first, and returns once all are queued (it waits while the
// queue is full) with the numbers of files and messages. Call it before
// the inputs start, so that replayed messages are stored ahead of new ones.
//
// A file is removed only once every one of its messages is stored (or
// spooled again by a Close that ran out of time). A file whose tail is
// damaged has its good records replayed and is then renamed NAME.corrupt
// instead of removed, so it is neither replayed twice nor lost to
// inspection; the damage is logged. If ctx ends before a file is fully
// queued, the file stays and is replayed again at the next start: its
// messages may then be stored twice, never lost.
func (p *Pipeline) Replay(ctx context.Context) (files, msgs int, err error) {
	if p.cfg.SpoolDir == "" {
		return 0, 0, nil
	}
	paths, err := spoolFiles(p.cfg.SpoolDir)
	if err != nil {
		return 0, 0, err
	}
	for _, path := range paths {
		n, err := p.replayFile(ctx, path)
		msgs += n
		if err != nil {
			return files, msgs, err
		}
		files++
	}
	return files, msgs, nil
}

func (p *Pipeline) replayFile(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("replaying spool: %w", err)
	}
	defer f.Close()
	r := &replaying{p: p, path: path}
	r.outstanding.Add(1) // held until every batch is queued
	var (
		batch    []ingest.Raw
		detected bool
		queued   int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r.outstanding.Add(1)
		if err := p.submit(ctx, batch, r.done, true, detected); err != nil {
			r.outstanding.Add(-1)
			return fmt.Errorf("replaying spool %q: %w", path, err)
		}
		queued += len(batch)
		batch = make([]ingest.Raw, 0, replayBatch)
		return nil
	}
	_, rerr := readSpool(f, func(rec *spoolRecord) error {
		if rec.Detected != detected {
			if err := flush(); err != nil {
				return err
			}
			detected = rec.Detected
		}
		batch = append(batch, rec.raw())
		if len(batch) == replayBatch {
			return flush()
		}
		return nil
	})
	if rerr == nil || errors.Is(rerr, ErrCorruptSpool) {
		if err := flush(); err != nil {
			rerr = err
		}
	}
	switch {
	case errors.Is(rerr, ErrCorruptSpool):
		p.log.Error("spool file damaged: its readable messages are replayed, the rest is lost; the file is kept as "+path+spoolCorruptExt,
			"spool", path, "replayed", queued, "err", rerr)
		r.corrupt.Store(true)
	case rerr != nil:
		r.keep.Store(true)
		r.release()
		return queued, rerr
	}
	if queued > 0 {
		p.log.Info("replaying spooled messages", "spool", path, "messages", queued)
	}
	r.release()
	return queued, nil
}

// replaying tracks one spool file's replay: it is removed (or set aside,
// when damaged) once every batch queued from it is durable.
type replaying struct {
	p           *Pipeline
	path        string
	outstanding atomic.Int64
	keep        atomic.Bool // a batch failed or the file was not fully read: leave it
	corrupt     atomic.Bool
}

func (r *replaying) done(err error) {
	if err != nil {
		r.keep.Store(true)
		r.p.log.Error("spooled messages not stored; the spool file stays for the next start", "spool", r.path, "err", err)
	}
	r.release()
}

func (r *replaying) release() {
	if r.outstanding.Add(-1) != 0 || r.keep.Load() {
		return
	}
	var err error
	if r.corrupt.Load() {
		err = os.Rename(r.path, r.path+spoolCorruptExt)
	} else {
		err = os.Remove(r.path)
	}
	if err != nil {
		r.p.log.Error("removing a replayed spool file; its messages may be stored again at the next start", "spool", r.path, "err", err)
	}
}

// errSpill tells a producer that the gate is full and shutdown has begun:
// its messages go to the spool (see BeginShutdown).
var errSpill = errors.New("queue full at shutdown: spill")

// gate is a counting semaphore whose waiters can give up.
type gate struct {
	mu     sync.Mutex
	n, cap int
	wake   chan struct{} // closed and replaced on every release
	done   bool
	spill  bool // acquire fails with errSpill instead of waiting
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
		if g.spill {
			g.mu.Unlock()
			return errSpill
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

// startSpill makes waiting and future acquires that do not fit fail with
// errSpill.
func (g *gate) startSpill() {
	g.mu.Lock()
	g.spill = true
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
