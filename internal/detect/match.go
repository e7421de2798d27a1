package detect

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/logsource"
	"github.com/vigilsec/vigil/internal/sigma"
)

// plan is the evaluation plan of one routing outcome: the candidate
// instances and the literal prefilters over their fields.
type plan struct {
	insts  []int32 // sorted
	always []int32 // instances without anchors, sorted
	pfs    []*fieldPF
	keyPF  []int16 // event.Key -> index in pfs + 1 (0: none)
	// alwaysHit are atoms that the prefilter could not index (automaton
	// size bound); they count as hit for every event, and no atom of the
	// plan then proves its item (inexact).
	alwaysHit []int32
	inexact   bool
	// approx marks atoms found (also) through window sets: their hits do
	// not prove their items.
	approx []bool
	// needleAtoms maps a plan-wide needle id (automaton output) to its
	// atoms, so that a needle occurring many times is expanded once.
	needleAtoms [][]int32
}

// fieldPF is the prefilter of one field: exact values and needles.
type fieldPF struct {
	key event.Key
	eq  map[string][]int32
	ac  *acMatcher // needles shorter than winLen (or not ASCII at the end)
	win *windowSet // the other needles
}

func (p *plan) markApprox(e *Engine, a int32) {
	if p.approx == nil {
		p.approx = make([]bool, e.numAtoms)
	}
	p.approx[a] = true
}

func (p *plan) pfFor(k event.Key) *fieldPF {
	if int(k) < len(p.keyPF) {
		if i := p.keyPF[k]; i > 0 {
			return p.pfs[i-1]
		}
	}
	return nil
}

// scratch is per-evaluation state, pooled per engine.
type scratch struct {
	epoch    uint32
	atomEp   []uint32 // atom -> epoch when it hit
	instEp   []uint32 // instance -> epoch when it became a candidate
	cands    []int32
	hits     []int32
	srcs     []int
	key      []byte
	lowEp    []uint32 // field index -> epoch when low[i] was set
	low      []string
	needleEp []uint32 // plan needle id -> epoch when it hit
	rawEp    uint32   // epoch when rawLow was set
	rawLow   string
	// Field index by key, built lazily once per evaluation: keyFirst[k]
	// is the first field of key k when keyEp[k] is the epoch; next[i] the
	// next field with the same key as field i (-1: none).
	indexed  bool
	exactOK  bool   // the plan's exact atoms prove their items
	approx   []bool // the plan's approx atoms
	keyEp    []uint32
	keyFirst []int32
	next     []int32
	arena    []byte
	ev       *event.Event
}

func newScratch() *scratch { return &scratch{} }

func (sc *scratch) reset(e *Engine, ev *event.Event) {
	if len(sc.atomEp) < e.numAtoms {
		sc.atomEp = make([]uint32, e.numAtoms)
	}
	if len(sc.instEp) < len(e.insts) {
		sc.instEp = make([]uint32, len(e.insts))
	}
	if len(sc.lowEp) < len(ev.Fields) {
		sc.lowEp = make([]uint32, len(ev.Fields)+16)
		sc.low = make([]string, len(sc.lowEp))
	}
	sc.epoch++
	if sc.epoch == 0 { // wrapped: clear and start over
		clear(sc.atomEp)
		clear(sc.instEp)
		clear(sc.lowEp)
		clear(sc.keyEp)
		clear(sc.needleEp)
		sc.rawEp = 0
		sc.epoch = 1
	}
	sc.cands = sc.cands[:0]
	sc.arena = sc.arena[:0]
	sc.ev = ev
	sc.indexed = false
}

// maxIndexedKey bounds the key index; fields with larger keys (only with
// huge numbers of distinct field names) are found by scanning.
const maxIndexedKey = 1 << 18

