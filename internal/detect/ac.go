package detect

import (
	"slices"
	"strings"
)

// acMatcher is an Aho-Corasick automaton over byte classes: a dense
// transition table for the root and sparse, sorted edges with failure
// links for the other states. (A full DFA table is faster per step in
// theory but, with tens of thousands of states, megabytes large and
// cache-hostile; this layout keeps the hot shallow states in a few cache
// lines.) It reports, for a haystack, every (overlapping) occurrence of its
// needles as the ids attached to them. It is immutable after build and
// allocation-free when scanning.
//
// Vigil implements its own rather than using
// github.com/petar-dambovaliev/aho-corasick because that package allocates
// per scan and per match (iterator and *Match values), which the per-event
// hot path cannot afford.
type acMatcher struct {
	classes [256]uint8
	nclass  int32
	root    [256]int32 // byte -> state from the root
	// Edges of state s are edgeClass/edgeTo[edgeStart[s]:edgeStart[s+1]],
	// sorted by class.
	edgeStart []int32
	edgeClass []uint8
	edgeTo    []int32
	fail      []int32
	// dense, when set, is the full transition table (state*nclass +
	// class), built for automata small enough to stay in cache; targets
	// that have outputs carry emitFlag.
	dense  []int32
	nDense int32 // states with a dense row: 0 <= s < nDense
	// emits[s] reports whether reaching s reports any needle.
	emits []bool
	// bigrams, when set, holds for every needle one of its adjacent byte
	// pairs (the rarest by a static estimate): a haystack holding none of
	// them cannot contain a needle and is not scanned. Checking pairs has
	// no dependency chain between bytes, unlike automaton steps, so it runs
	// several times faster than the automaton.
	bigrams *[1 << 16 / 64]uint64
	singles *[4]uint64
	// own[s] is the range of outAtoms for needles ending at state s;
	// dict[s] is the nearest state on s's failure chain with outputs
	// (-1 if none).
	ownStart []int32
	ownEnd   []int32
	dict     []int32
	outAtoms []int32
}

// emitFlag marks dense-table targets that report needles.
const emitFlag = -1 << 31

// maxDense bounds the transition table of automata that get a dense one
// (64K entries, 256 KiB).
const maxDense = 1 << 16

// maxACStates bounds an automaton's size; needles past it are left out and
// their atoms reported as always hit (see build).
const maxACStates = 1 << 22

