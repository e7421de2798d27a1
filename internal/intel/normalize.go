package intel

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigilsec/vigil/internal/ascii"
)

// Bounds of single values. Longer values are rejected from feeds and never
// match in events.
const (
	maxDomainLen = 253
	maxEmailLen  = 320
	maxSchemeLen = 32
)

var (
	errEmpty    = errors.New("empty value")
	errBadIP    = errors.New("not an IP address or CIDR range")
	errBadHost  = errors.New("not a domain name")
	errBadURL   = errors.New("not an absolute URL")
	errBadHash  = errors.New("not an MD5, SHA-1 or SHA-256 hex digest")
	errBadEmail = errors.New("not an e-mail address")
	errNoKind   = errors.New("cannot tell the indicator kind")
	errBadKind  = errors.New("invalid indicator kind")
)

// Normalize returns the normalized form of value as an indicator of kind k.
// With KindUnknown it guesses the kind and returns it. Defanged values
// (hxxp://, evil[.]com, user[@]host) are refanged first.
func Normalize(k Kind, value string) (Kind, string, error) {
	k, v, err := normalize(k, value)
	if err != nil && err != errEmpty {
		return k, "", fmt.Errorf("%w: %q", err, clip(strings.TrimSpace(value)))
	}
	return k, v, err
}

// normalize is Normalize with bare sentinel errors, which cost nothing to
// make: parsers format them only while they keep errors.
func normalize(k Kind, value string) (Kind, string, error) {
	s := refang(strings.TrimSpace(value))
	if s == "" {
		return k, "", errEmpty
	}
	if k == KindUnknown {
		k = guessKind(s)
		if k == KindUnknown {
			return k, "", errNoKind
		}
	}
	var (
		v   string
		err error
	)
	switch k {
	case KindIP:
		v, err = normalizeIP(s)
	case KindDomain:
		v, err = normalizeDomain(s)
	case KindURL:
		v, err = normalizeURL(s)
	case KindHash:
		v, err = normalizeHash(s)
	case KindEmail:
		v, err = normalizeEmail(s)
	default:
		return k, "", errBadKind
	}
	if err != nil {
		return k, "", err
	}
	return k, v, nil
}

// clip shortens s for error messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

var refanger = strings.NewReplacer(
	"[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".",
	"[:]", ":", "[://]", "://",
	"[@]", "@", "[at]", "@", "(at)", "@",
)

// refang undoes the usual ways of defanging indicators in reports.
func refang(s string) string {
	if len(s) >= 4 && (strings.EqualFold(s[:4], "hxxp") || strings.EqualFold(s[:4], "hXXp")) {
		s = "http" + s[4:]
	} else if len(s) >= 4 && strings.EqualFold(s[:4], "fxp:") {
		s = "ftp:" + s[4:]
	}
	if strings.ContainsAny(s, "[({") {
		s = refanger.Replace(s)
	}
	return s
}

func guessKind(s string) Kind {
	if strings.Contains(s, "://") {
		return KindURL
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return KindIP
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return KindIP
	}
	if isHexDigest(s) {
		return KindHash
	}
	if strings.IndexByte(s, '@') > 0 {
		return KindEmail
	}
	if _, err := normalizeDomain(s); err == nil {
		return KindDomain
	}
	if i := strings.IndexAny(s, "/?"); i > 0 {
		if _, err := normalizeDomain(s[:i]); err == nil {
			return KindURL
		}
	}
	return KindUnknown
}

func isHexDigest(s string) bool {
	switch len(s) {
	case 32, 40, 64:
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		if unhex(s[i]) > 15 {
			return false
		}
	}
	return true
}

// unhex returns the value of hex digit c, or 255.
func unhex(c byte) byte { return hexValue[c] }

var hexValue = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		switch {
		case '0' <= c && c <= '9':
			t[i] = c - '0'
		case 'a' <= c && c <= 'f':
			t[i] = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			t[i] = c - 'A' + 10
		default:
			t[i] = 255
		}
	}
	return t
}()

func normalizeIP(s string) (string, error) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", errBadIP
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.IsSingleIP() {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", errBadIP
	}
	return a.Unmap().String(), nil
}

// normalizeDomain lower-cases s, drops a trailing dot and a leading "*."
// wildcard (subdomains match anyway) and checks that it is a plausible name
// of at least two labels. Names of a single label are refused: they would
// match every name under a top-level domain.
func normalizeDomain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > maxDomainLen {
		return "", errBadHost
	}
	dots, label := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", errBadHost
			}
			dots++
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c >= 0x80:
		case 'A' <= c && c <= 'Z':
		default:
			return "", errBadHost
		}
		label++
		if label > 63 {
			return "", errBadHost
		}
	}
	if dots == 0 || label == 0 {
		return "", errBadHost
	}
	// A numeric last label is an address (or a bad one), not a name.
	if strings.Trim(s[strings.LastIndexByte(s, '.')+1:], "0123456789") == "" {
		return "", errBadHost
	}
	return ascii.Lower(s), nil
}