func (sc *scratch) index() {
	ev := sc.ev
	if cap(sc.next) < len(ev.Fields) {
		sc.next = make([]int32, len(ev.Fields)+16)
	}
	sc.next = sc.next[:len(ev.Fields)]
	for i := len(ev.Fields) - 1; i >= 0; i-- {
		k := ev.Fields[i].Key
		if k >= maxIndexedKey {
			continue
		}
		if int(k) >= len(sc.keyEp) {
			n := max(int(k)+1, 2*len(sc.keyEp), 1024)
			n = min(n, maxIndexedKey)
			ep := make([]uint32, n)
			copy(ep, sc.keyEp)
			fi := make([]int32, n)
			copy(fi, sc.keyFirst)
			sc.keyEp, sc.keyFirst = ep, fi
		}
		if sc.keyEp[k] == sc.epoch {
			sc.next[i] = sc.keyFirst[k]
		} else {
			sc.next[i] = -1
			sc.keyEp[k] = sc.epoch
		}
		sc.keyFirst[k] = int32(i)
	}
	sc.indexed = true
}

// first returns the index of the first field of key k, or -1.
func (sc *scratch) first(k event.Key) int {
	if k >= maxIndexedKey {
		for i := range sc.ev.Fields {
			if sc.ev.Fields[i].Key == k {
				return i
			}
		}
		return -1
	}
	if !sc.indexed {
		sc.index()
	}
	if int(k) < len(sc.keyEp) && sc.keyEp[k] == sc.epoch {
		return int(sc.keyFirst[k])
	}
	return -1
}

// nextOf returns the index of the next field after i with the same key,
// or -1.
func (sc *scratch) nextOf(i int) int {
	k := sc.ev.Fields[i].Key
	if k >= maxIndexedKey {
		for j := i + 1; j < len(sc.ev.Fields); j++ {
			if sc.ev.Fields[j].Key == k {
				return j
			}
		}
		return -1
	}
	return int(sc.next[i])
}

// lowered returns field i of the event lowered, computing it once per
// evaluation. The string aliases the scratch arena and is valid until the
// next reset.
func (sc *scratch) lowered(i int) string {
	if sc.lowEp[i] == sc.epoch {
		return sc.low[i]
	}
	s := sc.ev.Fields[i].Value.Str
	l := sc.lowerText(s)
	sc.low[i] = l
	sc.lowEp[i] = sc.epoch
	return l
}

