package detect

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Correlation semantics (see docs/detection.md):
//
//   - Every match of a referenced rule (or completion of a referenced
//     correlation) is an entry at its event time in the group given by the
//     correlation's group-by values (aliases resolved per referenced rule).
//   - When an entry arrives, the windows of length timespan that contain it
//     are evaluated ([t-timespan, t], and for late events also the windows
//     ending at the later entries up to t+timespan); if the condition holds,
//     the correlation matches and the group's entries are cleared, so one
//     burst gives one detection.
//   - Entries older than the group's newest entry minus timespan are
//     dropped. State is bounded by Options.MaxGroups and
//     Options.MaxGroupEntries (oldest entry dropped); both are counted in
//     Stats. Groups are evicted by a segmented LRU: a group seen once waits
//     on probation, a group seen again is protected, and the least recently
//     used group on probation goes first (a protected one only while
//     protected groups hold more than 80 % of MaxGroups, or nothing is on
//     probation). So a flood of one-off keys (internet noise: one failed
//     login from each of a million addresses) churns probation and does
//     not push out the groups that are building up to a detection, such as
//     each address of a brute-force wave.

// ccorr is a compiled correlation rule.
type ccorr struct {
	idx     int
	rule    *sigma.Rule
	typ     sigma.CorrelationType
	span    time.Duration
	ops     []sigma.Threshold
	pct     float64
	ninputs int
	groupBy []string
	// groupKey lists, per input and per group-by field, the event keys
	// that may hold the field: its name as written, then what each
	// logsource source of the input rule maps it to (c-ip is source.ip
	// in nginx's events). The first one an event has is its value.
	groupKey [][][]event.Key
	valKeys  [][]event.Key // input -> value field keys
	emit     bool
	parents  []corrInput
	// capHint is the most entries a group of this correlation holds when
	// that is known (an event count that completes at N), else 0.
	capHint int
}

// corrInput is a link from a referenced rule or correlation to a
// correlation, with the referenced rule's input index there.
type corrInput struct {
	c     *ccorr
	input int
}

// entry is one match in a group. Groups can number hundreds of
// thousands (one per attacking address of a wave), each holding up to the
// correlation's threshold of entries, so an entry is small: its time in
// Unix nanoseconds and its input (24 bytes); the measured value and the
// kept event, which an event count under KeepFields has none of, hang off
// it only when there are any.
type entry struct {
	t     int64
	aux   *entryAux
	input int32
}

// entryAux is the part of an entry most correlations do not need.
type entryAux struct {
	val  string
	num  float64
	hasN bool
	ev   *event.Event
}

func (x entry) event() *event.Event {
	if x.aux == nil {
		return nil
	}
	return x.aux.ev
}

func (x entry) value() string {
	if x.aux == nil {
		return ""
	}
	return x.aux.val
}

func (x *entry) dropEvent() {
	if x.aux != nil {
		x.aux.ev = nil
	}
}

// when is the entry's time: at, if that is the same instant (keeping its
// location), else from its nanoseconds.
func (x entry) when(at time.Time) time.Time {
	if nanos(at) == x.t {
		return at
	}
	return time.Unix(0, x.t).UTC()
}

// nanos is t in Unix nanoseconds, clamped to what an int64 holds (event
// times come from the events, and a hostile one may be any year).
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minNanos, maxNanos = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

type group struct {
	c       *ccorr
	key     string  // the correlation's index, then each group-by value after a NUL
	entries []entry // sorted by time
	// prev and next link the group into its LRU list (intrusive: a
	// list element per group would cost an allocation and 48 bytes).
	prev, next *group
	// prot is set once the group was seen twice: it then lives on the
	// protected list.
	prot bool
	// dig is, with Options.KeepFields, the distinct kept field values of
	// the group's entries (see digest): what a detection reports of its
	// contributing events, without keeping the events.
	dig string
}

// correlator holds the correlation rules and their state.
type correlator struct {
	corrs  []*ccorr
	maxEv  int
	maxGrp int
	maxEnt int
	// keepKeys are Options.KeepFields (nil: keep whole events).
	keepKeys map[event.Key]bool
	keyBuf   []byte // group keys are built here (under mu)
	mu       sync.Mutex
	groups   map[string]*group
	lru      glist // protected groups; front: most recently used
	lruProb  glist // groups on probation; front: most recently used
	evicted  atomic.Int64
	dropped  atomic.Int64
	matched  atomic.Int64
}

