package alert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// Matcher is the part of a compiled rule set the recorder runs.
type Matcher interface {
	Match(ev *event.Event, fn func(detect.Detection))
}

// Change is an alert that a batch created or updated.
type Change struct {
	Alert Alert
	// New is true for an alert created by this batch.
	New bool
	// Added is how many detections the batch folded into the alert.
	Added int64
	// Event is the detection's event (of the last detection folded in).
	Event *event.Event
}

// Hook sees every batch of alert changes after it is committed, in the
// recorder's writer goroutine (so hooks see changes in order and need no
// locking among themselves). Incidents, entity risk, notifications and
// playbooks hang here.
type Hook interface {
	AlertsChanged(ctx context.Context, changes []Change)
}

// Options tune a Recorder.
type Options struct {
	// Window is how long after its last detection an alert still takes in
	// repeats of the same rule on the same entities (default one hour).
	Window time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// OnAlert is told of each change (metrics); may be nil.
	OnAlert func(Change)
	// OnSuppressed is told of each suppressed detection; may be nil.
	OnSuppressed func(ruleID string)
	// OnDetection is told of every detection, before any filtering
	// (metrics); may be nil.
	OnDetection func(d *detect.Detection)
	// MinLevel is the lowest rule level that raises alerts (default
	// "low"). Detections below it still count, still feed correlations
	// (their state lives in the engine) and their events stay searchable,
	// but they do not become alerts: informational rules are context, and
	// an alert per failed login would drown the analyst and the pipeline.
	MinLevel string
}

// Recorder runs every event through the current rule set and turns what
// matches into alerts. It implements the pipeline's Detector. Alerts are
// written in batches by one goroutine; when that writer falls behind, the
// pipeline workers wait (nothing is dropped).
type Recorder struct {
	minRank int
	engine  atomic.Pointer[matcherBox]
	store   *Store
	log     *slog.Logger
	opts    Options
	sup     *suppressor

	hooksMu sync.Mutex
	hooks   []Hook

	ch      chan pending
	wg      sync.WaitGroup
	closing sync.Once

	// live indexes the open alerts by dedup key (writer goroutine only).
	live    map[string]*Alert
	newest  time.Time // latest event time seen, for evicting live entries
	flushMu sync.Mutex
}

type matcherBox struct{ m Matcher }

type pending struct {
	a  Alert
	ev *event.Event
	// flushed, when set, marks a Flush request: the writer commits what it
	// holds and closes it.
	flushed chan struct{}
}

