package intel

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

// DefaultFields returns the event fields checked by default and the kind
// of indicator each holds. Hash fields also accept the Sysmon form that
// lists several digests ("SHA256=...,MD5=...,IMPHASH=...").
func DefaultFields() map[string]Kind {
	m := map[string]Kind{}
	for _, f := range []string{"source.ip", "destination.ip", "client.ip", "server.ip", "host.ip",
		"SourceIp", "DestinationIp", "IpAddress"} {
		m[f] = KindIP
	}
	for _, f := range []string{"dns.question.name", "url.domain", "destination.domain", "server.domain",
		"QueryName", "DestinationHostname"} {
		m[f] = KindDomain
	}
	for _, f := range []string{"url.original", "url.full"} {
		m[f] = KindURL
	}
	for _, f := range []string{"file.hash.md5", "file.hash.sha1", "file.hash.sha256",
		"process.hash.md5", "process.hash.sha1", "process.hash.sha256", "Hashes", "Hash"} {
		m[f] = KindHash
	}
	for _, f := range []string{"email.from.address", "user.email", "source.user.email"} {
		m[f] = KindEmail
	}
	return m
}

// IndexOptions configures NewIndex.
type IndexOptions struct {
	// Now is the time against which expiry is checked while building; zero
	// means time.Now().
	Now time.Time
	// Fields maps the event fields to check to the kind of indicator they
	// hold; nil means DefaultFields().
	Fields map[string]Kind
}

// Index is an immutable set of indicators that matches events. It is safe
// for concurrent use.
type Index struct {
	h       hasher
	fields  []Kind // by event.Key
	n       int
	v4      table[uint32]
	v6      table[[16]byte]
	r4, r6  *ranges
	domains table[string]
	urls    table[string]
	origins filter // normalized origins of the URL indicators
	labels  uint64 // bit n: some domain indicator has n labels (63: more)
	emails  table[string]
	md5     table[[16]byte]
	sha1    table[[20]byte]
	sha256  table[[32]byte]
	expiry  bool // some indicator has a ValidUntil
	counts  [KindEmail + 1]int
}

// NewIndex builds an index of the indicators of every set. Indicators
// expired at opts.Now and indicators whose value is not in normalized form
// are left out. The index keeps pointers into the sets, which must not be
// modified afterwards.
func NewIndex(sets [][]Indicator, opts IndexOptions) *Index {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	fields := opts.Fields
	if fields == nil {
		fields = DefaultFields()
	}
	x := &Index{h: newHasher()}
	maxKey := event.Key(0)
	keys := make(map[event.Key]Kind, len(fields))
	for name, k := range fields {
		key := event.Intern(name)
		if key == event.OverflowKey || k == KindUnknown || k > KindEmail {
			continue
		}
		keys[key] = k
		maxKey = max(maxKey, key)
	}
	if len(keys) > 0 {
		x.fields = make([]Kind, maxKey+1)
		for key, k := range keys {
			x.fields[key] = k
		}
	}

	// Size the tables by an upper bound of their keys.
	var nV4, nV6, nDomain, nURL, nEmail, nMD5, nSHA1, nSHA256 int
	for _, set := range sets {
		for i := range set {
			switch in := &set[i]; in.Kind {
			case KindIP:
				switch {
				case strings.IndexByte(in.Value, '/') >= 0:
					// A range: it goes to the range list.
				case strings.IndexByte(in.Value, ':') >= 0:
					nV6++
				default:
					nV4++
				}
			case KindDomain:
				nDomain++
			case KindURL:
				nURL++
			case KindEmail:
				nEmail++
			case KindHash:
				switch len(in.Value) {
				case 32:
					nMD5++
				case 40:
					nSHA1++
				case 64:
					nSHA256++
				}
			}
		}
	}
	x.origins = newFilter(nURL)
	var (
		v4      = newTableBuilder[uint32](nV4)
		v6      = newTableBuilder[[16]byte](nV6)
		domains = newTableBuilder[string](nDomain)
		urls    = newTableBuilder[string](nURL)
		emails  = newTableBuilder[string](nEmail)
		md5     = newTableBuilder[[16]byte](nMD5)
		sha1    = newTableBuilder[[20]byte](nSHA1)
		sha256  = newTableBuilder[[32]byte](nSHA256)
		r4, r6  []rangeEntry
	)
	for _, set := range sets {
		for i := range set {
			in := &set[i]
			if in.Expired(now) {
				continue
			}
			ok := true
			switch in.Kind {
			case KindIP:
				ok = x.addIP(in, v4, v6, &r4, &r6)
			case KindDomain:
				domains.add(in.Value, x.h.str(in.Value), in)
				x.labels |= 1 << min(strings.Count(in.Value, ".")+1, 63)
			case KindURL:
				var buf [256]byte
				prefix, origin, _, okURL := appendURLPrefix(buf[:0], in.Value)
				if ok = okURL; ok {
					urls.add(in.Value, x.h.str(in.Value), in)
					x.origins.add(x.h.bytes(prefix[:origin]))
				}
			case KindEmail:
				emails.add(in.Value, x.h.str(in.Value), in)
			case KindHash:
				ok = addHash(x.h, in, md5, sha1, sha256)
			default:
				ok = false
			}
			if ok && in.Context != nil && !in.Context.ValidUntil.IsZero() {
				x.expiry = true
			}
		}
	}
	x.v4, x.v6 = v4.finish(), v6.finish()
	x.r4, x.r6 = buildRanges(false, r4), buildRanges(true, r6)
	x.domains, x.urls, x.emails = domains.finish(), urls.finish(), emails.finish()
	x.md5, x.sha1, x.sha256 = md5.finish(), sha1.finish(), sha256.finish()
	x.counts[KindIP] = len(x.v4.inds) + len(x.v6.inds)
	for _, r := range []*ranges{x.r4, x.r6} {
		if r != nil {
			x.counts[KindIP] += len(r.inds)
		}
	}
	x.counts[KindDomain] = len(x.domains.inds)
	x.counts[KindURL] = len(x.urls.inds)
	x.counts[KindEmail] = len(x.emails.inds)
	x.counts[KindHash] = len(x.md5.inds) + len(x.sha1.inds) + len(x.sha256.inds)
	for _, n := range x.counts {
		x.n += n
	}
	return x
}

