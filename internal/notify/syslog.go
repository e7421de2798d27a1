package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/sigma"
)

// Syslog framing limits.
const (
	// maxSyslogUDP keeps a datagram under the IPv4 UDP payload limit.
	maxSyslogUDP = 65000
	// maxSyslogTCP bounds one octet-counted frame.
	maxSyslogTCP = 1 << 20
)

// facilityLocal0 is the syslog facility of Vigil's messages.
const facilityLocal0 = 16

// sdID is the structured-data id of RFC 5424 messages. 32473 is the
// private enterprise number reserved for documentation (RFC 5612).
const sdID = "vigil@32473"

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "vigil"
	}
	return h
}

// cefSeverity maps a Sigma level to CEF's 0-10 scale.
func cefSeverity(level string) int {
	switch levelOf(level) {
	case sigma.Informational:
		return 1
	case sigma.Low:
		return 3
	case sigma.Medium:
		return 5
	case sigma.High:
		return 8
	case sigma.Critical:
		return 10
	}
	return 0
}

// syslogSeverity maps a Sigma level to an RFC 5424 severity.
func syslogSeverity(level string) int {
	switch levelOf(level) {
	case sigma.Critical:
		return 2 // critical
	case sigma.High:
		return 3 // error
	case sigma.Medium:
		return 4 // warning
	case sigma.Low:
		return 5 // notice
	}
	return 6 // informational
}