// NewRecorder starts a recorder writing to s. Suppressions are loaded from
// the store.
func NewRecorder(ctx context.Context, s *Store, log *slog.Logger, o Options) (*Recorder, error) {
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinLevel == "" {
		o.MinLevel = "low"
	}
	if LevelRank(o.MinLevel) < 0 {
		return nil, fmt.Errorf("alert min level %q is not one of %s", o.MinLevel, strings.Join(Levels, ", "))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{minRank: LevelRank(o.MinLevel), store: s, log: log, opts: o, ch: make(chan pending, 4096), live: map[string]*Alert{}}
	r.sup = newSuppressor(s, o.Now)
	if err := r.sup.load(ctx); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.write()
	return r, nil
}

// AddHook adds a hook; hooks run in the order added.
func (r *Recorder) AddHook(h Hook) {
	r.hooksMu.Lock()
	r.hooks = append(r.hooks, h)
	r.hooksMu.Unlock()
}

// SetEngine swaps the rule set; events after the swap see the new one.
func (r *Recorder) SetEngine(m Matcher) {
	if m == nil {
		r.engine.Store(nil)
		return
	}
	r.engine.Store(&matcherBox{m})
}

// Detect implements pipeline.Detector.
func (r *Recorder) Detect(ev *event.Event) {
	box := r.engine.Load()
	if box == nil {
		return
	}
	box.m.Match(ev, func(d detect.Detection) { r.Record(d) })
}

// Record turns one detection into an alert (or a repeat of one), unless a
// suppression covers it.
func (r *Recorder) Record(d detect.Detection) {
	if r.opts.OnDetection != nil {
		r.opts.OnDetection(&d)
	}
	if LevelRank(d.Rule.Level) < r.minRank {
		return
	}
	if r.sup.match(d.Rule.ID, d.Event) != nil {
		if r.opts.OnSuppressed != nil {
			r.opts.OnSuppressed(d.Rule.ID)
		}
		return
	}
	r.ch <- pending{a: FromDetection(d), ev: d.Event}
}

// FromDetection builds the alert of one detection.
func FromDetection(d detect.Detection) Alert {
	t := d.Time
	if t.IsZero() && d.Event != nil {
		t = d.Event.Timestamp()
	}
	a := Alert{
		ID:        NewID(),
		RuleID:    d.Rule.ID,
		RuleTitle: d.Rule.Title,
		Level:     d.Rule.Level,
		Tags:      d.Rule.Tags,
		Count:     1,
		FirstSeen: t,
		LastSeen:  t,
		Status:    "open",
		Entities:  map[string][]string{},
	}
	if d.Event != nil {
		a.Entities = Entities(d.Event)
		a.Event = d.Event.AppendJSON(nil)
	}
	for _, ev := range d.Events {
		a.Entities = mergeEntities(a.Entities, Entities(ev))
	}
	if len(d.Events) > 0 {
		a.FirstSeen = d.Events[0].Timestamp()
	}
	if len(d.Group) > 0 {
		a.Group = map[string]string{}
		for _, g := range d.Group {
			a.Group[g.Field] = g.Value
		}
	}
	a.DedupKey = DedupKey(a.RuleID, a.Group, a.Entities)
	return a
}

func (r *Recorder) write() {
	defer r.wg.Done()
	batch := make([]pending, 0, 256)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		r.commit(batch)
		batch = batch[:0]
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	hits := time.NewTicker(10 * time.Second)
	defer hits.Stop()
	for {
		select {
		case p, ok := <-r.ch:
			if !ok {
				flush()
				r.sup.flushHits(context.Background())
				return
			}
			if p.flushed != nil {
				flush()
				close(p.flushed)
				continue
			}
			batch = append(batch, p)
			if len(batch) == cap(batch) {
				flush()
			}
		case <-tick.C:
			flush()
		case <-hits.C:
			if err := r.sup.flushHits(context.Background()); err != nil {
				r.log.Warn("suppression hits not recorded", "err", err)
			}
		}
	}
}

// commit folds a batch into the alert table in one transaction, retrying
// a few times, then tells the hooks.
func (r *Recorder) commit(batch []pending) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var changes []Change
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			r.log.Warn("storing alerts failed, retrying", "alerts", len(batch), "err", err)
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		changes, err = r.fold(ctx, batch)
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		r.log.Error("alerts lost after retries", "alerts", len(batch), "err", err)
		r.live = map[string]*Alert{} // the cache may disagree with the table now
		return
	}
	if r.opts.OnAlert != nil {
		for _, c := range changes {
			r.opts.OnAlert(c)
		}
	}
	r.hooksMu.Lock()
	hooks := append([]Hook(nil), r.hooks...)
	r.hooksMu.Unlock()
	for _, h := range hooks {
		h.AlertsChanged(context.Background(), changes)
	}
	r.evict()
}