func (x *Index) addIP(in *Indicator, v4 *tableBuilder[uint32], v6 *tableBuilder[[16]byte], r4, r6 *[]rangeEntry) bool {
	if strings.IndexByte(in.Value, '/') >= 0 {
		p, err := netip.ParsePrefix(in.Value)
		if err != nil {
			return false
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		lo, hi := prefixRange(p)
		if p.Addr().Is4() {
			*r4 = append(*r4, rangeEntry{lo, hi, in})
		} else {
			*r6 = append(*r6, rangeEntry{lo, hi, in})
		}
		return true
	}
	a, err := netip.ParseAddr(in.Value)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		u := binary.BigEndian.Uint32(b[:])
		v4.add(u, x.h.u32(u), in)
		return true
	}
	b := a.As16()
	v6.add(b, x.h.bytes(b[:]), in)
	return true
}

func addHash(h hasher, in *Indicator, md5 *tableBuilder[[16]byte], sha1 *tableBuilder[[20]byte], sha256 *tableBuilder[[32]byte]) bool {
	switch len(in.Value) {
	case 32:
		var k [16]byte
		if !decodeHex(k[:], in.Value) {
			return false
		}
		md5.add(k, h.bytes(k[:]), in)
	case 40:
		var k [20]byte
		if !decodeHex(k[:], in.Value) {
			return false
		}
		sha1.add(k, h.bytes(k[:]), in)
	case 64:
		var k [32]byte
		if !decodeHex(k[:], in.Value) {
			return false
		}
		sha256.add(k, h.bytes(k[:]), in)
	default:
		return false
	}
	return true
}

// decodeHex decodes the hex digits of s (2*len(dst) of them, any case)
// into dst. It reports false if s has another length or a non-hex byte.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	// Eight digits at a time, then the rest one by one.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v, ok := hex8(load64(s[i : i+8]))
		if !ok {
			return false
		}
		binary.LittleEndian.PutUint32(dst[i/2:], v)
	}
	var bad byte
	for ; i < len(s); i += 2 {
		a, b := hexValue[s[i]], hexValue[s[i+1]]
		bad |= a | b
		dst[i/2] = a<<4 | b
	}
	return bad <= 15
}

// hex8 decodes eight hex digits loaded little-endian into x, with SWAR
// arithmetic: each byte is checked to be 0-9, a-f or A-F, and the nibbles
// are packed pairwise.
func hex8(x uint64) (uint32, bool) {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	// inRange sets the high bit of each byte of x (all below 0x80) that is
	// within [lo, hi].
	inRange := func(x uint64, lo, hi uint64) uint64 {
		return (x + (0x80-lo)*ones) &^ (x + (0x7f-hi)*ones) & high
	}
	if x&high != 0 {
		return 0, false
	}
	if inRange(x, '0', '9')|inRange(x|0x20*ones, 'a', 'f') != high {
		return 0, false
	}
	// Nibble values: the low four bits, plus 9 for letters (bit 6 set).
	v := x&(0x0f*ones) + 9*(x>>6&ones)
	// Bytes v0..v7 in memory order; pair them into v0<<4|v1, ...
	t := (v<<4 | v>>8) & 0x00ff00ff00ff00ff
	t = (t | t>>8) & 0x0000ffff0000ffff
	t = (t | t>>16) & 0xffffffff
	return uint32(t), true
}

