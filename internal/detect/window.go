package detect

// windowSet finds needles of at least winLen bytes by their last winLen
// bytes: every position of the haystack is read as one 8-byte word, ASCII
// case folded by setting bit 5 of every byte, filtered by a Bloom bitmap
// and looked up in a map. Unlike the automaton, whose cost per byte grows
// with the size of the needle set (cache misses in large transition
// tables), this costs the same few nanoseconds per byte for any number of
// needles, and it reads the original value, so values need not be
// lowered first.
//
// Folding with bit 5 merges some punctuation pairs (for example \ and |)
// as well as letter cases, so a word hit is verified: the whole needle
// must end there, compared with ASCII case folded. Needles holding
// non-ASCII bytes cannot be verified that way (their lowered form may
// differ in bytes from the original text's) and are reported on the word
// alone: a superset, which is what a prefilter may report, and their atoms
// never prove an item (see plan.approx).
type windowSet struct {
	bloom []uint64 // 1<<bits bits
	shift uint     // 64 - bits
	ids   map[uint64][]winEntry
	// pairs and singles are a pair filter (see pickBigrams) checked before
	// the scan: cheaper per byte than hashing every position.
	pairs   *[1 << 16 / 64]uint64
	singles *[4]uint64
}

type winEntry struct {
	needle string
	id     int32
	verify bool
}

// asciiNeedle reports whether n is all ASCII (verifiable by folding).
func asciiNeedle(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] >= 0x80 {
			return false
		}
	}
	return true
}

const (
	winLen  = 8
	winFold = 0x2020202020202020
	// maxWinBits bounds the Bloom bitmap: 2^18 bits, 32 KiB, about 2%
	// false hits with 5,000 needles (the largest fields of the SigmaHQ
	// set). Smaller sets get 64 bits per needle, so that the bitmaps of a
	// plan stay in cache.
	maxWinBits = 18
	minWinBits = 9
)

// windowable reports whether needle n (lowered) can be found by its last
// winLen bytes: it is long enough and those bytes are ASCII.
func windowable(n string) bool {
	if len(n) < winLen {
		return false
	}
	for i := len(n) - winLen; i < len(n); i++ {
		if n[i] >= 0x80 {
			return false
		}
	}
	return true
}

func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func winHash(x uint64, shift uint) uint64 { return (x * 0x9E3779B97F4A7C15) >> shift }

// buildWindows indexes needles (all windowable) with their ids.
func buildWindows(needles []string, ids []int32) *windowSet {
	w := &windowSet{ids: make(map[uint64][]winEntry, len(needles))}
	w.pairs, w.singles = pickBigrams(needles)
	bits := uint(minWinBits)
	for bits < maxWinBits && 1<<bits < 64*len(needles) {
		bits++
	}
	w.bloom = make([]uint64, 1<<bits/64)
	w.shift = 64 - bits
	for i, n := range needles {
		x := load64(n, len(n)-winLen) | winFold
		h := winHash(x, w.shift)
		w.bloom[h/64] |= 1 << (h % 64)
		w.ids[x] = append(w.ids[x], winEntry{needle: n, id: ids[i], verify: asciiNeedle(n)})
	}
	return w
}

// foldEqual reports whether a with ASCII letters lowered equals b.
func foldEqual(a, b string) bool {
	for i := 0; i < len(b); i++ {
		if foldASCII[a[i]] != b[i] {
			return false
		}
	}
	return true
}

// scan appends to dst the ids of the needles that occur in s (ASCII case
// ignored; see windowSet for needles with non-ASCII bytes).
func (w *windowSet) scan(s string, dst []int32) []int32 {
	if len(s) < winLen || !pairsMayContainFold(w.pairs, w.singles, s) {
		return dst
	}
	bloom, shift := w.bloom, w.shift
	for i := 0; i+winLen <= len(s); i++ {
		x := load64(s, i) | winFold
		h := winHash(x, shift)
		if bloom[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		end := i + winLen
		for _, en := range w.ids[x] {
			if !en.verify {
				dst = append(dst, en.id)
				continue
			}
			start := end - len(en.needle)
			if start >= 0 && foldEqual(s[start:end], en.needle) {
				dst = append(dst, en.id)
			}
		}
	}
	return dst
}