// CorrelationStats reports the correlation state.
type CorrelationStats struct {
	// Groups is how many groups are held now.
	Groups int
	// EvictedGroups counts groups dropped because MaxGroups was reached.
	EvictedGroups int64
	// DroppedEntries counts entries dropped because a group held
	// MaxGroupEntries.
	DroppedEntries int64
	// Matches counts correlation matches.
	Matches int64
}

// CorrelationStats returns counters of the correlation state.
func (e *Engine) CorrelationStats() CorrelationStats {
	if e.corr == nil {
		return CorrelationStats{}
	}
	c := e.corr
	c.mu.Lock()
	n := len(c.groups)
	c.mu.Unlock()
	return CorrelationStats{Groups: n, EvictedGroups: c.evicted.Load(), DroppedEntries: c.dropped.Load(), Matches: c.matched.Load()}
}

func newCorrelator(e *Engine, corrs []*sigma.Rule, byRef map[string]*sigma.Rule, ruleOf map[*sigma.Rule]*crule) (*correlator, []Skipped) {
	c := &correlator{
		maxEv:    e.opts.MaxEventsPerDetection,
		maxGrp:   e.opts.MaxGroups,
		maxEnt:   e.opts.MaxGroupEntries,
		keepKeys: keepKeys(e.opts.KeepFields),
		groups:   map[string]*group{},
	}
	var skipped []Skipped
	compiled := map[*sigma.Rule]*ccorr{}
	bad := map[*sigma.Rule]error{}
	// Resolve in dependency order: a correlation is compiled after the
	// correlations it references.
	var build func(r *sigma.Rule, depth int) (*ccorr, error)
	build = func(r *sigma.Rule, depth int) (*ccorr, error) {
		if cc, ok := compiled[r]; ok {
			return cc, nil
		}
		if err, ok := bad[r]; ok {
			return nil, err
		}
		if depth > 32 {
			return nil, fmt.Errorf("%w: correlation chain too deep or cyclic", ErrUnsupported)
		}
		cc, err := c.compile(e, r, byRef, ruleOf, func(t *sigma.Rule) (*ccorr, error) { return build(t, depth+1) })
		if err != nil {
			bad[r] = err
			return nil, err
		}
		compiled[r] = cc
		return cc, nil
	}
	for _, r := range corrs {
		if _, err := build(r, 0); err != nil {
			skipped = append(skipped, Skipped{Rule: r, Reason: err})
		}
	}
	for _, r := range corrs {
		if cc, ok := compiled[r]; ok {
			cc.idx = len(c.corrs)
			c.corrs = append(c.corrs, cc)
		}
	}
	// Generation: a rule or correlation referenced by correlations emits
	// its own matches only if one of them sets generate.
	for _, cc := range c.corrs {
		cc.emit = true
	}
	for _, cc := range c.corrs {
		for _, ref := range cc.rule.Correlation.Rules {
			t := byRef[ref]
			if cr := ruleOf[t]; cr != nil && !anyGenerate(cr.corrs) {
				cr.emit = false
			}
			if inner := compiled[t]; inner != nil && !anyGenerateInputs(inner.parents) {
				inner.emit = false
			}
		}
	}
	return c, skipped
}

func anyGenerate(cs []*ccorr) bool {
	for _, c := range cs {
		if c.rule.Correlation.Generate {
			return true
		}
	}
	return false
}