func (sc *scratch) lowerText(s string) string {
	need := false
	for j := 0; j < len(s); j++ {
		if c := s[j]; ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	start := len(sc.arena)
	if cap(sc.arena)-start < len(s) {
		// Grow into a new array: strings handed out earlier keep the old
		// one alive and unchanged.
		sc.arena = make([]byte, 0, max(2*cap(sc.arena), start+len(s), 4096))
		start = 0
	}
	sc.arena = appendLower(sc.arena, s)
	b := sc.arena[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Match evaluates ev against the engine and calls fn for every detection,
// in rule order, then for correlations that complete. It is safe for
// concurrent use; fn is called on the calling goroutine. Match keeps no
// reference to ev once it returns (correlation state holds copies), so the
// caller may reuse an event that no detection handed to fn refers to.
func (e *Engine) Match(ev *event.Event, fn func(Detection)) { e.match(ev, fn) }

// MatchFed is Match that also reports whether ev fed correlation state
// (it matched a rule some correlation counts): what a detect node of a
// cluster checkpoints so that another node can rebuild the state
// (internal/bus).
func (e *Engine) MatchFed(ev *event.Event, fn func(Detection)) bool { return e.match(ev, fn) }

func (e *Engine) match(ev *event.Event, fn func(Detection)) (fed bool) {
	sc := e.scratches.Get().(*scratch)
	sc.reset(e, ev)
	p := e.planFor(ev, sc)
	sc.exactOK = !p.inexact
	sc.approx = p.approx
	e.prefilter(p, ev, sc)
	lastRule := -1
	for _, id := range sc.cands {
		inst := e.insts[id]
		cr := inst.rule
		if cr.idx == lastRule || !clausesHold(inst, sc) || !e.evalInstance(inst, ev, sc) {
			continue
		}
		lastRule = cr.idx
		if cr.emit {
			fn(Detection{Rule: cr.rule, Event: ev, Time: ev.Timestamp(), Count: 1, Value: 1})
		}
		if e.corr != nil && len(cr.corrs) > 0 {
			e.corr.feed(cr, ev, fn)
			fed = true
		}
	}
	sc.ev = nil
	e.scratches.Put(sc)
	return fed
}

// MatchAll returns the detections of ev (see Match).
func (e *Engine) MatchAll(ev *event.Event) []Detection {
	var out []Detection
	e.Match(ev, func(d Detection) { out = append(out, d) })
	return out
}

// planFor returns the plan of ev's routing outcome, building it on first
// use.
func (e *Engine) planFor(ev *event.Event, sc *scratch) *plan {
	sc.srcs = e.table.Route(ev, sc.srcs[:0])
	// The event's own logsource enters the key only through the values
	// some rule uses: others cannot change which rules apply, and leaving
	// them out keeps hostile logsource names from multiplying plans.
	k := sc.key[:0]
	k = e.appendKnown(k, e.usedProducts, ev.Logsource.Product)
	k = e.appendKnown(k, e.usedCategories, ev.Logsource.Category)
	k = e.appendKnown(k, e.usedServices, ev.Logsource.Service)
	own := len(k)
	for _, s := range sc.srcs {
		k = binaryAppendUvarint(k, uint64(s))
	}
	sc.key = k
	if p, ok := (*e.plans.Load())[string(k)]; ok {
		return p
	}
	e.plansMu.Lock()
	defer e.plansMu.Unlock()
	m := *e.plans.Load()
	if p, ok := m[string(k)]; ok {
		return p
	}
	parts := strings.SplitN(string(k[:own]), "\x00", 4)
	p := e.buildPlan(event.Logsource{Product: parts[0], Category: parts[1], Service: parts[2]}, sc.srcs)
	if len(m) >= maxPlans {
		return p // not cached: bounded memory, at the cost of rebuilding
	}
	nm := make(map[string]*plan, len(m)+1)
	for kk, v := range m {
		nm[kk] = v
	}
	nm[string(k)] = p
	e.plans.Store(&nm)
	return p
}

// maxPlans bounds the cached plans (one per routing outcome; a few dozen
// in practice).
const maxPlans = 4096

// appendKnown appends s lowered, or nothing if no rule uses that value,
// then a separator.
func (e *Engine) appendKnown(k []byte, used map[string]bool, s string) []byte {
	start := len(k)
	k = ascii.AppendLower(k, s)
	if !used[string(k[start:])] {
		k = k[:start]
	}
	return append(k, 0)
}

func binaryAppendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// buildPlan gathers the instances of the routing outcome (own logsource
// own, mapping sources srcs) and builds their prefilters.
func (e *Engine) buildPlan(own event.Logsource, srcs []int) *plan {
	set := map[int32]bool{}
	for _, s := range srcs {
		for _, id := range e.bySource[s] {
			set[id] = true
		}
	}
	// Rules whose logsource the event's own satisfies. An event without
	// one (plain text, application JSON) still meets the rules that ask
	// for none.
	for _, cr := range e.rules {
		if logsource.Satisfies(own, evLogsource(cr.rule.Logsource)) {
			set[cr.ident] = true
		}
	}
	// A rule may be here in several variants (its own field names, a
	// mapping source's names); each is evaluated until one matches. The
	// variants whose fields the event lacks cost little: unless they have
	// no anchors, they never become candidates.
	p := &plan{}
	for id := range set {
		p.insts = append(p.insts, id)
	}
	slices.Sort(p.insts)
	type needleSet struct {
		eq      map[string][]int32
		needles map[string][]int32
	}
	byKey := map[event.Key]*needleSet{}
	var keys []event.Key
	for _, id := range p.insts {
		inst := e.insts[id]
		if inst.anchors == nil {
			p.always = append(p.always, id)
		}
		for _, it := range inst.items {
			if it.atom < 0 {
				continue
			}
			ns := byKey[it.key]
			if ns == nil {
				ns = &needleSet{eq: map[string][]int32{}, needles: map[string][]int32{}}
				byKey[it.key] = ns
				keys = append(keys, it.key)
			}
			for _, v := range it.values {
				for _, x := range v.exact {
					ns.eq[x] = appendUnique(ns.eq[x], it.atom)
				}
				for _, n := range v.needles {
					n = clipNeedle(n)
					ns.needles[n] = appendUnique(ns.needles[n], it.atom)
				}
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ns := byKey[k]
		pf := &fieldPF{key: k, eq: ns.eq}
		if len(ns.needles) > 0 {
			var short, long []string
			for n := range ns.needles {
				if windowable(n) {
					long = append(long, n)
				} else {
					short = append(short, n)
				}
			}
			slices.Sort(short)
			slices.Sort(long)
			if len(long) > 0 {
				ids := make([]int32, len(long))
				for i, n := range long {
					ids[i] = int32(len(p.needleAtoms))
					p.needleAtoms = append(p.needleAtoms, ns.needles[n])
					if !asciiNeedle(n) {
						for _, a := range ns.needles[n] {
							p.markApprox(e, a)
						}
					}
				}
				pf.win = buildWindows(long, ids)
			}
			if len(short) > 0 {
				ids := make([][]int32, len(short))
				for i, n := range short {
					ids[i] = []int32{int32(len(p.needleAtoms))}
					p.needleAtoms = append(p.needleAtoms, ns.needles[n])
				}
				var overflow []int32
				pf.ac, overflow = buildAC(short, ids)
				for _, id := range overflow {
					p.alwaysHit = append(p.alwaysHit, p.needleAtoms[id]...)
					p.inexact = true
				}
			}
		}
		if int(k) >= len(p.keyPF) {
			p.keyPF = slices.Grow(p.keyPF, int(k)+1-len(p.keyPF))[:int(k)+1]
		}
		p.pfs = append(p.pfs, pf)
		p.keyPF[k] = int16(len(p.pfs))
	}
	return p
}

// maxNeedle bounds needle length in the automata: any substring of a
// required literal is required too, and short needles keep the automata
// small enough to stay in cache. The suffix is kept: rule literals vary
// more at their end (file names, flags) than at their start (paths).
const maxNeedle = 32

func clipNeedle(n string) string {
	if len(n) <= maxNeedle {
		return n
	}
	n = n[len(n)-maxNeedle:]
	// Do not start inside a UTF-8 sequence.
	for len(n) > 0 && n[0]&0xC0 == 0x80 {
		n = n[1:]
	}
	return n
}

func appendUnique(s []int32, v int32) []int32 {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// prefilter runs the literal prefilters of p over ev's fields and leaves
// the candidate instances, sorted, in sc.cands.
func (e *Engine) prefilter(p *plan, ev *event.Event, sc *scratch) {
	ep := sc.epoch
	mark := func(a int32) {
		sc.atomEp[a] = ep
		if e.isAnchor[a] {
			if id := e.atomInst[a]; sc.instEp[id] != ep {
				sc.instEp[id] = ep
				sc.cands = append(sc.cands, id)
			}
		}
	}
	for _, a := range p.alwaysHit {
		mark(a)
	}
	if len(sc.needleEp) < len(p.needleAtoms) {
		sc.needleEp = make([]uint32, len(p.needleAtoms)+64)
	}
	// expand marks the atoms of the needles in sc.hits, once per needle.
	expand := func() {
		for _, n := range sc.hits {
			if sc.needleEp[n] == ep {
				continue
			}
			sc.needleEp[n] = ep
			for _, a := range p.needleAtoms[n] {
				if sc.atomEp[a] != ep {
					mark(a)
				}
			}
		}
	}
	// hits scans field i (-1: the raw text) with ac, lowering it only if
	// the automaton's pair filter lets it through.
	hits := func(ac *acMatcher, i int) {
		var l string
		if i < 0 {
			if !ac.mayContainFold(ev.Raw) {
				return
			}
			l = sc.loweredRaw()
		} else {
			if !ac.mayContainFold(ev.Fields[i].Value.Str) {
				return
			}
			l = sc.lowered(i)
		}
		sc.hits = ac.scanUnfiltered(l, sc.hits[:0])
		expand()
	}
	if kw := p.pfFor(keywordKey); kw != nil {
		raw := keywordRaw(ev)
		if raw {
			if kw.ac != nil {
				hits(kw.ac, -1)
			}
			if kw.win != nil {
				sc.hits = kw.win.scan(ev.Raw, sc.hits[:0])
				expand()
			}
		}
		for i := range ev.Fields {
			if ev.Fields[i].Value.Kind != event.KindString || (raw && inRaw(ev, ev.Fields[i].Value.Str)) {
				continue
			}
			if kw.ac != nil {
				hits(kw.ac, i)
			}
			if kw.win != nil {
				sc.hits = kw.win.scan(ev.Fields[i].Value.Str, sc.hits[:0])
				expand()
			}
		}
	}
	if len(p.pfs) > 0 {
		for i := range ev.Fields {
			pf := p.pfFor(ev.Fields[i].Key)
			if pf == nil || pf.key == keywordKey {
				continue
			}
			if len(pf.eq) > 0 {
				for _, a := range pf.eq[sc.lowered(i)] {
					mark(a)
				}
			}
			if pf.ac != nil {
				hits(pf.ac, i)
			}
			if pf.win != nil {
				sc.hits = pf.win.scan(ev.Fields[i].Value.Str, sc.hits[:0])
				expand()
			}
		}
	}
	for _, id := range p.always {
		if sc.instEp[id] != ep {
			sc.instEp[id] = ep
			sc.cands = append(sc.cands, id)
		}
	}
	slices.Sort(sc.cands)
}

// clausesHold reports whether every further prefilter clause of inst has
// a hit.
func clausesHold(inst *instance, sc *scratch) bool {
	for _, cl := range inst.clauses {
		ok := false
		for _, a := range cl {
			if sc.atomEp[a] == sc.epoch {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (e *Engine) evalInstance(inst *instance, ev *event.Event, sc *scratch) bool {
	if !e.evalDet(inst.main, ev, sc) {
		return false
	}
	for _, f := range inst.filters {
		if !e.evalDet(f, ev, sc) {
			return false
		}
	}
	return true
}

func (e *Engine) evalDet(d *cdet, ev *event.Event, sc *scratch) bool {
	for _, c := range d.conds {
		if e.evalNode(d, c, ev, sc) {
			return true
		}
	}
	return false
}

func (e *Engine) evalNode(d *cdet, n *cnode, ev *event.Event, sc *scratch) bool {
	switch n.op {
	case nodeRef:
		for _, g := range d.searches[n.search].groups {
			ok := true
			for _, it := range g {
				if !e.evalItem(it, ev, sc) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	case nodeAnd:
		for _, a := range n.args {
			if !e.evalNode(d, a, ev, sc) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, a := range n.args {
			if e.evalNode(d, a, ev, sc) {
				return true
			}
		}
		return false
	case nodeNot:
		return !e.evalNode(d, n.args[0], ev, sc)
	}
	return false
}

func (e *Engine) evalItem(it *citem, ev *event.Event, sc *scratch) bool {
	if it.atom >= 0 {
		if sc.atomEp[it.atom] != sc.epoch {
			return false
		}
		if it.exact && sc.exactOK && (sc.approx == nil || !sc.approx[it.atom]) {
			return true
		}
	}
	r := matchItem(it, ev, sc)
	if it.negate {
		return !r
	}
	return r
}

// matchItem evaluates an item without its negation.
func matchItem(it *citem, ev *event.Event, sc *scratch) bool {
	if it.keyword {
		return matchKeywords(it, ev, sc)
	}
	if it.method == sigma.MethodExists {
		return (sc.first(it.key) >= 0) == it.values[0].b
	}
	for vi := range it.values {
		v := &it.values[vi]
		ok := matchValue(it, v, ev, sc)
		if it.all && !ok {
			return false
		}
		if !it.all && ok {
			return true
		}
	}
	return it.all
}

// matchValue reports whether any occurrence of the item's field matches v.
func matchValue(it *citem, v *cvalue, ev *event.Event, sc *scratch) bool {
	found := false
	for i := sc.first(it.key); i >= 0; i = sc.nextOf(i) {
		f := &ev.Fields[i]
		found = true
		if f.Value.Kind == event.KindNull {
			if v.kind == sigma.ValueNull {
				return true
			}
			continue
		}
		if matchOne(it, v, f.Value, i, ev, sc) {
			return true
		}
	}
	return !found && v.kind == sigma.ValueNull
}

func matchOne(it *citem, v *cvalue, fv event.Value, i int, ev *event.Event, sc *scratch) bool {
	switch {
	case it.fieldref:
		return matchFieldRef(it, v, fv, i, ev, sc)
	case it.timePart != sigma.TimeNone:
		n, ok := timePart(fv, it.timePart)
		return ok && compareNum(it.method, n, v.num)
	}
	switch it.method {
	case sigma.MethodEquals, sigma.MethodContains, sigma.MethodStartsWith, sigma.MethodEndsWith:
		if v.kind == sigma.ValueNull {
			return false
		}
		if it.method == sigma.MethodEquals {
			switch v.kind {
			case sigma.ValueNumber:
				if fv.IsNumber() && fv.Num == v.num {
					return true
				}
			case sigma.ValueBool:
				if fv.Kind == event.KindBool && (fv.Num != 0) == v.b {
					return true
				}
			}
		}
		s := fv.Str
		if !it.cased {
			s = sc.lowered(i)
		}
		for pi := range v.pats {
			if matchPattern(it.method, &v.pats[pi], s) {
				return true
			}
		}
		return false
	case sigma.MethodRegexp:
		return v.re.MatchString(fv.Str)
	case sigma.MethodCIDR:
		a, err := netip.ParseAddr(strings.TrimSpace(fv.Str))
		return err == nil && v.prefix.Contains(a.Unmap())
	case sigma.MethodLT, sigma.MethodLTE, sigma.MethodGT, sigma.MethodGTE:
		n, ok := numberOf(fv)
		return ok && compareNum(it.method, n, v.num)
	}
	return false
}

func numberOf(fv event.Value) (float64, bool) {
	if fv.IsNumber() {
		return fv.Num, true
	}
	if fv.Kind != event.KindString {
		return 0, false
	}
	s := strings.TrimSpace(fv.Str)
	if n, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(n) {
		return n, true
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		if n, err := strconv.ParseUint(s[2:], 16, 64); err == nil {
			return float64(n), true
		}
	}
	return 0, false
}

func compareNum(m sigma.Method, x, v float64) bool {
	switch m {
	case sigma.MethodLT:
		return x < v
	case sigma.MethodLTE:
		return x <= v
	case sigma.MethodGT:
		return x > v
	case sigma.MethodGTE:
		return x >= v
	case sigma.MethodEquals:
		return x == v
	}
	return false
}

// timeLayouts are the timestamp forms the time modifiers read.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02",
}

func timePart(fv event.Value, part sigma.TimePart) (float64, bool) {
	var t time.Time
	if fv.IsNumber() {
		// Unix seconds, or milliseconds for large values.
		sec := fv.Num
		if sec > 1e11 {
			sec /= 1000
		}
		t = time.Unix(int64(sec), 0).UTC()
	} else {
		s := strings.TrimSpace(fv.Str)
		ok := false
		for _, l := range timeLayouts {
			if x, err := time.Parse(l, s); err == nil {
				t, ok = x, true
				break
			}
		}
		if !ok {
			return 0, false
		}
	}
	switch part {
	case sigma.TimeMinute:
		return float64(t.Minute()), true
	case sigma.TimeHour:
		return float64(t.Hour()), true
	case sigma.TimeDay:
		return float64(t.Day()), true
	case sigma.TimeWeek:
		_, w := t.ISOWeek()
		return float64(w), true
	case sigma.TimeMonth:
		return float64(t.Month()), true
	case sigma.TimeYear:
		return float64(t.Year()), true
	}
	return 0, false
}

func matchFieldRef(it *citem, v *cvalue, fv event.Value, i int, ev *event.Event, sc *scratch) bool {
	for j := sc.first(v.ref); j >= 0; j = sc.nextOf(j) {
		g := &ev.Fields[j]
		a, b := fv.Str, g.Value.Str
		if !it.cased {
			a, b = sc.lowered(i), sc.lowered(j)
		}
		var ok bool
		switch it.method {
		case sigma.MethodEquals:
			ok = a == b
		case sigma.MethodContains:
			ok = strings.Contains(a, b)
		case sigma.MethodStartsWith:
			ok = strings.HasPrefix(a, b)
		case sigma.MethodEndsWith:
			ok = strings.HasSuffix(a, b)
		}
		if ok {
			return true
		}
	}
	return false
}

// keywordRaw reports whether keyword search covers ev.Raw: it does unless
// Raw is a JSON object, whose values are the event's fields already.
func keywordRaw(ev *event.Event) bool {
	r := strings.TrimLeft(ev.Raw, " \t\r\n")
	return r != "" && r[0] != '{'
}

// inRaw reports whether s is cheaply known to be part of ev.Raw (it ends
// it, as a syslog message does), so that keyword search need not look at
// it again: anything found in s is found in Raw.
func inRaw(ev *event.Event, s string) bool {
	return len(s) >= 16 && strings.HasSuffix(ev.Raw, s)
}

// loweredRaw returns ev.Raw lowered, once per evaluation.
func (sc *scratch) loweredRaw() string {
	if sc.rawEp != sc.epoch {
		sc.rawLow = sc.lowerText(sc.ev.Raw)
		sc.rawEp = sc.epoch
	}
	return sc.rawLow
}

// matchKeywords matches a keyword item against the event's text: its
// original line (Raw, unless it is a JSON object) and every string field
// value.
func matchKeywords(it *citem, ev *event.Event, sc *scratch) bool {
	one := func(v *cvalue) bool {
		text := func(s string, i int) bool {
			switch it.method {
			case sigma.MethodRegexp:
				return v.re.MatchString(s)
			case sigma.MethodEquals, sigma.MethodContains, sigma.MethodStartsWith, sigma.MethodEndsWith:
				l := s
				if !it.cased {
					if i >= 0 {
						l = sc.lowered(i)
					} else {
						l = sc.loweredRaw()
					}
				}
				for pi := range v.pats {
					if matchPattern(it.method, &v.pats[pi], l) {
						return true
					}
				}
			}
			return false
		}
		if keywordRaw(ev) && text(ev.Raw, -1) {
			return true
		}
		// Fields inside Raw need no second look for a contains search.
		skipInRaw := keywordRaw(ev) && it.method == sigma.MethodContains
		for i := range ev.Fields {
			s := ev.Fields[i].Value.Str
			if ev.Fields[i].Value.Kind == event.KindString && !(skipInRaw && inRaw(ev, s)) && text(s, i) {
				return true
			}
		}
		return false
	}
	for vi := range it.values {
		ok := one(&it.values[vi])
		if it.all && !ok {
			return false
		}
		if !it.all && ok {
			return true
		}
	}
	return it.all
}

// matchPattern matches s against p as method m says.
func matchPattern(m sigma.Method, p *cpat, s string) bool {
	if p.simple {
		switch m {
		case sigma.MethodEquals:
			return s == p.lit
		case sigma.MethodContains:
			return strings.Contains(s, p.lit)
		case sigma.MethodStartsWith:
			return strings.HasPrefix(s, p.lit)
		case sigma.MethodEndsWith:
			return strings.HasSuffix(s, p.lit)
		}
		return false
	}
	return glob(p.glob, s)
}

// glob matches s against parts (anchored at both ends): * any run, ? one
// character. It backtracks only to the last star, so it runs in
// O(len(s) * len(parts)).
func glob(parts []sigma.Part, s string) bool {
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for {
		if pi < len(parts) {
			switch p := &parts[pi]; p.Kind {
			case sigma.PartStar:
				starPi, starSi = pi, si
				pi++
				// Jump to the next occurrence of the following literal.
				if pi < len(parts) && parts[pi].Kind == sigma.PartLiteral {
					j := strings.Index(s[si:], parts[pi].Text)
					if j < 0 {
						return false
					}
					starSi = si + j
					si += j
				}
				continue
			case sigma.PartQuestion:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					pi++
					continue
				}
			case sigma.PartLiteral:
				if strings.HasPrefix(s[si:], p.Text) {
					si += len(p.Text)
					pi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starPi < 0 || starSi >= len(s) {
			return false
		}
		starSi++
		si = starSi
		pi = starPi + 1
		if pi < len(parts) && parts[pi].Kind == sigma.PartLiteral {
			j := strings.Index(s[si:], parts[pi].Text)
			if j < 0 {
				return false
			}
			starSi = si + j
			si = starSi
		}
	}
}
