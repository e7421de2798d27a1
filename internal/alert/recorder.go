package alert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/journal"
	"github.com/vigilsec/vigil/internal/logevery"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Matcher is the part of a compiled rule set the recorder runs.
type Matcher interface {
	Match(ev *event.Event, fn func(detect.Detection))
}

// FedMatcher is a Matcher that also reports whether an event fed
// correlation state (detect.Engine.MatchFed).
type FedMatcher interface {
	MatchFed(ev *event.Event, fn func(detect.Detection)) bool
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
	// Members are, for a campaign alert, the subjects new to it in this
	// batch (all of them when the campaign is new): a playbook acts on
	// each once.
	Members []Member
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
	// Shared says that other processes write alerts to the same store
	// (the detect nodes of a cluster): the index of open alerts then never
	// counts as complete, and a key it misses is looked up in the table,
	// so that a repeat folds into an alert another node opened.
	Shared bool
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
	// QueueSize bounds the detections waiting for the writer (default
	// 65,536). Detection never waits for the writer, so that storing
	// events never waits on the alert path: past the bound a detection is
	// shed and counted (OnShed), and its event is stored all the same.
	QueueSize int
	// MaxOpen bounds the in-memory index of open alerts that repeats fold
	// into (default 100,000). Past it the index drops what it holds
	// (OnEvict) and misses consult the table.
	MaxOpen int
	// Campaign groups storms (see CampaignOptions).
	Campaign CampaignOptions
	// OnShed is told of each detection shed because the queue was full;
	// OnEvict of entries dropped from the open-alert index. Either may be
	// nil.
	OnShed  func()
	OnEvict func(n int)
	// WriteLock, if set, is held around each write transaction. The
	// server shares one between the heavy writers of the metadata
	// database (this recorder and the response runner): SQLite's busy
	// handler retries with growing sleeps, so a writer that loops (the
	// runner recording a wave's thousands of blocks) can starve another;
	// a Go mutex hands the database over in turn instead.
	WriteLock sync.Locker
	// SuppressionMaxExpiry is the longest a suppression added by someone
	// who is not an admin may last (default DefaultSuppressionMaxExpiry).
	SuppressionMaxExpiry time.Duration
	// Journal, if set, makes the hand-off from detection to the writer
	// durable (see handoff.go): the server opens it in the data
	// directory. Without one, queued detections live in memory only.
	Journal *journal.Journal
	// OnJournalError is told of each detection queued without its
	// journal record (the journal failed; disk full, say); may be nil.
	OnJournalError func()
}

// Recorder runs every event through the current rule set and turns what
// matches into alerts. It implements the pipeline's Detector. Alerts are
// written in batches by one goroutine; when that writer falls behind, the
// pipeline workers wait (nothing is dropped).
type Recorder struct {
	minLevel sigma.Level
	engine   atomic.Pointer[matcherBox]
	store    *Store
	log      *slog.Logger
	opts     Options
	sup      *suppressor

	hooksMu sync.Mutex
	hooks   []Hook

	ch      chan *pending
	wg      sync.WaitGroup
	closing sync.Once

	// live indexes the open alerts by dedup key (writer goroutine only,
	// or under flushMu). While complete is set it holds every open alert
	// of the window, so a miss needs no lookup in the table; it is unset
	// when the index had to drop entries to stay within MaxOpen.
	live     map[string]*Alert
	complete bool
	newest   time.Time // latest event time seen, for evicting live entries
	flushMu  sync.Mutex

	// camps are the rules' open campaigns and track the rules' recent
	// distinct subjects (writer goroutine only, or under flushMu).
	camps map[string]*campaign
	track map[string]*tracker

	stopping    atomic.Bool
	raisedMu    sync.Mutex
	raised      []*pending
	shed        atomic.Int64
	lastShedLog logevery.Every

	// handoffMu orders journal appends with queue sends (handoff.go).
	handoffMu      sync.Mutex
	journalErrs    atomic.Int64
	lastJournalLog logevery.Every
}