// groupCandidates returns the keys that may hold group-by field name in
// the events of input rule t: name itself, then its mapping in every
// logsource source that provides t's logsource (a correlation input that
// is itself a correlation reports events with the names as written).
func groupCandidates(e *Engine, t *sigma.Rule, name string) []event.Key {
	keys := []event.Key{event.Intern(name)}
	if t.Kind != sigma.KindDetection || e.table == nil {
		return keys
	}
	for _, s := range e.table.Covering(evLogsource(t.Logsource)) {
		k := event.Intern(e.table.Field(s, name))
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func anyGenerateInputs(ps []corrInput) bool {
	for _, p := range ps {
		if p.c.rule.Correlation.Generate {
			return true
		}
	}
	return false
}

func (c *correlator) compile(e *Engine, r *sigma.Rule, byRef map[string]*sigma.Rule, ruleOf map[*sigma.Rule]*crule, inner func(*sigma.Rule) (*ccorr, error)) (*ccorr, error) {
	co := r.Correlation
	cc := &ccorr{
		rule:    r,
		typ:     co.Type,
		span:    co.Timespan,
		groupBy: co.GroupBy,
		ninputs: len(co.Rules),
	}
	switch co.Type {
	case sigma.CorrEventCount, sigma.CorrValueCount, sigma.CorrTemporal, sigma.CorrTemporalOrdered,
		sigma.CorrValueSum, sigma.CorrValueAvg, sigma.CorrValuePercentile:
	default:
		return nil, fmt.Errorf("%w: correlation type %q", ErrUnsupported, co.Type)
	}
	if cc.span <= 0 {
		return nil, fmt.Errorf("%w: correlation without a positive timespan", ErrUnsupported)
	}
	if co.Condition != nil {
		cc.ops = co.Condition.Ops
		cc.pct = co.Condition.Percentile
	}
	if co.Type == sigma.CorrEventCount {
		// A count that only has to reach N completes (and clears the
		// group) at its N-th entry: a group never holds more, so its
		// entries get room for N at once instead of growing by doubling.
		for _, op := range cc.ops {
			if (op.Op == sigma.OpGTE || op.Op == sigma.OpGT) && op.Value >= 1 && op.Value < 1e6 {
				cc.capHint = int(op.Value) + 1
				if op.Op == sigma.OpGTE {
					cc.capHint = int(math.Ceil(op.Value))
				}
			}
		}
	}
	if len(cc.ops) == 0 && co.Type != sigma.CorrTemporal && co.Type != sigma.CorrTemporalOrdered {
		return nil, fmt.Errorf("%w: %s correlation without a condition", ErrUnsupported, co.Type)
	}
	if co.Type.NeedsField() && (co.Condition == nil || len(co.Condition.Field) == 0) {
		return nil, fmt.Errorf("%w: %s correlation without a condition field", ErrUnsupported, co.Type)
	}
	if cc.pct == 0 {
		cc.pct = 50
	}
	type link struct {
		cr *crule
		cc *ccorr
	}
	var links []link
	for i, ref := range co.Rules {
		t, ok := byRef[ref]
		if !ok {
			return nil, fmt.Errorf("%w: correlation names %q", ErrReference, ref)
		}
		// Field names per input, with aliases resolved by the referenced
		// rule's name or id.
		fieldFor := func(name string) string {
			if m, ok := co.Aliases[name]; ok {
				for _, k := range []string{t.Name, t.ID, ref} {
					if f, ok := m[k]; ok && k != "" {
						return f
					}
				}
			}
			return name
		}
		var gk [][]event.Key
		var vk []event.Key
		for _, g := range co.GroupBy {
			gk = append(gk, groupCandidates(e, t, fieldFor(g)))
		}
		if co.Condition != nil {
			for _, f := range co.Condition.Field {
				vk = append(vk, event.Intern(fieldFor(f)))
			}
		}
		cc.groupKey = append(cc.groupKey, gk)
		cc.valKeys = append(cc.valKeys, vk)
		if c.keepKeys != nil {
			// Kept events feed chained correlations: keep what they read.
			for _, ks := range append(gk, vk) {
				for _, k := range ks {
					c.keepKeys[k] = true
				}
			}
		}
		switch t.Kind {
		case sigma.KindDetection:
			cr := ruleOf[t]
			if cr == nil {
				return nil, fmt.Errorf("%w: correlation names rule %q, which is not loaded", ErrReference, ref)
			}
			links = append(links, link{cr: cr})
		case sigma.KindCorrelation:
			ic, err := inner(t)
			if err != nil {
				return nil, fmt.Errorf("%w: correlation names %q: %v", ErrReference, ref, err)
			}
			links = append(links, link{cc: ic})
		default:
			return nil, fmt.Errorf("%w: correlation names filter %q", ErrUnsupported, ref)
		}
		_ = i
	}
	for i, l := range links {
		if l.cr != nil {
			l.cr.corrs = append(l.cr.corrs, cc)
			l.cr.corrInputs = append(l.cr.corrInputs, i)
		} else {
			l.cc.parents = append(l.cc.parents, corrInput{c: cc, input: i})
		}
	}
	return cc, nil
}

// feed records a match of rule cr on ev in the correlations that reference
// it, and calls fn for each correlation that matches as a result.
func (c *correlator) feed(cr *crule, ev *event.Event, fn func(Detection)) {
	// The state outlives this call: keep a copy, so that callers may reuse
	// ev once Match returns.
	var kept *event.Event
	if c.keepKeys == nil && c.maxEv > 1 {
		kept = c.keep(ev) // with one event per detection, the completing one is live
	}
	var out []Detection
	c.mu.Lock()
	for i, cc := range cr.corrs {
		out = c.add(cc, cr.corrInputs[i], ev, kept, ev.Timestamp(), out)
	}
	c.mu.Unlock()
	for _, d := range out {
		fn(d)
	}
}

// keep returns the copy of ev that correlation state holds: a deep copy,
// or with Options.KeepFields only those fields, their text copied so that
// it does not pin the event's raw line or parse buffers.
func (c *correlator) keep(ev *event.Event) *event.Event {
	if c.keepKeys == nil {
		return ev.Clone()
	}
	k := &event.Event{Time: ev.Time, Received: ev.Received, Input: ev.Input, Logsource: ev.Logsource}
	// State may hold this copy for the whole window, in up to MaxGroups
	// groups: its fields are counted first so that their slice has its
	// exact size (growing it by appends left up to half of it unused), and
	// their texts are copied into one string, so that a copy costs two
	// allocations whatever its number of fields.
	n, size := 0, 0
	for _, f := range ev.Fields {
		if c.keepKeys[f.Key] {
			n++
			size += len(f.Value.Str)
		}
	}
	if n == 0 {
		return k
	}
	var sb strings.Builder
	sb.Grow(size)
	k.Fields = make([]event.Field, 0, n)
	for _, f := range ev.Fields {
		if c.keepKeys[f.Key] {
			sb.WriteString(f.Value.Str)
			k.Fields = append(k.Fields, f)
		}
	}
	text, off := sb.String(), 0
	for i := range k.Fields {
		l := len(k.Fields[i].Value.Str)
		k.Fields[i].Value.Str = text[off : off+l]
		off += l
	}
	return k
}

// add records an entry and appends the resulting detections (this
// correlation's, if it emits, and those of correlations chained on it).
//
// ev is the event as matched, kept the copy the state may hold (ev itself
// for a chained correlation's detection).
func (c *correlator) add(cc *ccorr, input int, ev, kept *event.Event, t time.Time, out []Detection) []Detection {
	g := c.group(cc, input, ev)
	tn, span := nanos(t), int64(cc.span)
	en := entry{t: tn, input: int32(input)}
	if kept != nil && len(g.entries) > 0 {
		// A group's first entry keeps no event copy: most groups are
		// one-offs that never complete (one failed login from each of a
		// million addresses), and the copy would be most of their memory.
		// A detection's Events then start at the second entry; the
		// completing event is always there.
		en.aux = &entryAux{ev: kept}
	}
	if keys := cc.valKeys[input]; len(keys) > 0 {
		if en.aux == nil {
			en.aux = &entryAux{}
		}
		var sb strings.Builder
		present := false
		for j, k := range keys {
			v, ok := ev.Get(k)
			if ok {
				present = true
			}
			if j > 0 {
				sb.WriteByte(0)
			}
			sb.WriteString(v.Str)
			if j == 0 && ok {
				if n, ok := numberOf(v); ok {
					en.aux.num, en.aux.hasN = n, true
				}
			}
		}
		if !present && cc.typ != sigma.CorrEventCount {
			return out // the measured field is absent: nothing to count
		}
		en.aux.val = sb.String()
	}
	if n, want := len(g.entries), min(cc.capHint, c.maxEnt); n > 0 && n == cap(g.entries) && want > n {
		g.entries = slices.Grow(g.entries, want-n)
	}
	if c.keepKeys != nil {
		g.dig = c.digest(g.dig, ev)
	}
	// Insert in time order; events usually arrive in order.
	i := sort.Search(len(g.entries), func(i int) bool { return g.entries[i].t > tn })
	g.entries = slices.Insert(g.entries, i, en)
	// Only the newest maxEv entries keep their event (a detection carries
	// no more): the group's memory is entries of a few words each, not
	// whole events.
	if k := len(g.entries) - 1 - c.maxEv; k >= 0 {
		if i <= k {
			g.entries[i].dropEvent()
		} else {
			g.entries[k].dropEvent()
		}
	}
	newest := g.entries[len(g.entries)-1].t
	// Drop what no window can reach any more, then enforce the cap.
	cut := sort.Search(len(g.entries), func(i int) bool { return g.entries[i].t >= newest-span })
	if cut > 0 {
		g.entries = slices.Delete(g.entries, 0, cut)
	}
	if over := len(g.entries) - c.maxEnt; over > 0 {
		g.entries = slices.Delete(g.entries, 0, over)
		c.dropped.Add(int64(over))
	}
	// Windows containing t: ending at t, and (late events) ending at each
	// later entry up to t+span.
	var endsBuf [8]int64 // on the stack unless late events need more
	ends := append(endsBuf[:0], tn)
	for _, x := range g.entries {
		if x.t > tn && x.t <= tn+span && len(ends) < 64 {
			if x.t != ends[len(ends)-1] {
				ends = append(ends, x.t)
			}
		}
	}
	for _, end := range ends {
		lo := sort.Search(len(g.entries), func(i int) bool { return g.entries[i].t >= end-span })
		hi := sort.Search(len(g.entries), func(i int) bool { return g.entries[i].t > end })
		win := g.entries[lo:hi]
		v, ok := cc.measure(win)
		if !ok || !cc.holds(v) {
			continue
		}
		c.matched.Add(1)
		last := win[len(win)-1]
		lastEv := last.event()
		if lastEv == kept || lastEv == nil {
			// The window ends with this event (use it whole), or a late
			// event closed a window whose own events were pruned.
			lastEv = ev
		}
		d := Detection{
			Rule:  cc.rule,
			Event: lastEv,
			Time:  last.when(t),
			First: win[0].when(t),
			Group: g.values(),
			Count: len(win),
			Value: v,
		}
		if c.keepKeys != nil {
			if g.dig != "" {
				d.Events = []*event.Event{fromDigest(g.dig, time.Unix(0, win[0].t).UTC(), ev)}
			}
		} else {
			from := max(0, len(win)-c.maxEv)
			for _, x := range win[from:] {
				if xe := x.event(); xe != nil {
					d.Events = append(d.Events, xe)
				}
			}
		}
		g.entries, g.dig = g.entries[:0], ""
		if cc.emit {
			out = append(out, d)
		}
		for _, p := range cc.parents {
			var kept *event.Event
			if c.keepKeys == nil && c.maxEv > 1 {
				kept = c.keep(d.Event)
			}
			out = c.add(p.c, p.input, d.Event, kept, d.Time, out)
		}
		break
	}
	return out
}

// group returns (creating, and evicting when full) the group of ev.
func (c *correlator) group(cc *ccorr, input int, ev *event.Event) *group {
	// The key is built in a buffer reused under c.mu; looking it up does
	// not allocate, only a new group does.
	b := strconv.AppendInt(c.keyBuf[:0], int64(cc.idx), 10)
	for _, ks := range cc.groupKey[input] {
		var v event.Value
		for _, k := range ks {
			if x, ok := ev.Get(k); ok {
				v = x
				break
			}
		}
		b = append(b, 0)
		b = append(b, v.Str...)
	}
	c.keyBuf = b
	if g, ok := c.groups[string(b)]; ok {
		if g.prot {
			c.lru.moveToFront(g)
		} else {
			c.lruProb.remove(g)
			g.prot = true
			c.lru.pushFront(g)
		}
		return g
	}
	key := string(b)
	// At the cap the least recently seen group goes, and its memory (the
	// group, its list element, its slices) becomes the new one's: under a
	// flood of new keys (random source addresses) the state then costs no
	// allocation beyond the key.
	var g *group
	for len(c.groups) >= c.maxGrp {
		og := c.victim()
		delete(c.groups, og.key)
		c.evicted.Add(1)
		c.listOf(og).remove(og)
		g = og
	}
	if g != nil {
		clear(g.entries) // drop their events
		*g = group{c: cc, key: key, entries: g.entries[:0]}
	} else {
		g = &group{c: cc, key: key}
	}
	c.lruProb.pushFront(g)
	c.groups[key] = g
	return g
}

// values returns the group's group-by values, from its key (they are
// not kept twice).
func (g *group) values() []GroupValue {
	if len(g.c.groupBy) == 0 {
		return nil
	}
	_, rest, _ := strings.Cut(g.key, "\x00")
	parts := strings.SplitN(rest, "\x00", len(g.c.groupBy))
	out := make([]GroupValue, len(g.c.groupBy))
	for i, f := range g.c.groupBy {
		out[i].Field = f
		if i < len(parts) {
			out[i].Value = parts[i]
		}
	}
	return out
}

// victim is the group to evict: the least recently used on probation,
// unless the protected groups hold more than 80 % of the cap (or nothing
// is on probation).
func (c *correlator) victim() *group {
	if c.lruProb.n == 0 || c.lru.n*5 > c.maxGrp*4 {
		return c.lru.tail
	}
	return c.lruProb.tail
}

func (c *correlator) listOf(g *group) *glist {
	if g.prot {
		return &c.lru
	}
	return &c.lruProb
}

// glist is a doubly linked list of groups through their prev and next.
type glist struct {
	head, tail *group
	n          int
}

func (l *glist) pushFront(g *group) {
	g.prev, g.next = nil, l.head
	if l.head != nil {
		l.head.prev = g
	} else {
		l.tail = g
	}
	l.head = g
	l.n++
}

func (l *glist) remove(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		l.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		l.tail = g.prev
	}
	g.prev, g.next = nil, nil
	l.n--
}

func (l *glist) moveToFront(g *group) {
	if l.head != g {
		l.remove(g)
		l.pushFront(g)
	}
}

// measure computes the correlation's quantity over a window; ok is false
// when it is undefined (no numeric values for value_avg, ...).
func (cc *ccorr) measure(win []entry) (float64, bool) {
	switch cc.typ {
	case sigma.CorrEventCount:
		return float64(len(win)), true
	case sigma.CorrValueCount:
		seen := map[string]bool{}
		for _, x := range win {
			seen[x.value()] = true
		}
		return float64(len(seen)), true
	case sigma.CorrTemporal:
		seen := make([]bool, cc.ninputs)
		n := 0
		for _, x := range win {
			if !seen[x.input] {
				seen[x.input] = true
				n++
			}
		}
		return float64(n), true
	case sigma.CorrTemporalOrdered:
		// Longest prefix of the rule list matched in order (strictly
		// increasing entries, ties in time allowed in list order).
		n := 0
		for _, x := range win {
			if n < cc.ninputs && int(x.input) == n {
				n++
			}
		}
		return float64(n), true
	case sigma.CorrValueSum, sigma.CorrValueAvg, sigma.CorrValuePercentile:
		var nums []float64
		for _, x := range win {
			if x.aux != nil && x.aux.hasN {
				nums = append(nums, x.aux.num)
			}
		}
		if len(nums) == 0 {
			return 0, false
		}
		switch cc.typ {
		case sigma.CorrValueSum:
			s := 0.0
			for _, n := range nums {
				s += n
			}
			return s, true
		case sigma.CorrValueAvg:
			s := 0.0
			for _, n := range nums {
				s += n
			}
			return s / float64(len(nums)), true
		default:
			slices.Sort(nums)
			// Nearest-rank percentile.
			r := int(math.Ceil(cc.pct / 100 * float64(len(nums))))
			r = min(max(r, 1), len(nums))
			return nums[r-1], true
		}
	}
	return 0, false
}

func (cc *ccorr) holds(v float64) bool {
	if len(cc.ops) == 0 { // temporal without condition: every rule
		return v >= float64(cc.ninputs)
	}
	for _, op := range cc.ops {
		if !op.Op.Holds(v, op.Value) {
			return false
		}
	}
	return true
}

// TransferState moves the correlation state of old into e, for hot reload:
// groups of correlations with the same rule id (or title, when there is no
// id), type and timespan carry over; others are dropped. Call it before e
// receives events; old must no longer be used.
func (e *Engine) TransferState(old *Engine) {
	if e.corr == nil || old == nil || old.corr == nil {
		return
	}
	ident := func(cc *ccorr) string {
		return cc.rule.ID + "\x00" + cc.rule.Title + "\x00" + string(cc.typ) + "\x00" + cc.span.String() + "\x00" + strconv.Itoa(cc.ninputs)
	}
	target := map[string]*ccorr{}
	for _, cc := range e.corr.corrs {
		target[ident(cc)] = cc
	}
	old.corr.mu.Lock()
	defer old.corr.mu.Unlock()
	e.corr.mu.Lock()
	defer e.corr.mu.Unlock()
	// Probation first, then protected, each oldest first: pushed to the
	// front in that order, the protected groups end up the most recent.
	var olds []*group
	for _, l := range []*glist{&old.corr.lruProb, &old.corr.lru} {
		for g := l.tail; g != nil; g = g.prev {
			olds = append(olds, g)
		}
	}
	for _, og := range olds {
		cc, ok := target[ident(og.c)]
		if !ok {
			continue
		}
		_, rest, _ := strings.Cut(og.key, "\x00")
		key := strconv.Itoa(cc.idx) + "\x00" + rest
		if len(og.c.groupBy) == 0 {
			key = strconv.Itoa(cc.idx)
		}
		if len(e.corr.groups) >= e.corr.maxGrp {
			break
		}
		g := &group{c: cc, key: key, entries: og.entries, prot: og.prot, dig: og.dig}
		e.corr.listOf(g).pushFront(g)
		e.corr.groups[key] = g
	}
}

// Digest limits: a value longer than maxDigestValue is cut, and values
// past maxDigest bytes in all are not added.
const (
	maxDigestValue = 256
	maxDigest      = 1024
)

// digest adds the kept field values of ev that dig lacks. A digest is a
// string of records: the field key (4 bytes, little endian), the value's
// length (2 bytes) and the value. It stands for a group's contributing
// events where Options.KeepFields are all that is used of them (alert
// entities): the users a brute force tried, its source, its host — a
// hundred bytes or so for ten events, where copies of the events would be
// a few kilobytes, and a wave of 100,000 addresses holds 100,000 groups.
func (c *correlator) digest(dig string, ev *event.Event) string {
	var add []byte
	for _, f := range ev.Fields {
		if !c.keepKeys[f.Key] || f.Value.Str == "" {
			continue
		}
		v := f.Value.Str
		if len(v) > maxDigestValue {
			v = v[:maxDigestValue]
		}
		if digestHas(dig, f.Key, v) || digestHas(string(add), f.Key, v) {
			continue
		}
		if len(dig)+len(add)+6+len(v) > maxDigest {
			break
		}
		add = append(add, byte(f.Key), byte(f.Key>>8), byte(f.Key>>16), byte(f.Key>>24), byte(len(v)), byte(len(v)>>8))
		add = append(add, v...)
	}
	if len(add) == 0 {
		return dig
	}
	return dig + string(add)
}

// digestRecords calls fn for each record of dig.
func digestRecords(dig string, fn func(k event.Key, v string) bool) {
	for len(dig) >= 6 {
		k := event.Key(uint32(dig[0]) | uint32(dig[1])<<8 | uint32(dig[2])<<16 | uint32(dig[3])<<24)
		n := int(dig[4]) | int(dig[5])<<8
		if len(dig) < 6+n {
			return
		}
		if !fn(k, dig[6:6+n]) {
			return
		}
		dig = dig[6+n:]
	}
}

func digestHas(dig string, k event.Key, v string) bool {
	found := false
	digestRecords(dig, func(k2 event.Key, v2 string) bool {
		found = k2 == k && v2 == v
		return !found
	})
	return found
}

// fromDigest is the event a detection reports for its contributing
// events: every distinct kept value, at the time of the first of them,
// with the completing event's input and logsource.
func fromDigest(dig string, first time.Time, last *event.Event) *event.Event {
	ev := &event.Event{Time: first, Received: last.Received, Input: last.Input, Logsource: last.Logsource}
	digestRecords(dig, func(k event.Key, v string) bool {
		ev.Fields = append(ev.Fields, event.Field{Key: k, Value: event.String(v)})
		return true
	})
	return ev
}

func keepKeys(names []string) map[event.Key]bool {
	if names == nil {
		return nil
	}
	m := make(map[event.Key]bool, len(names))
	for _, n := range names {
		m[event.Intern(n)] = true
	}
	return m
}
