package logsource

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

// Table is a compiled mapping: the sources and a routing index over them.
// It is immutable and safe for concurrent use.
type Table struct {
	sources   []*entry
	byProduct map[string]*bucket // keyed by lowercased event product
	anyProd   *bucket            // sources without a product condition
}

// entry is a compiled Source.
type entry struct {
	src      Source
	product  []string // lowercased; nil matches anything
	category []string
	service  []string
	eventIDs []int64
	conds    []cond
}

type condOp uint8

const (
	opEquals condOp = iota
	opPrefix
	opSuffix
	opContains
	opExists
)

type cond struct {
	key    event.Key
	op     condOp
	vals   []string // lowercased
	exists bool
}

// bucket indexes the entries of one product. Entries with an EventID are
// found through byEventID; entries with an equality condition through the
// lowercased value of that field (byValue); entries with another positive
// field condition through the presence of that field (byKey); the rest are
// checked for every event. A bitset over keys lets one pass over the
// event's fields skip fields no entry looks at.
type bucket struct {
	byEventID map[int64][]int
	byValue   map[event.Key]map[string][]int
	byKey     map[event.Key][]int
	keys      []uint64 // bitset of the keys of byValue and byKey
	always    []int
}

func (b *bucket) mark(k event.Key) {
	for int(k/64) >= len(b.keys) {
		b.keys = append(b.keys, 0)
	}
	b.keys[k/64] |= 1 << (k % 64)
}

func (b *bucket) marked(k event.Key) bool {
	i := int(k / 64)
	return i < len(b.keys) && b.keys[i]&(1<<(k%64)) != 0
}

var keyEventID = event.Intern("EventID")

// Compile builds the routing table of f. Disabled sources are dropped.
func Compile(f *File) (*Table, error) {
	t := &Table{byProduct: map[string]*bucket{}, anyProd: newBucket()}
	for _, s := range f.Sources {
		if s.Disabled {
			continue
		}
		e := &entry{
			src:      s,
			product:  lowerList(s.Match.Product),
			category: lowerList(s.Match.Category),
			service:  lowerList(s.Match.Service),
			eventIDs: slices.Clone(s.Match.EventID),
		}
		e.src.Logsource = event.Logsource{
			Product:  strings.ToLower(s.Logsource.Product),
			Category: strings.ToLower(s.Logsource.Category),
			Service:  strings.ToLower(s.Logsource.Service),
		}
		for i, c := range s.Match.Where {
			if err := c.validate(); err != nil {
				return nil, fmt.Errorf("compiling logsource source %q: where #%d: %w", s.Name, i+1, err)
			}
			cc := cond{key: event.Intern(c.Field)}
			switch {
			case c.Equals != nil:
				cc.op, cc.vals = opEquals, lowerAll(c.Equals)
			case c.StartsWith != nil:
				cc.op, cc.vals = opPrefix, lowerAll(c.StartsWith)
			case c.EndsWith != nil:
				cc.op, cc.vals = opSuffix, lowerAll(c.EndsWith)
			case c.Contains != nil:
				cc.op, cc.vals = opContains, lowerAll(c.Contains)
			default:
				cc.op, cc.exists = opExists, *c.Exists
			}
			e.conds = append(e.conds, cc)
		}
		id := len(t.sources)
		t.sources = append(t.sources, e)
		if e.product == nil {
			t.anyProd.add(id, e)
			continue
		}
		for _, p := range e.product {
			b := t.byProduct[p]
			if b == nil {
				b = newBucket()
				t.byProduct[p] = b
			}
			b.add(id, e)
		}
	}
	return t, nil
}

func newBucket() *bucket {
	return &bucket{
		byEventID: map[int64][]int{},
		byValue:   map[event.Key]map[string][]int{},
		byKey:     map[event.Key][]int{},
	}
}

// add indexes entry id: by EventID when it has one, else by its first
// equality condition, else by the first field it needs present, else in
// the list checked for every event.
func (b *bucket) add(id int, e *entry) {
	if len(e.eventIDs) > 0 {
		for _, n := range e.eventIDs {
			b.byEventID[n] = append(b.byEventID[n], id)
		}
		return
	}
	for _, c := range e.conds {
		if c.op != opEquals || c.key == event.OverflowKey {
			continue
		}
		m := b.byValue[c.key]
		if m == nil {
			m = map[string][]int{}
			b.byValue[c.key] = m
		}
		for _, v := range c.vals {
			m[v] = append(m[v], id)
		}
		b.mark(c.key)
		return
	}
	for _, c := range e.conds {
		if (c.op == opExists && !c.exists) || c.key == event.OverflowKey {
			continue
		}
		b.byKey[c.key] = append(b.byKey[c.key], id)
		b.mark(c.key)
		return
	}
	b.always = append(b.always, id)
}

func lowerList(l StringList) []string {
	if l == nil {
		return nil
	}
	return lowerAll(l)
}

// Len returns the number of sources.
func (t *Table) Len() int { return len(t.sources) }

// Source returns source i (0 <= i < Len). The returned Source's Logsource
// is lowercased.
func (t *Table) Source(i int) *Source { return &t.sources[i].src }