func (r *Recorder) fold(ctx context.Context, batch []pending) ([]Change, error) {
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Work on copies so a failed transaction leaves the cache untouched.
	// One key can yield two alerts in a batch (a repeat after the window),
	// so changes are a list and cur maps each key to its latest entry.
	var changes []Change
	cur := map[string]int{}
	for _, p := range batch {
		a := p.a
		if a.LastSeen.After(r.newest) {
			r.newest = a.LastSeen
		}
		var prev *Alert
		if i, ok := cur[a.DedupKey]; ok {
			prev = &changes[i].Alert
		} else if l := r.live[a.DedupKey]; l != nil {
			c := *l
			c.Entities = mergeEntities(nil, l.Entities)
			prev = &c
		} else if l, err := r.lookup(ctx, tx, a.DedupKey, a.FirstSeen.Add(-r.opts.Window)); err != nil {
			return nil, err
		} else if l != nil {
			prev = l
		}
		if prev != nil && prev.Status == "open" && a.FirstSeen.Sub(prev.LastSeen) <= r.opts.Window {
			prev.Count += a.Count
			if a.LastSeen.After(prev.LastSeen) {
				prev.LastSeen = a.LastSeen
			}
			if a.FirstSeen.Before(prev.FirstSeen) {
				prev.FirstSeen = a.FirstSeen
			}
			prev.Entities = mergeEntities(prev.Entities, a.Entities)
			if i, ok := cur[a.DedupKey]; ok {
				changes[i].Added += a.Count
				changes[i].Event = p.ev
				continue
			}
			cur[a.DedupKey] = len(changes)
			changes = append(changes, Change{Alert: *prev, Added: a.Count, Event: p.ev})
			continue
		}
		cur[a.DedupKey] = len(changes)
		changes = append(changes, Change{Alert: a, New: true, Added: a.Count, Event: p.ev})
	}
	for i := range changes {
		c := &changes[i]
		if c.New {
			if err := insert(ctx, tx, &c.Alert); err != nil {
				return nil, err
			}
		} else if err := update(ctx, tx, &c.Alert); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	for k, i := range cur {
		a := changes[i].Alert
		r.live[k] = &a
	}
	return changes, nil
}

// lookup finds the open alert of key last seen after since (after a
// restart, or once the cache evicted it).
func (r *Recorder) lookup(ctx context.Context, tx *sql.Tx, key string, since time.Time) (*Alert, error) {
	a, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE dedup_key = ? AND last_seen >= ? AND status = 'open' ORDER BY last_seen DESC LIMIT 1`,
		key, since.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// evict drops cached alerts that can no longer take repeats.
func (r *Recorder) evict() {
	if len(r.live) < 4096 {
		return
	}
	cut := r.newest.Add(-r.opts.Window)
	for k, a := range r.live {
		if a.LastSeen.Before(cut) {
			delete(r.live, k)
		}
	}
	if len(r.live) > 100000 {
		clear(r.live) // the table still has them; lookups refill the cache
	}
}

// Forget drops cached state of alerts whose status changed elsewhere (an
// incident closed them), so later repeats consult the table.
func (r *Recorder) Forget() {
	r.flushMu.Lock()
	clear(r.live)
	r.flushMu.Unlock()
}

// Flush waits until every detection recorded before the call is committed
// and its hooks have run.
func (r *Recorder) Flush() {
	done := make(chan struct{})
	r.ch <- pending{flushed: done}
	<-done
}

// AddSuppression stores a suppression and applies it at once.
func (r *Recorder) AddSuppression(ctx context.Context, s *Suppression) error {
	r.sup.mu.Lock()
	defer r.sup.mu.Unlock()
	if err := r.store.CreateSuppression(ctx, s, r.opts.Now()); err != nil {
		return err
	}
	return r.sup.load(ctx)
}

// RemoveSuppression deletes a suppression; it stops applying at once.
func (r *Recorder) RemoveSuppression(ctx context.Context, id string) error {
	r.sup.mu.Lock()
	defer r.sup.mu.Unlock()
	if err := r.sup.flushHits(ctx); err != nil {
		return err
	}
	if err := r.store.DeleteSuppression(ctx, id); err != nil {
		return err
	}
	return r.sup.load(ctx)
}

// Close stores every pending alert and stops the writer. Detect must not be
// called after Close.
func (r *Recorder) Close() {
	r.closing.Do(func() { close(r.ch) })
	r.wg.Wait()
}
