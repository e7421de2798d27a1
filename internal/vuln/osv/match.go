package osv

import (
	"slices"

	"github.com/vigilsec/vigil/internal/vuln/version"
)

// Event kinds, in the order events at the same version apply: a version
// equal to an introduced or fixed event is past it, a version equal to a
// last_affected event is not.
const (
	kindIntroduced = iota
	kindFixed
	kindLastAffected
	kindLimit
)

// kind returns the event's kind and version, or -1 when not exactly one
// field is set.
func (e Event) kind() (int, string) {
	kind, v, n := -1, "", 0
	for k, s := range [...]string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
		if s != "" {
			kind, v = k, s
			n++
		}
	}
	if n != 1 {
		return -1, ""
	}
	return kind, v
}

// Match is the evidence that a version is affected: the range that
// includes it (Range is its index in Affected.Ranges, or -1 when the
// version is in the explicit versions list) and the bounds of the interval
// the version falls in. Fixed is empty when no fix is known.
type Match struct {
	Range        int    `json:"range"`
	Type         string `json:"type"`
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}

type event struct {
	kind int
	v    string
}

type compiledRange struct {
	index  int
	typ    string
	kind   version.Kind
	cmp    version.Compare
	events []event // introduced, fixed, last_affected; sorted
	limits []string
}

// Matcher is an Affected entry prepared for matching many versions: its
// events sorted once.
type Matcher struct {
	ranges   []compiledRange
	versions map[string]bool
	cmp      version.Compare // the ecosystem's, nil when unknown
	kind     version.Kind
}

// Compile prepares a for matching. Ranges whose ordering is unknown (GIT
// ranges, ECOSYSTEM ranges of an ecosystem package version does not
// order) are left out: only the explicit versions list can match there.
func Compile(a *Affected) *Matcher {
	m := &Matcher{}
	if k, ok := version.ForEcosystem(a.Package.Ecosystem); ok {
		m.cmp, m.kind = version.Comparer(k), k
	}
	if len(a.Versions) > 0 {
		m.versions = make(map[string]bool, len(a.Versions))
		for _, v := range a.Versions {
			m.versions[v] = true
		}
	}
	for i, rg := range a.Ranges {
		var kind version.Kind
		switch rg.Type {
		case SemVer:
			kind = version.SemVer
		case Ecosystem:
			kind = m.kind
		}
		cmp := version.Comparer(kind)
		if cmp == nil {
			continue
		}
		cr := compiledRange{index: i, typ: rg.Type, kind: kind, cmp: cmp}
		for _, e := range rg.Events {
			k, v := e.kind()
			switch k {
			case -1:
				continue
			case kindLimit:
				if v != "*" {
					cr.limits = append(cr.limits, v)
				}
				continue
			}
			cr.events = append(cr.events, event{k, v})
		}
		slices.SortStableFunc(cr.events, func(a, b event) int {
			if c := cmpEventVersion(cmp, a, b); c != 0 {
				return c
			}
			return a.kind - b.kind
		})
		m.ranges = append(m.ranges, cr)
	}
	return m
}

// cmpEventVersion orders event versions; introduced "0" is before every
// version.
func cmpEventVersion(cmp version.Compare, a, b event) int {
	za, zb := a.kind == kindIntroduced && a.v == "0", b.kind == kindIntroduced && b.v == "0"
	switch {
	case za && zb:
		return 0
	case za:
		return -1
	case zb:
		return 1
	}
	return cmp(a.v, b.v)
}

// Match reports whether v is affected and why. The first range that
// includes v is the evidence; the explicit versions list is checked
// after the ranges.
func (m *Matcher) Match(v string) (Match, bool) {
	for _, r := range m.ranges {
		if mt, ok := r.match(v); ok {
			return mt, true
		}
	}
	if m.versions[v] {
		return Match{Range: -1, Type: "VERSIONS"}, true
	}
	if m.cmp != nil && len(m.versions) > 0 {
		for lv := range m.versions {
			if m.cmp(v, lv) == 0 {
				return Match{Range: -1, Type: "VERSIONS"}, true
			}
		}
	}
	return Match{}, false
}

// match evaluates the range as the OSV specification does: the events
// at or below v, in order, decide whether v is in an affected interval
// (introduced opens one, fixed and last_affected close it), and the next
// closing event above v bounds it.
func (r *compiledRange) match(v string) (Match, bool) {
	if !version.Valid(r.kind, v) {
		// A version the ordering cannot place is in no interval, not
		// in every interval that starts at "0".
		return Match{}, false
	}
	if len(r.limits) > 0 {
		below := false
		for _, l := range r.limits {
			if r.cmp(v, l) < 0 {
				below = true
				break
			}
		}
		if !below {
			return Match{}, false
		}
	}
	affected := false
	mt := Match{Range: r.index, Type: r.typ}
	i := 0
	for ; i < len(r.events); i++ {
		e := r.events[i]
		if !r.applies(e, v) {
			break
		}
		switch e.kind {
		case kindIntroduced:
			affected, mt.Introduced = true, e.v
		default:
			affected = false
		}
	}
	if !affected {
		return Match{}, false
	}
	for ; i < len(r.events); i++ {
		switch e := r.events[i]; e.kind {
		case kindFixed:
			mt.Fixed = e.v
			return mt, true
		case kindLastAffected:
			mt.LastAffected = e.v
			return mt, true
		}
	}
	return mt, true
}

// applies reports whether v is at or past event e.
func (r *compiledRange) applies(e event, v string) bool {
	switch e.kind {
	case kindIntroduced:
		return e.v == "0" || r.cmp(v, e.v) >= 0
	case kindFixed:
		return r.cmp(v, e.v) >= 0
	}
	return r.cmp(v, e.v) > 0 // last_affected: v is still affected when equal
}

// Includes reports whether v is affected by a, with the evidence. Callers
// matching many versions against one entry use Compile once instead.
func (a *Affected) Includes(v string) (Match, bool) {
	return Compile(a).Match(v)
}