// cefHeaderEscape escapes a CEF header field: backslash and pipe, and
// turns line breaks and other controls into spaces (headers are one line).
func cefHeaderEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '|':
			b.WriteString(`\|`)
		case breaksLine(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cefExtEscape escapes a CEF extension value: backslash, equals sign, and
// line breaks as \n and \r; other controls become spaces.
func cefExtEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '=':
			b.WriteString(`\=`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case breaksLine(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// first returns the first value of an entity kind.
func first(ents map[string][]string, kind string) string {
	if v := ents[kind]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// firstIP returns the first value of kind that is an IP address.
func firstIP(ents map[string][]string, kind string) string {
	for _, v := range ents[kind] {
		if a, err := netip.ParseAddr(v); err == nil {
			return a.String()
		}
	}
	return ""
}

// formatCEF renders m as a CEF:0 line.
func formatCEF(m *message, version string) string {
	var sig, name, level, msg, id, kind, link string
	var tags []string
	var ents map[string][]string
	var t time.Time
	count := 0
	if m.d != nil {
		d := m.d
		sig, name, level, msg, id, kind, t, count = "digest", "Vigil digest: "+d.Title, d.Level, d.Summary, d.ID, KindDigest, d.Time, d.Count
	} else {
		nt := m.n
		sig, name, level, msg, id, kind, link, tags, ents, t = nt.RuleID, nt.Title, nt.Level, nt.Summary, nt.ID, nt.Kind, nt.Link, nt.Tags, nt.Entities, nt.Time
		if sig == "" {
			sig = nt.Kind
		}
		if msg == "" {
			msg = nt.Title
		}
	}
	var b strings.Builder
	b.WriteString("CEF:0|Vigil|Vigil|")
	b.WriteString(cefHeaderEscape(version))
	b.WriteByte('|')
	b.WriteString(cefHeaderEscape(sig))
	b.WriteByte('|')
	b.WriteString(cefHeaderEscape(name))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(cefSeverity(level)))
	b.WriteByte('|')
	sep := false
	ext := func(k, v string) {
		if v == "" {
			return
		}
		if sep {
			b.WriteByte(' ')
		}
		sep = true
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(cefExtEscape(v))
	}
	if !t.IsZero() {
		ext("rt", strconv.FormatInt(t.UnixMilli(), 10))
	}
	ext("cat", kind)
	ext("externalId", id)
	ext("src", firstIP(ents, "source.ip"))
	ext("dst", firstIP(ents, "destination.ip"))
	ext("suser", first(ents, "user"))
	ext("shost", first(ents, "host"))
	ext("msg", msg)
	if len(tags) > 0 {
		ext("cs1Label", "tags")
		ext("cs1", strings.Join(tags, ","))
	}
	ext("cs2Label", "level")
	ext("cs2", level)
	if link != "" {
		ext("cs3Label", "link")
		ext("cs3", link)
	}
	ext("cs4Label", "delivery")
	ext("cs4", m.deliveryID)
	if count > 0 {
		ext("cnt", strconv.Itoa(count))
	}
	return b.String()
}

// sdEscape escapes an RFC 5424 PARAM-VALUE: '"', '\' and ']'.
func sdEscape(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\' || r == ']':
			b.WriteByte('\\')
			b.WriteRune(r)
		case breaksLine(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sdName makes an RFC 5424 SD-NAME: printable US-ASCII except '=', ' ',
// ']' and '"', at most 32 characters.
func sdName(s string) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < 32; i++ {
		c := s[i]
		if c > 32 && c < 127 && c != '=' && c != ']' && c != '"' {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "_"
	}
	return string(out)
}

// headerToken makes an RFC 5424 header field: printable ASCII, no spaces.
func headerToken(s string, max int) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// formatSyslog renders m as one RFC 5424 message, carrying CEF or
// structured data as the route asks.
func formatSyslog(m *message, format, version, host string) string {
	level, kind, t := "", "", time.Time{}
	if m.d != nil {
		level, kind, t = m.d.Level, KindDigest, m.d.Time
	} else {
		level, kind, t = m.n.Level, m.n.Kind, m.n.Time
	}
	if t.IsZero() {
		t = time.Now()
	}
	pri := facilityLocal0*8 + syslogSeverity(level)
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s vigil - %s ", pri, t.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), headerToken(host, 255), headerToken(kind, 32))
	if format == "cef" {
		b.WriteString("- ")
		b.WriteString(formatCEF(m, version))
		return b.String()
	}
	param := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, ` %s="%s"`, sdName(k), sdEscape(v))
		}
	}
	b.WriteString("[" + sdID)
	var msg string
	if m.d != nil {
		d := m.d
		param("id", d.ID)
		param("level", d.Level)
		param("count", strconv.Itoa(d.Count))
		param("delivery", m.deliveryID)
		b.WriteString("]")
		msg = d.Summary
	} else {
		nt := m.n
		param("id", nt.ID)
		param("level", nt.Level)
		param("rule", nt.RuleID)
		param("link", nt.Link)
		param("delivery", m.deliveryID)
		for _, t := range nt.Tags {
			param("tag", t)
		}
		b.WriteString("]")
		if len(nt.Entities) > 0 {
			kinds := make([]string, 0, len(nt.Entities))
			for k := range nt.Entities {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			b.WriteString("[entities@32473")
			for _, k := range kinds {
				for _, v := range nt.Entities[k] {
					param(k, v)
				}
			}
			b.WriteString("]")
		}
		msg = nt.Title
		if nt.Summary != "" {
			msg += ": " + nt.Summary
		}
	}
	b.WriteString(" \ufeff")
	// One line: line breaks and every other control character (NEL and
	// the Unicode separators included) become spaces.
	b.WriteString(oneLine(strings.ToValidUTF8(msg, "\uFFFD")))
	return b.String()
}

// truncateSyslog cuts s to at most n bytes on a rune boundary, without
// leaving a dangling escape backslash.
func truncateSyslog(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s[max(0, len(s)-utf8.UTFMax):]) {
		s = s[:len(s)-1]
	}
	// An odd run of trailing backslashes would escape nothing.
	bs := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		bs++
	}
	if bs%2 == 1 {
		s = s[:len(s)-1]
	}
	return s
}

// TypeSyslog is the route type of syslog.go: CEF or RFC 5424 over UDP,
// TCP (octet counting) or TLS.
const TypeSyslog = "syslog"

