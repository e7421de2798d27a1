package intel

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// u128 is an address as a 128-bit number; IPv4 addresses use lo only.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) isMax(v6 bool) bool {
	if v6 {
		return a.hi == ^uint64(0) && a.lo == ^uint64(0)
	}
	return a.lo == 0xffffffff
}

func (a u128) next() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// prefixRange returns the first and last address of p.
func prefixRange(p netip.Prefix) (lo, hi u128) {
	lo = addrU128(p.Masked().Addr())
	host := p.Addr().BitLen() - p.Bits()
	hi = lo
	switch {
	case host >= 128:
		hi = u128{^uint64(0), ^uint64(0)}
	case host > 64:
		hi.hi |= 1<<(host-64) - 1
		hi.lo = ^uint64(0)
	case host == 64:
		hi.lo = ^uint64(0)
	case host > 0:
		hi.lo |= 1<<host - 1
	}
	return lo, hi
}

// ranges finds the CIDR ranges that hold an address. CIDR ranges either
// nest or are disjoint, so they form a forest: the address space is cut
// into elementary intervals, each owned by the innermost range that covers
// it, and each range points to its parent. A lookup is a binary search
// within the interval bucket of the address's top 16 bits, then a walk up
// the parents.
type ranges struct {
	v6     bool
	starts []u128   // elementary interval starts, ascending (IPv6)
	start4 []uint32 // the same for IPv4, a quarter of the size
	owner  []int32  // innermost range of each interval, -1 for none
	bucket []uint32
	parent []int32
	start  []uint32 // the indicators of range i are inds[start[i]:start[i+1]]
	inds   []*Indicator
}

type rangeEntry struct {
	lo, hi u128
	ind    *Indicator
}

func (r *ranges) bucketOf(a u128) uint32 {
	if r.v6 {
		return uint32(a.hi >> 48)
	}
	return uint32(a.lo>>16) & 0xffff
}

func buildRanges(v6 bool, es []rangeEntry) *ranges {
	if len(es) == 0 {
		return nil
	}
	// Outer ranges before the ranges they hold.
	slices.SortStableFunc(es, func(a, b rangeEntry) int {
		if c := a.lo.cmp(b.lo); c != 0 {
			return c
		}
		return b.hi.cmp(a.hi)
	})
	r := &ranges{v6: v6}
	var ids []uint32
	var his []u128
	for i, e := range es {
		if i == 0 || e.lo != es[i-1].lo || e.hi != es[i-1].hi {
			his = append(his, e.hi)
		}
		ids = append(ids, uint32(len(his)-1))
	}
	inds := make([]*Indicator, len(es))
	for i := range es {
		inds[i] = es[i].ind
	}
	r.start, r.inds = group(len(his), ids, inds)
	r.parent = make([]int32, len(his))
	emit := func(at u128, owner int32) {
		if n := len(r.starts); n > 0 && r.starts[n-1] == at {
			r.owner[n-1] = owner
			return
		}
		if n := len(r.owner); n > 0 && r.owner[n-1] == owner {
			return
		}
		r.starts = append(r.starts, at)
		r.owner = append(r.owner, owner)
	}
	top := func(stack []int32) int32 {
		if len(stack) == 0 {
			return -1
		}
		return stack[len(stack)-1]
	}
	var stack []int32
	closeRange := func() {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !his[t].isMax(v6) {
			emit(his[t].next(), top(stack))
		}
	}
	id := int32(-1)
	for i, e := range es {
		if i > 0 && e.lo == es[i-1].lo && e.hi == es[i-1].hi {
			continue
		}
		id++
		for len(stack) > 0 && his[top(stack)].cmp(e.lo) < 0 {
			closeRange()
		}
		r.parent[id] = top(stack)
		emit(e.lo, id)
		stack = append(stack, id)
	}
	for len(stack) > 0 {
		closeRange()
	}
	r.bucket = make([]uint32, 1<<16+1)
	for i, s := range r.starts {
		r.bucket[r.bucketOf(s)+1] = uint32(i + 1)
	}
	for b := 1; b < len(r.bucket); b++ {
		r.bucket[b] = max(r.bucket[b], r.bucket[b-1])
	}
	// bucket[b] now counts the starts in buckets below b.
	if !v6 {
		r.start4 = make([]uint32, len(r.starts))
		for i, s := range r.starts {
			r.start4[i] = uint32(s.lo)
		}
		r.starts = nil
	}
	return r
}

// innermost returns the innermost IPv6 range that holds a, or -1. The
// ranges holding that one follow through parent.
func (r *ranges) innermost(a u128) int32 {
	b := r.bucketOf(a)
	lo, hi := int(r.bucket[b]), int(r.bucket[b+1])
	// Count the starts <= a within the bucket.
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.starts[m].cmp(a) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1
	}
	return r.owner[lo-1]
}

// innermost4 is innermost for an IPv4 address.
func (r *ranges) innermost4(a uint32) int32 {
	b := a >> 16
	lo, hi := int(r.bucket[b]), int(r.bucket[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.start4[m] <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1
	}
	return r.owner[lo-1]
}

func (r *ranges) members(id int32) []*Indicator {
	return r.inds[r.start[id]:r.start[id+1]]
}