type matcherBox struct{ m Matcher }

type pending struct {
	// a is the alert of a detection (Record), its event not rendered yet
	// (see withEvent): a detection that folds into a campaign or an open
	// alert never pays for it. The rest of the alert is built by the
	// pipeline's workers, in parallel, so that the one writer does as
	// little as it can per detection.
	a  Alert
	ev *event.Event
	// flushed, when set, marks a Flush request: the writer commits what it
	// holds and closes it.
	flushed chan struct{}
	// seq is the detection's journal record (0: none).
	seq uint64
}

// NewRecorder starts a recorder writing to s. Suppressions are loaded from
// the store.
func NewRecorder(ctx context.Context, s *Store, log *slog.Logger, o Options) (*Recorder, error) {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinLevel == "" {
		o.MinLevel = DefaultMinLevel
	}
	minLevel, err := sigma.ParseLevel(o.MinLevel)
	if err != nil {
		return nil, fmt.Errorf("alert min level: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.SuppressionMaxExpiry <= 0 {
		o.SuppressionMaxExpiry = DefaultSuppressionMaxExpiry
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxOpen <= 0 {
		o.MaxOpen = 100000
	}
	o.Campaign.setDefaults()
	r := &Recorder{minLevel: minLevel, store: s, log: log, opts: o, ch: make(chan *pending, o.QueueSize),
		live: map[string]*Alert{}, camps: map[string]*campaign{}, track: map[string]*tracker{}}
	r.sup = newSuppressor(s, o.Now, r.log)
	if err := r.sup.load(ctx); err != nil {
		return nil, err
	}
	if err := r.loadOpen(ctx); err != nil {
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

// DetectFed is Detect that also reports whether ev fed correlation state
// (false when the rule set cannot tell): a detect node of a cluster
// checkpoints such events so that the node that takes its partition over
// rebuilds the state (internal/bus).
func (r *Recorder) DetectFed(ev *event.Event) bool {
	box := r.engine.Load()
	if box == nil {
		return false
	}
	if fm, ok := box.m.(FedMatcher); ok {
		return fm.MatchFed(ev, func(d detect.Detection) { r.Record(d) })
	}
	box.m.Match(ev, func(d detect.Detection) { r.Record(d) })
	return false
}

// Replay feeds ev to the rule set's correlation state and records
// nothing: an event another node already detected (its detections are
// recorded), checkpointed so that this node's state counts it.
func (r *Recorder) Replay(ev *event.Event) {
	if box := r.engine.Load(); box != nil {
		box.m.Match(ev, func(detect.Detection) {})
	}
}

// Record turns one detection into an alert (or a repeat of one), unless a
// suppression covers it.
func (r *Recorder) Record(d detect.Detection) {
	if r.opts.OnDetection != nil {
		r.opts.OnDetection(&d)
	}
	if sigma.LevelOf(d.Rule.Level) < r.minLevel {
		return
	}
	if r.sup.match(d.Rule.ID, d.Event) != nil {
		if r.opts.OnSuppressed != nil {
			r.opts.OnSuppressed(d.Rule.ID)
		}
		return
	}
	r.queue(&pending{a: fromDetection(d), ev: d.Event})
}

// Raise records an alert that Vigil itself raises (a playbook's circuit
// breaker opening, say), through the same path as detections. It never
// waits: the alert joins a small list the writer takes in at its next
// batch (the caller may be a hook the writer is waiting for). Past 1,000
// waiting, raised alerts are shed and counted like detections.
func (r *Recorder) Raise(a Alert) {
	if a.ID == "" {
		a.ID = ids.New()
	}
	if a.Status == "" {
		a.Status = "open"
	}
	if a.Count == 0 {
		a.Count = 1
	}
	if a.Entities == nil {
		a.Entities = map[string][]string{}
	}
	if a.FirstSeen.IsZero() {
		a.FirstSeen = r.opts.Now().UTC()
		a.LastSeen = a.FirstSeen
	}
	if a.Event == nil {
		a.Event = []byte("{}")
	}
	a.DedupKey = DedupKey(a.RuleID, a.Group, a.Entities)
	r.raisedMu.Lock()
	defer r.raisedMu.Unlock()
	if len(r.raised) >= 1000 {
		r.shedOne(a.RuleID)
		return
	}
	r.raised = append(r.raised, &pending{a: a})
}

// takeRaised moves the raised alerts into batch.
func (r *Recorder) takeRaised(batch []*pending) []*pending {
	r.raisedMu.Lock()
	defer r.raisedMu.Unlock()
	batch = append(batch, r.raised...)
	clear(r.raised)
	r.raised = r.raised[:0]
	return batch
}

// shedOne counts a detection the full queue could not take, and says so
// in the log at most every ten seconds.
func (r *Recorder) shedOne(ruleID string) {
	n := r.shed.Add(1)
	if r.opts.OnShed != nil {
		r.opts.OnShed()
	}
	if r.lastShedLog.Due(10 * time.Second) {
		r.log.Warn("alert queue full: detections shed (their events are stored)", "rule", ruleID, "shed_total", n)
	}
}

// QueueDepth is how many detections wait for the writer.
func (r *Recorder) QueueDepth() int { return len(r.ch) }

// Shed returns how many detections were shed since start.
func (r *Recorder) Shed() int64 { return r.shed.Load() }

// openAlertsSQL loads the open alerts of the window when the recorder
// starts (by the status, last_seen index).
const openAlertsSQL = `SELECT ` + alertColumns + ` FROM alerts WHERE status = 'open' AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?`

// loadOpen fills the open-alert index from the table: every open alert
// last seen within the window of the newest one, and the open campaigns.
func (r *Recorder) loadOpen(ctx context.Context) error {
	var newest sql.NullInt64
	if err := r.store.db.QueryRowContext(ctx, `SELECT max(last_seen) FROM alerts`).Scan(&newest); err != nil {
		return fmt.Errorf("loading open alerts: %w", err)
	}
	clear(r.live)
	clear(r.camps)
	r.complete = !r.opts.Shared
	if !newest.Valid {
		return nil
	}
	since := time.Unix(0, newest.Int64).Add(-max(r.opts.Window, r.opts.Campaign.Window))
	rows, err := r.store.db.QueryContext(ctx, openAlertsSQL, since.UnixNano(), r.opts.MaxOpen+1)
	if err != nil {
		return fmt.Errorf("loading open alerts: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return fmt.Errorf("loading open alerts: %w", err)
		}
		if n++; n > r.opts.MaxOpen {
			r.complete = false
			break
		}
		a.Event = nil // the index needs none of it
		if a.LastSeen.After(r.newest) {
			r.newest = a.LastSeen
		}
		if a.Campaign {
			if _, ok := r.camps[a.RuleID]; !ok {
				// Members are counted in the table from here on: the
				// set of earlier ones is not reloaded.
				r.camps[a.RuleID] = &campaign{alert: a, overflow: true}
			}
			continue
		}
		r.live[a.DedupKey] = &a
	}
	return rows.Err()
}

// withEvent renders ev as the alert's event if it has none yet: only an
// alert that is stored new needs it.
func withEvent(a *Alert, ev *event.Event) {
	if a.Event == nil && ev != nil {
		a.Event = ev.AppendJSON(nil)
	}
}

// fromDetection builds the alert of one detection, its event not
// rendered (withEvent does that for an alert stored new).
func fromDetection(d detect.Detection) Alert {
	t := d.Time
	if t.IsZero() && d.Event != nil {
		t = d.Event.Timestamp()
	}
	a := Alert{
		ID:        ids.New(),
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
	}
	for _, ev := range d.Events {
		a.Entities = a.Entities.Merge(Entities(ev))
	}
	switch {
	case !d.First.IsZero():
		a.FirstSeen = d.First
	case len(d.Events) > 0:
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

// lastSeq returns the highest journal record of batch (0: none).
func lastSeq(batch []*pending) uint64 {
	var seq uint64
	for _, p := range batch {
		seq = max(seq, p.seq)
	}
	return seq
}

func (r *Recorder) write() {
	defer r.wg.Done()
	batch := make([]*pending, 0, 1024)
	flush := func() {
		batch = r.takeRaised(batch)
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

// commit folds a batch into the alert table in one transaction, then
// tells the hooks. A failing table is retried with backoff for as long as
// it fails (detections meanwhile queue, then are shed and counted); only
// once Close has begun does it give up after a few more tries, and say so.
func (r *Recorder) commit(batch []*pending) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var changes []Change
	var err error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if r.stopping.Load() && attempt >= 5 {
				break
			}
			r.log.Warn("storing alerts failed, retrying", "alerts", len(batch), "attempt", attempt, "err", err)
			time.Sleep(min(time.Duration(100<<min(attempt, 6))*time.Millisecond, 5*time.Second))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if r.opts.WriteLock != nil {
			r.opts.WriteLock.Lock()
		}
		changes, err = r.fold(ctx, batch)
		if r.opts.WriteLock != nil {
			r.opts.WriteLock.Unlock()
		}
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		if r.opts.Journal != nil {
			r.log.Error("alerts not stored at shutdown after retries; their detections stay in the hand-off journal and are stored at the next start", "alerts", len(batch), "err", err)
		} else {
			r.log.Error("alerts not stored at shutdown after retries", "alerts", len(batch), "err", err)
		}
		// The indexes may disagree with the table now.
		clear(r.live)
		r.complete = false
		return
	}
	if seq := lastSeq(batch); seq > 0 {
		if err := r.opts.Journal.Release(seq); err != nil {
			r.log.Warn("alert hand-off journal: removing committed segments", "err", err)
		}
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
	// Hooks may have placed alerts in incidents: later repeats carry it.
	for i := range changes {
		a := &changes[i].Alert
		if a.IncidentID == "" {
			continue
		}
		if a.Campaign {
			if c := r.camps[a.RuleID]; c != nil && c.alert.ID == a.ID {
				c.alert.IncidentID = a.IncidentID
			}
		} else if l := r.live[a.DedupKey]; l != nil && l.ID == a.ID {
			l.IncidentID = a.IncidentID
		}
	}
	r.evict()
}

func (r *Recorder) fold(ctx context.Context, batch []*pending) ([]Change, error) {
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Work on copies so a failed transaction leaves the indexes untouched
	// (the commit is retried). One key can yield two alerts in a batch (a
	// repeat after the window), so changes are a list and cur maps each
	// key to its latest entry.
	var changes []Change
	cur := map[string]int{}
	deltas := map[string]*campDelta{}
	var dorder []*campDelta
	newest := r.newest
	for _, p := range batch {
		a := p.a
		if a.LastSeen.After(newest) {
			newest = a.LastSeen
		}
		if r.foldCampaign(&a, p.ev, deltas, &dorder) {
			continue
		}
		var prev *Alert
		if i, ok := cur[a.DedupKey]; ok {
			prev = &changes[i].Alert
		} else if l := r.live[a.DedupKey]; l != nil {
			c := *l
			c.Entities = l.Entities.Clone()
			prev = &c
		} else if !r.complete {
			l, err := r.lookup(ctx, tx, a.DedupKey, a.FirstSeen.Add(-r.opts.Window))
			if err != nil {
				return nil, err
			}
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
			prev.Entities = prev.Entities.Merge(a.Entities)
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
		withEvent(&a, p.ev)
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
	if len(dorder) > 0 {
		var stmts memberStmts
		defer stmts.close()
		for _, d := range dorder {
			if err := writeDelta(ctx, tx, &stmts, d); err != nil {
				return nil, err
			}
		}
	}
	if seq := lastSeq(batch); seq > 0 {
		if err := saveHandoff(ctx, tx, seq); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	r.newest = newest
	for k, i := range cur {
		a := changes[i].Alert
		a.Event = nil // the index needs none of it
		r.live[k] = &a
	}
	for _, d := range dorder {
		changes = append(changes, r.applyDelta(d))
	}
	return changes, nil
}

// foldCampaign folds a into its rule's campaign when there is one, or
// when a makes one; it reports whether it did.
func (r *Recorder) foldCampaign(a *Alert, ev *event.Event, deltas map[string]*campDelta, dorder *[]*campDelta) bool {
	co := r.opts.Campaign
	if co.Threshold < 0 || a.Campaign {
		return false
	}
	k := subject(a)
	if k.value == "" {
		return false
	}
	d := deltas[a.RuleID]
	if d == nil {
		c := r.camps[a.RuleID]
		if c != nil && (c.alert.Status != "open" || a.FirstSeen.Sub(c.alert.LastSeen) > co.Window) {
			delete(r.camps, a.RuleID) // over: the next storm is a new campaign
			c = nil
		}
		if c == nil {
			tr := r.track[a.RuleID]
			if tr == nil {
				tr = &tracker{seen: map[memberKey]time.Time{}}
				r.track[a.RuleID] = tr
			}
			if tr.add(k, a.LastSeen, co.Window) < co.Threshold {
				return false
			}
			c = &campaign{members: map[memberKey]struct{}{}}
			ca := Alert{
				ID: ids.New(), RuleID: a.RuleID, RuleTitle: a.RuleTitle, Level: a.Level, Tags: a.Tags, Status: "open",
				FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Entities: map[string][]string{}, Event: a.Event,
				Campaign: true, DedupKey: "campaign:" + a.RuleID,
			}
			withEvent(&ca, ev)
			d = &campDelta{c: c, isNew: true, alert: ca, members: map[memberKey]*Member{}}
			// The subjects that made the campaign are its first members
			// (their own alerts stand as they are).
			for m, t := range tr.seen {
				if m != k {
					r.addMember(d, m, t, t, 1)
					// Its own alert has been acted on: it is a member,
					// but not one for the campaign's playbooks.
					d.founders = append(d.founders, m)
					if t.Before(d.alert.FirstSeen) {
						d.alert.FirstSeen = t
					}
				}
			}
		} else {
			ca := c.alert
			ca.Entities = c.alert.Entities.Clone()
			d = &campDelta{c: c, alert: ca, members: map[memberKey]*Member{}, countFromTable: c.overflow}
		}
		deltas[a.RuleID] = d
		*dorder = append(*dorder, d)
	}
	d.alert.Count += a.Count
	d.added += a.Count
	if a.LastSeen.After(d.alert.LastSeen) {
		d.alert.LastSeen = a.LastSeen
	}
	if a.FirstSeen.Before(d.alert.FirstSeen) {
		d.alert.FirstSeen = a.FirstSeen
	}
	d.alert.Entities = d.alert.Entities.Merge(a.Entities)
	d.ev = ev
	r.addMember(d, k, a.FirstSeen, a.LastSeen, a.Count)
	return true
}

// addMember records one detection of subject k in the batch's delta.
func (r *Recorder) addMember(d *campDelta, k memberKey, first, last time.Time, n int64) {
	m := d.members[k]
	if m == nil {
		m = &Member{Kind: k.kind, Value: k.value, FirstSeen: first, LastSeen: last}
		d.members[k] = m
		d.order = append(d.order, k)
		_, known := d.c.members[k]
		if d.c.overflow || !known {
			d.freshKeys = append(d.freshKeys, k)
			if !d.countFromTable {
				if len(d.c.members)+len(d.freshKeys) > r.opts.Campaign.MaxMembers {
					d.countFromTable = true
				} else {
					d.alert.EntityCount++
				}
			}
		}
	}
	m.Count += n
	if first.Before(m.FirstSeen) {
		m.FirstSeen = first
	}
	if last.After(m.LastSeen) {
		m.LastSeen = last
	}
}

// applyDelta makes a committed batch's campaign changes current and
// returns the change hooks see.
func (r *Recorder) applyDelta(d *campDelta) Change {
	c := d.c
	c.alert = d.alert
	c.alert.Event = nil
	fresh := make([]Member, 0, len(d.freshKeys))
	for _, k := range d.freshKeys {
		if !slices.Contains(d.founders, k) {
			fresh = append(fresh, *d.members[k])
		}
	}
	if d.countFromTable {
		c.overflow, c.members = true, nil
	} else if !c.overflow {
		for _, k := range d.freshKeys {
			c.members[k] = struct{}{}
		}
	}
	if d.isNew {
		r.camps[d.alert.RuleID] = c
		delete(r.track, d.alert.RuleID)
	}
	return Change{Alert: d.alert, New: d.isNew, Added: d.added, Event: d.ev, Members: fresh}
}

// lookupSQL finds the open alert of a dedup key (by the alerts_dedup
// index); the recorder asks it only when its index is incomplete. Testing
// status || ” (an expression no index covers; SQLite's unary + does the
// same but is no operator on text in PostgreSQL) keeps the planner off the
// (status, last_seen) index, which it would otherwise pick and so read
// every open alert of the window for each lookup (TestHotPathPlans).
const lookupSQL = `SELECT ` + alertColumns + ` FROM alerts WHERE dedup_key = ? AND last_seen >= ? AND status || '' = 'open' ORDER BY last_seen DESC LIMIT 1`

// lookup finds the open alert of key last seen after since.
func (r *Recorder) lookup(ctx context.Context, tx *sql.Tx, key string, since time.Time) (*Alert, error) {
	a, err := scanAlert(tx.QueryRowContext(ctx, lookupSQL, key, since.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// evict drops indexed alerts that can no longer take repeats; past
// MaxOpen it drops them all and consults the table on misses from then
// on.
func (r *Recorder) evict() {
	if len(r.live) <= r.opts.MaxOpen {
		return
	}
	cut := r.newest.Add(-r.opts.Window)
	for k, a := range r.live {
		if a.LastSeen.Before(cut) {
			delete(r.live, k)
		}
	}
	if n := len(r.live); n > r.opts.MaxOpen {
		clear(r.live)
		r.complete = false
		if r.opts.OnEvict != nil {
			r.opts.OnEvict(n)
		}
	}
}

// Forget reloads the index of open alerts after their status changed
// elsewhere (an incident closed them), so later repeats do not fold into
// a closed alert. Open campaigns keep their member sets.
func (r *Recorder) Forget() {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	old := r.camps
	r.camps = map[string]*campaign{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.loadOpen(ctx); err != nil {
		r.log.Error("reloading open alerts", "err", err)
		clear(r.live)
		r.complete = false
		return
	}
	for rule, c := range r.camps {
		if o := old[rule]; o != nil && o.alert.ID == c.alert.ID {
			o.alert.Status = c.alert.Status
			r.camps[rule] = o
		}
	}
}

// Flush waits until every detection recorded before the call is committed
// and its hooks have run.
func (r *Recorder) Flush() {
	done := make(chan struct{})
	r.ch <- &pending{flushed: done}
	<-done
}

// AddSuppression stores a suppression and applies it at once. admin says
// whether its author is an admin: see CheckSuppression for what only an
// admin may add.
func (r *Recorder) AddSuppression(ctx context.Context, s *Suppression, admin bool) error {
	r.sup.mu.Lock()
	defer r.sup.mu.Unlock()
	now := r.opts.Now()
	if err := CheckSuppression(s, admin, now, r.opts.SuppressionMaxExpiry); err != nil {
		return err
	}
	if err := r.store.CreateSuppression(ctx, s, now); err != nil {
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
	r.stopping.Store(true)
	r.closing.Do(func() { close(r.ch) })
	r.wg.Wait()
}