func normalizeHash(s string) (string, error) {
	if !isHexDigest(s) {
		return "", errBadHash
	}
	return ascii.Lower(s), nil
}

func normalizeEmail(s string) (string, error) {
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.TrimSpace(s)
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.LastIndexByte(s, '@') != at || len(s) > maxEmailLen || strings.ContainsAny(s, " \t<>,;\"") {
		return "", errBadEmail
	}
	return ascii.Lower(s), nil
}

// normalizeURL returns the normalized form of an absolute URL: scheme and
// host in lower case, no default port (80 for http and ws, 443 for https
// and wss, 21 for ftp), no fragment, and "/" for an empty path. A URL
// without a scheme whose host is a domain name or address is taken as
// http. Percent-encoding, the path and the query are kept as they are.
func normalizeURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if strings.ContainsAny(s, " \t") {
			return "", errBadURL
		}
		s = "http://" + s
	}
	var buf [256]byte
	prefix, _, rest, ok := appendURLPrefix(buf[:0], s)
	if !ok {
		return "", errBadURL
	}
	return string(prefix) + rest, nil
}

// appendURLPrefix appends the normalized scheme and authority of the
// absolute URL s to dst, and returns it with the rest of the normalized URL
// (path and query, without fragment), which is a substring of s. Only the
// prefix needs rewriting, so matching an event's URL copies at most the
// scheme and authority. origin is the length of the prefix without the "/"
// added for an empty path: prefix[:origin] is the URL's normalized origin.
func appendURLPrefix(dst []byte, s string) (prefix []byte, origin int, rest string, ok bool) {
	// The scheme: a letter, then letters, digits, + - or ., then "://".
	i := -1
	for j := 0; j < len(s) && j <= maxSchemeLen; j++ {
		c := s[j]
		if c == ':' {
			i = j
			break
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return dst, 0, "", false
		}
	}
	if i <= 0 || len(s) < i+3 || s[i+1] != '/' || s[i+2] != '/' {
		return dst, 0, "", false
	}
	scheme := s[:i]
	// One pass over the authority finds its end, the last @, and the last
	// : and ] of the host after it.
	after := s[i+3:]
	end, at, colon, bracket, colons := len(after), -1, -1, -1, 0
scan:
	for j := 0; j < len(after); j++ {
		switch authClass[after[j]] {
		case acPlain:
		case acEnd:
			end = j
			break scan
		case acBad:
			return dst, 0, "", false
		case acAt:
			at, colon, bracket, colons = j, -1, -1, 0
		case acColon:
			colon = j
			colons++
		case acBracket:
			bracket = j
		}
	}
	auth, rest := after[:end], after[end:]
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	dst = ascii.AppendLower(dst, scheme)
	dst = append(dst, "://"...)
	host := auth
	if at >= 0 {
		dst = append(dst, auth[:at+1]...)
		host = auth[at+1:]
		colon -= at + 1
		bracket -= at + 1
	}
	// Drop an empty or default port. A colon belongs to a port only after
	// the closing bracket of an IPv6 literal; a port is digits.
	port := ""
	if colon >= 0 && colon > bracket {
		host, port = host[:colon], host[colon+1:]
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return dst, 0, "", false
			}
		}
		if port == defaultPort(scheme) {
			port = ""
		}
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || host[len(host)-1] == '.' || host[0] != '[' && colons > 1 {
		return dst, 0, "", false
	}
	dst = ascii.AppendLower(dst, host)
	if port != "" {
		dst = append(dst, ':')
		dst = append(dst, port...)
	}
	origin = len(dst)
	if rest == "" || rest[0] == '?' {
		dst = append(dst, '/')
	}
	return dst, origin, rest, true
}

// Classes of bytes in a URL authority.
const (
	acPlain = iota
	acEnd   // / ? #
	acBad   // control characters and space
	acAt
	acColon
	acBracket // ]
)

var authClass = func() (t [256]uint8) {
	for c := range 0x21 {
		t[c] = acBad
	}
	t[0x7f] = acBad
	t['/'], t['?'], t['#'] = acEnd, acEnd, acEnd
	t['@'], t[':'], t[']'] = acAt, acColon, acBracket
	return t
}()

func defaultPort(scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "ws"):
		return "80"
	case strings.EqualFold(scheme, "https"), strings.EqualFold(scheme, "wss"):
		return "443"
	case strings.EqualFold(scheme, "ftp"):
		return "21"
	}
	return ""
}