// buildAC builds the automaton of needles; atoms[i] are reported when
// needles[i] occurs. Empty needles are ignored. It returns the atoms that
// could not be added (size bound), which callers treat as always hit.
func buildAC(needles []string, atoms [][]int32) (*acMatcher, []int32) {
	m := &acMatcher{}
	// Byte classes: each printable ASCII byte occurring in a needle gets
	// its own class; control bytes share one class and bytes >= 0x80
	// another (merging bytes only adds false hits, which a prefilter may
	// have); every other byte shares class 0.
	var used [256]bool
	for _, n := range needles {
		for i := 0; i < len(n); i++ {
			used[n[i]] = true
		}
	}
	m.nclass = 1
	var ctl, high uint8
	for b := 0; b < 256; b++ {
		if !used[b] {
			continue
		}
		switch {
		case b < 0x20 || b == 0x7f:
			if ctl == 0 {
				ctl = uint8(m.nclass)
				m.nclass++
			}
			m.classes[b] = ctl
		case b >= 0x80:
			if high == 0 {
				high = uint8(m.nclass)
				m.nclass++
			}
			m.classes[b] = high
		default:
			m.classes[b] = uint8(m.nclass)
			m.nclass++
		}
	}
	// Trie with sparse children during construction.
	type node struct {
		next map[uint8]int32
		out  []int32
	}
	nodes := []node{{}}
	var overflow []int32
	for i, n := range needles {
		if n == "" {
			continue
		}
		s := int32(0)
		ok := true
		for j := 0; j < len(n); j++ {
			c := m.classes[n[j]]
			nx, exists := nodes[s].next[c]
			if !exists {
				if len(nodes) >= maxACStates {
					ok = false
					break
				}
				nx = int32(len(nodes))
				nodes = append(nodes, node{})
				if nodes[s].next == nil {
					nodes[s].next = map[uint8]int32{}
				}
				nodes[s].next[c] = nx
			}
			s = nx
		}
		if !ok {
			overflow = append(overflow, atoms[i]...)
			continue
		}
		nodes[s].out = append(nodes[s].out, atoms[i]...)
	}
	ns := int32(len(nodes))
	m.fail = make([]int32, ns)
	m.dict = make([]int32, ns)
	m.ownStart = make([]int32, ns)
	m.ownEnd = make([]int32, ns)
	m.edgeStart = make([]int32, ns+1)
	for s := range nodes {
		m.ownStart[s] = int32(len(m.outAtoms))
		m.outAtoms = append(m.outAtoms, nodes[s].out...)
		m.ownEnd[s] = int32(len(m.outAtoms))
		m.edgeStart[s] = int32(len(m.edgeTo))
		cs := make([]int, 0, len(nodes[s].next))
		for c := range nodes[s].next {
			cs = append(cs, int(c))
		}
		slices.Sort(cs)
		for _, c := range cs {
			m.edgeClass = append(m.edgeClass, uint8(c))
			m.edgeTo = append(m.edgeTo, nodes[s].next[uint8(c)])
		}
	}
	m.edgeStart[ns] = int32(len(m.edgeTo))
	// BFS to fill failure and dictionary links.
	queue := make([]int32, 0, ns)
	m.dict[0] = -1
	for _, nx := range nodes[0].next {
		m.fail[nx] = 0
		m.dict[nx] = -1
		queue = append(queue, nx)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c, nx := range nodes[s].next {
			f := m.step(m.fail[s], c)
			m.fail[nx] = f
			if m.ownEnd[f] > m.ownStart[f] {
				m.dict[nx] = f
			} else {
				m.dict[nx] = m.dict[f]
			}
			queue = append(queue, nx)
		}
	}
	for b := 0; b < 256; b++ {
		if nx, ok := nodes[0].next[m.classes[b]]; ok {
			m.root[b] = nx
		}
	}
	m.bigrams, m.singles = pickBigrams(needles)
	m.emits = make([]bool, ns)
	for st := int32(1); st < ns; st++ {
		m.emits[st] = m.ownEnd[st] > m.ownStart[st] || m.dict[st] >= 0
	}
	// Dense rows for the first states in BFS order (the shallow ones,
	// where scanning spends its time); all of them for small automata.
	m.nDense = min(ns, int32(maxDense/int(m.nclass)))
	{
		m.dense = make([]int32, int(m.nDense)*int(m.nclass))
		for st := int32(0); st < m.nDense; st++ {
			for c := int32(0); c < m.nclass; c++ {
				nx := m.step(st, uint8(c))
				if m.emits[nx] {
					nx |= emitFlag
				}
				m.dense[st*m.nclass+c] = nx
			}
		}
	}
	return m, overflow
}

// step returns the state after reading class c in state st.
func (m *acMatcher) step(st int32, c uint8) int32 {
	for st != 0 {
		lo, hi := m.edgeStart[st], m.edgeStart[st+1]
		for j := lo; j < hi; j++ {
			if ec := m.edgeClass[j]; ec == c {
				return m.edgeTo[j]
			} else if ec > c {
				break
			}
		}
		st = m.fail[st]
	}
	for j := m.edgeStart[0]; j < m.edgeStart[1]; j++ {
		if m.edgeClass[j] == c {
			return m.edgeTo[j]
		}
	}
	return 0
}

// byteWeight estimates how common a byte is in log text (higher: more
// common), for choosing rare pairs.
func byteWeight(c byte) int {
	switch {
	case strings.IndexByte("etaoinsr", c) >= 0:
		return 12
	case strings.IndexByte("hldcumfpgwybvk", c) >= 0:
		return 8
	case c >= '0' && c <= '9':
		return 8
	case strings.IndexByte(` \.-/_"`, c) >= 0:
		return 9
	case c >= 'a' && c <= 'z':
		return 4
	case strings.IndexByte(":,=;'()[]{}", c) >= 0:
		return 3
	}
	return 1
}

// pickBigrams chooses a rare adjacent pair per needle. A one-byte needle
// c marks every pair holding c, and c in singles (for one-byte haystacks).
func pickBigrams(needles []string) (*[1 << 16 / 64]uint64, *[4]uint64) {
	var bm [1 << 16 / 64]uint64
	var singles [4]uint64
	set := func(b uint16) { bm[b/64] |= 1 << (b % 64) }
	for _, n := range needles {
		switch len(n) {
		case 0:
			continue
		case 1:
			c := uint16(n[0])
			singles[c/64] |= 1 << (c % 64)
			for x := uint16(0); x < 256; x++ {
				set(c<<8 | x)
				set(x<<8 | c)
			}
			continue
		}
		best, bestW := 0, 1<<30
		for i := 0; i+1 < len(n); i++ {
			if w := byteWeight(n[i]) * byteWeight(n[i+1]); w < bestW {
				best, bestW = i, w
			}
		}
		set(uint16(n[best])<<8 | uint16(n[best+1]))
	}
	return &bm, &singles
}