// load64 reads the eight bytes of s little-endian (the compiler makes it
// one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Len returns the number of indicators in the index. A value listed twice
// by a feed with the same context counts once.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return x.n
}

// Count returns the number of indicators of kind k in the index.
func (x *Index) Count(k Kind) int {
	if x == nil || int(k) >= len(x.counts) {
		return 0
	}
	return x.counts[k]
}

// matcher carries the state of one Match call.
type matcher struct {
	x     *Index
	fn    func(Hit)
	field event.Key
	now   time.Time
}

func (m *matcher) emit(inds []*Indicator, value string) {
	for _, in := range inds {
		if m.x.expiry && in.Context != nil && !in.Context.ValidUntil.IsZero() {
			if m.now.IsZero() {
				m.now = time.Now()
			}
			if in.Expired(m.now) {
				continue
			}
		}
		m.fn(Hit{Indicator: in, Field: m.field.Name(), Value: value})
	}
}

// Match calls fn for every indicator that matches a checked field of ev.
// It does not allocate unless something matches. A nil Index matches
// nothing.
func (x *Index) Match(ev *event.Event, fn func(Hit)) {
	if x == nil || x.n == 0 {
		return
	}
	m := matcher{x: x, fn: fn}
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if uint(f.Key) >= uint(len(x.fields)) {
			continue
		}
		k := x.fields[f.Key]
		if k == KindUnknown || f.Value.Str == "" {
			continue
		}
		m.field = f.Key
		m.match(k, f.Value.Str)
	}
}

// MatchValue calls fn for every indicator that matches value taken as a
// field of kind k (an address, a domain name, a URL, a hash or a list of
// hashes, an e-mail address).
func (x *Index) MatchValue(k Kind, value string, fn func(*Indicator)) {
	if x == nil || x.n == 0 {
		return
	}
	m := matcher{x: x, fn: func(h Hit) { fn(h.Indicator) }}
	m.match(k, value)
}

func (m *matcher) match(k Kind, s string) {
	switch k {
	case KindIP:
		m.matchIP(s)
	case KindDomain:
		m.matchDomain(s)
	case KindURL:
		m.matchURL(s)
	case KindHash:
		m.matchHashes(s)
	case KindEmail:
		m.matchEmail(s)
	}
}

func (m *matcher) matchIP(s string) {
	x := m.x
	if len(s) > 64 || len(s) < 2 {
		return
	}
	u, ok := parseIPv4(s)
	if !ok {
		v := s
		if i := strings.IndexByte(v, '%'); i >= 0 {
			v = v[:i] // an IPv6 zone
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return
		}
		a = a.Unmap()
		if a.Is4() {
			b := a.As4()
			u = binary.BigEndian.Uint32(b[:])
		} else {
			m.matchIPv6(a.As16(), s)
			return
		}
	}
	if len(x.v4.keys) > 0 {
		m.emit(x.v4.lookup(u, x.h.u32(u)), s)
	}
	if x.r4 != nil {
		for id := x.r4.innermost4(u); id >= 0; id = x.r4.parent[id] {
			m.emit(x.r4.members(id), s)
		}
	}
}

func (m *matcher) matchIPv6(b [16]byte, s string) {
	x := m.x
	if len(x.v6.keys) > 0 {
		m.emit(x.v6.lookup(b, x.h.bytes(b[:])), s)
	}
	if x.r6 != nil {
		a := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		for id := x.r6.innermost(a); id >= 0; id = x.r6.parent[id] {
			m.emit(x.r6.members(id), s)
		}
	}
}

