package detect

// acMatcher is an Aho-Corasick automaton compiled to a DFA over byte
// classes. It reports, for a haystack, every (overlapping) occurrence of
// its needles as the atoms attached to them. It is immutable after build
// and allocation-free when scanning.
//
// Vigil implements its own rather than using
// github.com/petar-dambovaliev/aho-corasick because that package allocates
// per scan and per match (iterator and *Match values), which the per-event
// hot path cannot afford.
type acMatcher struct {
	classes [256]uint8
	nclass  int32
	delta   []int32 // state*nclass + class -> state
	// own[s] is the range of outAtoms for needles ending at state s;
	// dict[s] is the nearest state on s's failure chain with outputs
	// (-1 if none).
	ownStart []int32
	ownEnd   []int32
	dict     []int32
	outAtoms []int32
}

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
	nc := m.nclass
	m.delta = make([]int32, int(ns)*int(nc))
	fail := make([]int32, ns)
	m.dict = make([]int32, ns)
	m.ownStart = make([]int32, ns)
	m.ownEnd = make([]int32, ns)
	for s := range nodes {
		m.ownStart[s] = int32(len(m.outAtoms))
		m.outAtoms = append(m.outAtoms, nodes[s].out...)
		m.ownEnd[s] = int32(len(m.outAtoms))
	}
	// BFS to fill failure links and the DFA.
	queue := make([]int32, 0, ns)
	m.dict[0] = -1
	for c := int32(0); c < nc; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok {
			m.delta[c] = nx
			fail[nx] = 0
			m.dict[nx] = -1
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := int32(0); c < nc; c++ {
			nx, ok := nodes[s].next[uint8(c)]
			if !ok {
				m.delta[s*nc+c] = m.delta[fail[s]*nc+c]
				continue
			}
			m.delta[s*nc+c] = nx
			f := m.delta[fail[s]*nc+c]
			fail[nx] = f
			if m.ownEnd[f] > m.ownStart[f] {
				m.dict[nx] = f
			} else {
				m.dict[nx] = m.dict[f]
			}
			queue = append(queue, nx)
		}
	}
	return m, overflow
}

// scan appends to dst the atoms of every needle occurrence in s (an atom
// may repeat) and returns it.
func (m *acMatcher) scan(s string, dst []int32) []int32 {
	st := int32(0)
	nc := m.nclass
	delta, classes := m.delta, &m.classes
	for i := 0; i < len(s); i++ {
		st = delta[st*nc+int32(classes[s[i]])]
		for o := st; o > 0; o = m.dict[o] {
			dst = append(dst, m.outAtoms[m.ownStart[o]:m.ownEnd[o]]...)
		}
	}
	return dst
}