// mayContain reports whether s holds one of the chosen pairs.
func (m *acMatcher) mayContain(s string) bool {
	bm := m.bigrams
	if len(s) == 1 {
		c := s[0]
		return m.singles[c/64]&(1<<(c%64)) != 0
	}
	for i := 0; i+1 < len(s); i++ {
		b := uint16(s[i])<<8 | uint16(s[i+1])
		if bm[b/64]&(1<<(b%64)) != 0 {
			return true
		}
	}
	return false
}

// mayContainFold is mayContain on the lowered form of s, read from s
// itself (see pairsMayContainFold).
func (m *acMatcher) mayContainFold(s string) bool {
	if m.bigrams == nil {
		return true
	}
	return pairsMayContainFold(m.bigrams, m.singles, s)
}

// pairsMayContainFold reports whether the lowered form of s may hold one
// of the pairs of bm (or, for a one-byte s, a byte of singles), reading s
// itself: ASCII letters are folded on the fly, and any non-ASCII byte
// (whose lowered form may differ) answers true.
func pairsMayContainFold(bm *[1 << 16 / 64]uint64, singles *[4]uint64, s string) bool {
	if len(s) < 2 {
		if len(s) == 0 {
			return false
		}
		c := foldASCII[s[0]]
		return c >= 0x80 || singles[c/64]&(1<<(c%64)) != 0
	}
	prev := foldASCII[s[0]]
	if s[0] >= 0x80 {
		return true
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return true
		}
		c = foldASCII[c]
		b := uint16(prev)<<8 | uint16(c)
		if bm[b/64]&(1<<(b%64)) != 0 {
			return true
		}
		prev = c
	}
	return false
}

// foldASCII maps ASCII upper-case letters to lower case, other bytes to
// themselves.
var foldASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i + 'a' - 'A')
		}
	}
	return t
}()

// scan appends to dst the atoms of every needle occurrence in s (an atom
// may repeat) and returns it.
func (m *acMatcher) scan(s string, dst []int32) []int32 {
	if m.bigrams != nil && !m.mayContain(s) {
		return dst
	}
	return m.scanUnfiltered(s, dst)
}

// scanUnfiltered is scan without the pair filter.
func (m *acMatcher) scanUnfiltered(s string, dst []int32) []int32 {
	st := int32(0)
	if m.nDense == int32(len(m.emits)) {
		dense, classes, nc := m.dense, &m.classes, m.nclass
		for i := 0; i < len(s); i++ {
			v := dense[st*nc+int32(classes[s[i]])]
			st = v &^ emitFlag
			if v < 0 {
				dst = m.emit(st, dst)
			}
		}
		return dst
	}
	dense, classes, nc, nd := m.dense, &m.classes, m.nclass, m.nDense
	for i := 0; i < len(s); i++ {
		c := classes[s[i]]
		moved := false
		// Sparse states: take an edge, or fall back along failure links
		// until one is taken or a state with a dense row is reached.
		for st >= nd {
			if nx, ok := m.edge(st, c); ok {
				st, moved = nx, true
				break
			}
			st = m.fail[st]
		}
		if moved {
			if m.emits[st] {
				dst = m.emit(st, dst)
			}
			continue
		}
		v := dense[st*nc+int32(c)]
		st = v &^ emitFlag
		if v < 0 {
			dst = m.emit(st, dst)
		}
	}
	return dst
}

// edge returns the target of state st's edge for class c.
func (m *acMatcher) edge(st int32, c uint8) (int32, bool) {
	for j := m.edgeStart[st]; j < m.edgeStart[st+1]; j++ {
		if ec := m.edgeClass[j]; ec == c {
			return m.edgeTo[j], true
		} else if ec > c {
			break
		}
	}
	return 0, false
}

// emit appends the outputs of state st and of its dictionary chain.
func (m *acMatcher) emit(st int32, dst []int32) []int32 {
	for o := st; o > 0; o = m.dict[o] {
		dst = append(dst, m.outAtoms[m.ownStart[o]:m.ownEnd[o]]...)
	}
	return dst
}