// matchDomain looks up the name and each of its parent domains of two
// labels or more: a.b.evil.com, b.evil.com, evil.com. Only suffixes with a
// number of labels that some indicator has are looked up.
func (m *matcher) matchDomain(s string) {
	x := m.x
	if len(x.domains.keys) == 0 {
		return
	}
	s = strings.TrimSuffix(s, ".")
	if len(s) > maxDomainLen || len(s) < 3 {
		return
	}
	var buf [maxDomainLen]byte
	b := buf[:len(s)]
	labels := 1
	for i := 0; i < len(s); i++ {
		c := nameByte[s[i]]
		if c <= '.' {
			switch c {
			case 0:
				return // not a name
			case '.':
				labels++
			}
		}
		b[i] = c
	}
	for labels >= 2 {
		if x.labels&(1<<min(labels, 63)) != 0 {
			m.emit(lookupBytes(&x.domains, b, x.h.bytes(b)), s)
		}
		for i, c := range b {
			if c == '.' {
				b = b[i+1:]
				break
			}
		}
		labels--
	}
}

func (m *matcher) matchURL(s string) {
	x := m.x
	if len(x.urls.keys) == 0 {
		return
	}
	var pbuf [128]byte
	prefix, origin, rest, ok := appendURLPrefix(pbuf[:0], s)
	if !ok || !x.origins.has(x.h.bytes(prefix[:origin])) {
		return
	}
	if len(prefix)+len(rest) <= 1024 {
		// The common case: the whole normalized URL fits a buffer.
		var buf [1024]byte
		b := append(append(buf[:0], prefix...), rest...)
		m.emit(lookupBytes(&x.urls, b, x.h.bytes(b)), s)
		return
	}
	var h maphash.Hash
	h.SetSeed(x.h.seed)
	h.Write(prefix)
	h.WriteString(rest)
	m.emit(lookupSplit(&x.urls, prefix, rest, h.Sum64()), s)
}

// matchHashes matches a digest, or each digest of a Sysmon list such as
// "SHA1=...,MD5=...,SHA256=...,IMPHASH=..." (import hashes are skipped:
// they are not file digests).
func (m *matcher) matchHashes(s string) {
	if strings.IndexByte(s, '=') < 0 {
		m.matchHash(strings.TrimSpace(s))
		return
	}
	for s != "" {
		var part string
		if i := strings.IndexByte(s, ','); i >= 0 {
			part, s = s[:i], s[i+1:]
		} else {
			part, s = s, ""
		}
		alg, digest, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		alg = strings.TrimSpace(alg)
		if len(alg) >= 3 && strings.EqualFold(alg[:3], "IMP") {
			continue
		}
		m.matchHash(strings.TrimSpace(digest))
	}
}

func (m *matcher) matchHash(s string) {
	x := m.x
	switch len(s) {
	case 32:
		var k [16]byte
		if len(x.md5.keys) > 0 && decodeHex(k[:], s) {
			m.emit(x.md5.lookup(k, x.h.bytes(k[:])), s)
		}
	case 40:
		var k [20]byte
		if len(x.sha1.keys) > 0 && decodeHex(k[:], s) {
			m.emit(x.sha1.lookup(k, x.h.bytes(k[:])), s)
		}
	case 64:
		var k [32]byte
		if len(x.sha256.keys) > 0 && decodeHex(k[:], s) {
			m.emit(x.sha256.lookup(k, x.h.bytes(k[:])), s)
		}
	}
}

func (m *matcher) matchEmail(s string) {
	x := m.x
	if len(x.emails.keys) == 0 {
		return
	}
	v := s
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	v = strings.TrimSpace(v)
	if len(v) > maxEmailLen || strings.IndexByte(v, '@') <= 0 {
		return
	}
	var buf [maxEmailLen]byte
	b := ascii.AppendLower(buf[:0], v)
	m.emit(lookupBytes(&x.emails, b, x.h.bytes(b)), s)
}

// parseIPv4 parses a dotted-quad IPv4 address, the common case, faster than
// netip.ParseAddr. Like netip it refuses leading zeros.
func parseIPv4(s string) (uint32, bool) {
	if len(s) < 7 || len(s) > 15 {
		return 0, false
	}
	var ip uint32
	fields, val, digits := 0, uint32(0), 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return 0, false
			}
			val = val*10 + uint32(c-'0')
			digits++
			if val > 255 {
				return 0, false
			}
		case c == '.':
			if digits == 0 || fields == 3 {
				return 0, false
			}
			ip = ip<<8 | val
			fields++
			val, digits = 0, 0
		default:
			return 0, false
		}
	}
	if fields != 3 || digits == 0 {
		return 0, false
	}
	return ip<<8 | val, true
}

// nameByte lower-cases the bytes of a domain name and maps the bytes that
// cannot be in one (blanks, controls, / and :) to 0.
var nameByte = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		switch {
		case 'A' <= c && c <= 'Z':
			t[i] = c + 'a' - 'A'
		case c > ' ' && c != '/' && c != ':' && c != 0x7f:
			t[i] = c
		}
	}
	return t
}()