func init() {
	registerOutput(TypeSyslog, output{
		normalize: func(r *Route) {
			if r.Syslog == nil {
				return
			}
			r.Syslog.Network = strings.ToLower(strings.TrimSpace(r.Syslog.Network))
			if r.Syslog.Network == "" {
				r.Syslog.Network = "tcp"
			}
			r.Syslog.Format = strings.ToLower(strings.TrimSpace(r.Syslog.Format))
			if r.Syslog.Format == "" {
				r.Syslog.Format = "cef"
			}
		},
		validate: func(r *Route, bad func(string, ...any) error) error {
			s := r.Syslog
			if s == nil {
				return bad("syslog settings are required")
			}
			if _, _, err := net.SplitHostPort(s.Addr); err != nil {
				return bad("syslog addr %q is not host:port", s.Addr)
			}
			switch s.Network {
			case "udp", "tcp", "tls":
			default:
				return bad("syslog network %q is not udp, tcp or tls", s.Network)
			}
			switch s.Format {
			case "cef", "rfc5424":
			default:
				return bad("syslog format %q is not cef or rfc5424", s.Format)
			}
			return nil
		},
		host: func(r *Route) (string, string) {
			if r.Syslog == nil {
				return "", ""
			}
			host, _, _ := net.SplitHostPort(r.Syslog.Addr)
			return host, "syslog host"
		},
		// The sender holds its connection: the worker closes it.
		newSender: func(n *Notifier) sender { return &syslogSender{n: n} },
	})
}

// syslogSender keeps one connection per route for TCP and TLS.
type syslogSender struct {
	n    *Notifier
	conn net.Conn
	key  string // network and address of conn
}

func (s *syslogSender) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *syslogSender) dial(ctx context.Context, c *SyslogConfig) (net.Conn, error) {
	d := s.n.opts.Egress.Dialer(s.n.opts.DialTimeout)
	switch c.Network {
	case "udp":
		return d.DialContext(ctx, "udp", c.Addr)
	case "tcp":
		return d.DialContext(ctx, "tcp", c.Addr)
	case "tls":
		host, _, _ := net.SplitHostPort(c.Addr)
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.n.opts.TLSConfig != nil {
			conf = s.n.opts.TLSConfig.Clone()
		}
		conf.ServerName = host
		td := tls.Dialer{NetDialer: d, Config: conf}
		return td.DialContext(ctx, "tcp", c.Addr)
	}
	return nil, fmt.Errorf("unknown syslog network %q", c.Network)
}

// alive reports whether a cached stream connection is still open: a peer
// that closed it shows as EOF on a short read.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

func (s *syslogSender) send(ctx context.Context, m *message) error {
	c := m.route.Syslog
	if c == nil {
		return permanentDead(errors.New("syslog route without syslog settings"))
	}
	line := formatSyslog(m, c.Format, s.n.opts.Version, s.n.opts.Hostname)
	var frame []byte
	if c.Network == "udp" {
		frame = []byte(truncateSyslog(line, maxSyslogUDP))
	} else {
		line = truncateSyslog(line, maxSyslogTCP)
		frame = append(strconv.AppendInt(nil, int64(len(line)), 10), ' ')
		frame = append(frame, line...)
	}
	key := c.Network + " " + c.Addr
	if s.conn != nil && (s.key != key || (c.Network != "udp" && !alive(s.conn))) {
		s.close()
	}
	if s.conn == nil {
		conn, err := s.dial(ctx, c)
		if err != nil {
			return &deliveryError{err: fmt.Errorf("connecting to syslog %s %s: %w", c.Network, c.Addr, err)}
		}
		s.conn, s.key = conn, key
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.n.opts.DialTimeout))
	if _, err := s.conn.Write(frame); err != nil {
		s.close()
		return &deliveryError{err: fmt.Errorf("writing to syslog %s %s: %w", c.Network, c.Addr, err)}
	}
	if c.Network == "udp" {
		// UDP has no connection to keep; a fresh socket per message notices
		// address changes and ICMP errors do not linger.
		s.close()
	}
	return nil
}
