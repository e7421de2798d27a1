package intel

import (
	"hash/maphash"
	"math/bits"
)

// slot is one cell of an open-addressing table: the high half of the key's
// hash (to skip most key compares) and 1 + the key's index (0: empty).
type slot struct {
	tag uint32
	id  uint32
}

// table is an immutable hash table from keys to the indicators that share
// the key. Keys are dense in keys; the indicators of key i are
// inds[start[i]:start[i+1]]. The slot array is at most half full, so a miss
// usually costs one probe.
type table[K comparable] struct {
	// f holds every key's hash: most misses stop at one word of it, which
	// is a sixteenth of the size of slots and so more often in cache.
	f     filter
	mask  uint64
	slots []slot
	keys  []K
	start []uint32
	inds  []*Indicator
}

// lookup returns the indicators of k, whose hash is h.
func (t *table[K]) lookup(k K, h uint64) []*Indicator {
	if !t.f.has(h) {
		return nil
	}
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.id == 0 {
			return nil
		}
		if s.tag == tag && t.keys[s.id-1] == k {
			return t.members(s.id - 1)
		}
	}
}

func (t *table[K]) members(id uint32) []*Indicator {
	return t.inds[t.start[id]:t.start[id+1]]
}

// lookupBytes is lookup for a string table with the key in a byte slice.
func lookupBytes(t *table[string], b []byte, h uint64) []*Indicator {
	if !t.f.has(h) {
		return nil
	}
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.id == 0 {
			return nil
		}
		if s.tag == tag && t.keys[s.id-1] == string(b) {
			return t.members(s.id - 1)
		}
	}
}

// lookupSplit is lookup for a string table with the key given in two
// parts, head and tail.
func lookupSplit(t *table[string], head []byte, tail string, h uint64) []*Indicator {
	if !t.f.has(h) {
		return nil
	}
	tag := uint32(h >> 32)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.id == 0 {
			return nil
		}
		if s.tag == tag {
			k := t.keys[s.id-1]
			if len(k) == len(head)+len(tail) && k[:len(head)] == string(head) && k[len(head):] == tail {
				return t.members(s.id - 1)
			}
		}
	}
}

// tableBuilder collects the entries of a table.
type tableBuilder[K comparable] struct {
	t      table[K]
	hashes []uint64 // of keys, to grow the table
	ids    []uint32
	inds   []*Indicator
}

// newTableBuilder sizes the table for n distinct keys; it grows if more
// come.
func newTableBuilder[K comparable](n int) *tableBuilder[K] {
	b := &tableBuilder[K]{}
	if n > 0 {
		b.t.slots = make([]slot, slotsFor(n))
		b.t.mask = uint64(len(b.t.slots) - 1)
		b.hashes = make([]uint64, 0, n)
		b.ids = make([]uint32, 0, n)
		b.inds = make([]*Indicator, 0, n)
	}
	return b
}

// slotsFor returns the slot count that keeps n keys at most half full.
func slotsFor(n int) int {
	if n <= 4 {
		return 8
	}
	return 1 << bits.Len64(uint64(2*n-1))
}

// add records ind under key k, whose hash is h.
func (b *tableBuilder[K]) add(k K, h uint64, ind *Indicator) {
	t := &b.t
	if 2*(len(t.keys)+1) > len(t.slots) {
		b.grow()
	}
	tag := uint32(h >> 32)
	i := h & t.mask
	for ; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s.id == 0 {
			break
		}
		if s.tag == tag && t.keys[s.id-1] == k {
			b.ids = append(b.ids, s.id-1)
			b.inds = append(b.inds, ind)
			return
		}
	}
	t.keys = append(t.keys, k)
	b.hashes = append(b.hashes, h)
	t.slots[i] = slot{tag: tag, id: uint32(len(t.keys))}
	b.ids = append(b.ids, uint32(len(t.keys)-1))
	b.inds = append(b.inds, ind)
}

// grow doubles the slots and places the keys again.
func (b *tableBuilder[K]) grow() {
	t := &b.t
	t.slots = make([]slot, slotsFor(max(len(t.keys)+1, len(t.slots))))
	t.mask = uint64(len(t.slots) - 1)
	for id, h := range b.hashes {
		i := h & t.mask
		for t.slots[i].id != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot{tag: uint32(h >> 32), id: uint32(id + 1)}
	}
}

// finish groups the indicators by key and returns the table.
func (b *tableBuilder[K]) finish() table[K] {
	t := b.t
	if len(t.keys) == 0 {
		return table[K]{}
	}
	t.start, t.inds = group(len(t.keys), b.ids, b.inds)
	t.keys = t.keys[:len(t.keys):len(t.keys)]
	t.f = newFilter(len(t.keys))
	for _, h := range b.hashes {
		t.f.add(h)
	}
	return t
}

// group sorts inds by their ids (a counting sort) and drops an indicator
// that repeats the previous one of its key with the same context (a feed
// listing a value twice).
func group(nkeys int, ids []uint32, inds []*Indicator) (start []uint32, out []*Indicator) {
	start = make([]uint32, nkeys+1)
	for _, id := range ids {
		start[id+1]++
	}
	for i := 1; i <= nkeys; i++ {
		start[i] += start[i-1]
	}
	out = make([]*Indicator, len(inds))
	next := make([]uint32, nkeys)
	copy(next, start[:nkeys])
	for i, id := range ids {
		out[next[id]] = inds[i]
		next[id]++
	}
	// Compact in place.
	w := uint32(0)
	for id := 0; id < nkeys; id++ {
		lo, hi := start[id], start[id+1]
		start[id] = w
		for j := lo; j < hi; j++ {
			in := out[j]
			if j > lo && w > start[id] {
				prev := out[w-1]
				if prev.Context == in.Context && prev.Value == in.Value {
					continue
				}
			}
			out[w] = in
			w++
		}
	}
	start[nkeys] = w
	return start, out[:w:w]
}

// mix64 is a seeded 64-bit finalizer (from MurmurHash3) for integer keys.
func mix64(x, seed uint64) uint64 {
	x ^= seed
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// hasher holds an index's hash seeds.
type hasher struct {
	seed   maphash.Seed
	seed64 uint64
}

func newHasher() hasher {
	s := maphash.MakeSeed()
	return hasher{seed: s, seed64: maphash.String(s, "intel")}
}

func (h hasher) u32(x uint32) uint64 { return mix64(uint64(x), h.seed64) }

func (h hasher) bytes(b []byte) uint64 { return maphash.Bytes(h.seed, b) }

func (h hasher) str(s string) uint64 { return maphash.String(h.seed, s) }

// filter is a blocked Bloom filter with two bits per key in one 64-bit
// word: a compact guard in front of a table, so that most misses touch one
// word instead of the table.
type filter struct {
	words []uint64
	mask  uint64
}

// newFilter sizes a filter for n keys at about 16 bits per key (a false
// positive rate near 1.5 %).
func newFilter(n int) filter {
	words := uint64(1)
	if n > 4 {
		words = 1 << bits.Len64(uint64(n/4))
	}
	return filter{words: make([]uint64, words), mask: words - 1}
}

func filterBits(h uint64) (word, bitmask uint64) {
	f := bits.RotateLeft64(h, 23)
	return f, 1<<(f>>52&63) | 1<<(f>>58&63)
}

func (f *filter) add(h uint64) {
	w, m := filterBits(h)
	f.words[w&f.mask] |= m
}

// has reports whether h may have been added.
func (f *filter) has(h uint64) bool {
	if len(f.words) == 0 {
		return false
	}
	w, m := filterBits(h)
	return f.words[w&f.mask]&m == m
}