// Field returns the event field name that holds rule field name for
// source i: the source's mapping, or name itself.
func (t *Table) Field(i int, name string) string {
	if m, ok := t.sources[i].src.Fields[name]; ok {
		return m
	}
	return name
}

// Covering returns the indices of the sources that provide a logsource
// satisfying the rule logsource want.
func (t *Table) Covering(want event.Logsource) []int {
	var out []int
	for i, e := range t.sources {
		if Satisfies(e.src.Logsource, want) {
			out = append(out, i)
		}
	}
	return out
}

// Route appends to dst, in increasing order and without duplicates, the
// indices of the sources ev belongs to, and returns the extended slice. It
// does not allocate when dst has room.
func (t *Table) Route(ev *event.Event, dst []int) []int {
	start := len(dst)
	var buf [64]byte
	p := ascii.AppendLower(buf[:0], ev.Logsource.Product)
	if b := t.byProduct[string(p)]; b != nil {
		dst = t.routeBucket(b, ev, dst, start)
	}
	dst = t.routeBucket(t.anyProd, ev, dst, start)
	slices.Sort(dst[start:])
	return dst
}

func (t *Table) routeBucket(b *bucket, ev *event.Event, dst []int, start int) []int {
	if len(b.byEventID) > 0 {
		if id, ok := eventID(ev); ok {
			for _, i := range b.byEventID[id] {
				dst = t.check(i, ev, dst, start)
			}
		}
	}
	if len(b.keys) > 0 {
		var buf [128]byte
		for j := range ev.Fields {
			f := &ev.Fields[j]
			if !b.marked(f.Key) {
				continue
			}
			if m := b.byValue[f.Key]; m != nil && len(f.Value.Str) <= len(buf) {
				for _, i := range m[string(ascii.AppendLower(buf[:0], f.Value.Str))] {
					dst = t.check(i, ev, dst, start)
				}
			}
			for _, i := range b.byKey[f.Key] {
				dst = t.check(i, ev, dst, start)
			}
		}
	}
	for _, i := range b.always {
		dst = t.check(i, ev, dst, start)
	}
	return dst
}

func (t *Table) check(i int, ev *event.Event, dst []int, start int) []int {
	if slices.Contains(dst[start:], i) || !t.sources[i].matches(ev) {
		return dst
	}
	return append(dst, i)
}

// eventID returns the event's EventID as a number.
func eventID(ev *event.Event) (int64, bool) {
	v, ok := ev.Get(keyEventID)
	if !ok {
		return 0, false
	}
	if v.Kind == event.KindInt {
		return int64(v.Num), true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64)
	return n, err == nil
}

func (e *entry) matches(ev *event.Event) bool {
	if !inList(e.product, ev.Logsource.Product) || !inList(e.category, ev.Logsource.Category) || !inList(e.service, ev.Logsource.Service) {
		return false
	}
	if len(e.eventIDs) > 0 {
		id, ok := eventID(ev)
		if !ok || !slices.Contains(e.eventIDs, id) {
			return false
		}
	}
	for i := range e.conds {
		if !e.conds[i].matches(ev) {
			return false
		}
	}
	return true
}

func inList(l []string, s string) bool {
	if l == nil {
		return true
	}
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (c *cond) matches(ev *event.Event) bool {
	found := false
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Key != c.key {
			continue
		}
		found = true
		if c.op == opExists {
			break
		}
		s := f.Value.Str
		for _, v := range c.vals {
			var ok bool
			switch c.op {
			case opEquals:
				ok = strings.EqualFold(s, v)
			case opPrefix:
				ok = len(s) >= len(v) && strings.EqualFold(s[:len(v)], v)
			case opSuffix:
				ok = len(s) >= len(v) && strings.EqualFold(s[len(s)-len(v):], v)
			case opContains:
				ok = containsFold(s, v)
			}
			if ok {
				return true
			}
		}
	}
	if c.op == opExists {
		return found == c.exists
	}
	return false
}

// containsFold reports whether s contains the lowercased ASCII v,
// ignoring ASCII case.
func containsFold(s, v string) bool {
	if v == "" {
		return true
	}
	for i := 0; i+len(v) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(v)], v) {
			return true
		}
	}
	return false
}

// Logsources appends to dst the Sigma logsources ev belongs to: its own
// (as the parser set it, when not empty) and that of every source it
// matches, without duplicates. Rules whose logsource is satisfied by one of
// them apply to ev.
func (t *Table) Logsources(ev *event.Event, dst []event.Logsource) []event.Logsource {
	start := len(dst)
	add := func(ls event.Logsource) {
		if ls == (event.Logsource{}) || slices.Contains(dst[start:], ls) {
			return
		}
		dst = append(dst, ls)
	}
	add(event.Logsource{
		Product:  strings.ToLower(ev.Logsource.Product),
		Category: strings.ToLower(ev.Logsource.Category),
		Service:  strings.ToLower(ev.Logsource.Service),
	})
	var buf [16]int
	for _, i := range t.Route(ev, buf[:0]) {
		add(t.sources[i].src.Logsource)
	}
	return dst
}
