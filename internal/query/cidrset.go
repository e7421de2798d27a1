package query

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/vigilsec/vigil/internal/event"
)

// CIDRSet matches the values of one field against many prefixes at once:
// the OR of the CIDR terms it was made from. The prefixes are merged into
// sorted, disjoint address ranges, so a value costs one address parse and
// one binary search however many prefixes the query lists (an OR of 256
// terms would otherwise parse the value 256 times). It is safe for
// concurrent use.
type CIDRSet struct {
	field string
	term  *TermMatcher // resolves the field like a term on it would
	v4    []rng4
	v6    []rng6
}

type rng4 struct{ lo, hi uint32 }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// next returns a+1 and whether it did not overflow.
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

type rng6 struct{ lo, hi u128 }

// GroupCIDR splits the operands of an OR: the CIDR terms on each field
// that has at least two of them (in the order the fields first appear),
// and every other operand, in order. The OR of a group is what a CIDRSet
// made from it matches.
func GroupCIDR(terms []Expr) (groups [][]*Term, rest []Expr) {
	n := map[string]int{}
	for _, t := range terms {
		if c, ok := t.(*Term); ok && c.Op == OpCIDR && c.Field != "" {
			n[c.Field]++
		}
	}
	at := map[string]int{}
	for _, t := range terms {
		c, ok := t.(*Term)
		if !ok || c.Op != OpCIDR || c.Field == "" || n[c.Field] < 2 {
			rest = append(rest, t)
			continue
		}
		i, ok := at[c.Field]
		if !ok {
			i = len(groups)
			at[c.Field] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	return groups, rest
}

// NewCIDRSet makes the set of CIDR terms on one field (as GroupCIDR
// groups them). Terms with an invalid prefix match nothing, as they do
// alone.
func NewCIDRSet(terms []*Term) *CIDRSet {
	s := &CIDRSet{}
	if len(terms) == 0 {
		return s
	}
	s.field = terms[0].Field
	s.term = CompileTerm(&Term{Field: s.field, Op: OpExists})
	for _, t := range terms {
		p := t.Prefix.Masked()
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4() {
			lo := binary.BigEndian.Uint32(p.Addr().AsSlice())
			host := uint32(uint64(1)<<(32-p.Bits()) - 1)
			s.v4 = append(s.v4, rng4{lo, lo | host})
			continue
		}
		b := p.Addr().As16()
		lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		hi := lo
		if bits := 128 - p.Bits(); bits >= 64 {
			hi.lo = ^uint64(0)
			hi.hi |= uint64(1)<<(bits-64) - 1
			if bits == 128 {
				hi.hi = ^uint64(0)
			}
		} else {
			hi.lo |= uint64(1)<<bits - 1
		}
		s.v6 = append(s.v6, rng6{lo, hi})
	}
	slices.SortFunc(s.v4, func(a, b rng4) int { return cmp.Compare(a.lo, b.lo) })
	v4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(v4); n > 0 && (r.lo <= v4[n-1].hi || v4[n-1].hi != ^uint32(0) && r.lo == v4[n-1].hi+1) {
			v4[n-1].hi = max(v4[n-1].hi, r.hi)
			continue
		}
		v4 = append(v4, r)
	}
	s.v4 = slices.Clip(v4)
	slices.SortFunc(s.v6, func(a, b rng6) int { return a.lo.cmp(b.lo) })
	v6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(v6); n > 0 {
			last := &v6[n-1]
			after, ok := last.hi.next()
			if r.lo.cmp(last.hi) <= 0 || ok && r.lo == after {
				if r.hi.cmp(last.hi) > 0 {
					last.hi = r.hi
				}
				continue
			}
		}
		v6 = append(v6, r)
	}
	s.v6 = slices.Clip(v6)
	return s
}

// Ranges is the number of disjoint address ranges the set holds.
func (s *CIDRSet) Ranges() int { return len(s.v4) + len(s.v6) }

// Contains reports whether the text s is an IP address in the set, with
// OpCIDR's rules: a zone is ignored, and an IPv4-mapped IPv6 address is
// inside an IPv4 prefix as well as inside the IPv6 prefixes that hold it.
func (s *CIDRSet) Contains(text string) bool {
	a, err := netip.ParseAddr(text)
	if err != nil {
		return false
	}
	if a.Is4() {
		return s.has4(a)
	}
	b := a.As16()
	if s.has6(u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}) {
		return true
	}
	return a.Is4In6() && s.has4(a.Unmap())
}

func (s *CIDRSet) has4(a netip.Addr) bool {
	b := a.As4()
	x := binary.BigEndian.Uint32(b[:])
	// The first range that ends at or after x is the only one that may
	// hold it.
	i, _ := slices.BinarySearchFunc(s.v4, x, func(r rng4, x uint32) int { return cmp.Compare(r.hi, x) })
	return i < len(s.v4) && s.v4[i].lo <= x
}

func (s *CIDRSet) has6(x u128) bool {
	i, _ := slices.BinarySearchFunc(s.v6, x, func(r rng6, x u128) int { return r.hi.cmp(x) })
	return i < len(s.v6) && s.v6[i].lo.cmp(x) <= 0
}

// MatchValue reports whether one value of the field is in the set (null
// values never are).
func (s *CIDRSet) MatchValue(v event.Value) bool {
	return v.Kind != event.KindNull && s.Contains(v.Str)
}

// cidrSetNode matches when some value of the set's field is in the set.
type cidrSetNode struct{ s *CIDRSet }

func (n cidrSetNode) match(ev *event.Event) bool {
	s := n.s
	if s.term.vf != notVirtual {
		found := false
		virtualValues(ev, s.term.vf, func(v event.Value) bool {
			found = s.MatchValue(v)
			return !found
		})
		return found
	}
	k := s.term.resolveKey()
	if k == 0 {
		return false
	}
	for i := range ev.Fields {
		if ev.Fields[i].Key == k && s.MatchValue(ev.Fields[i].Value) {
			return true
		}
	}
	return false
}
