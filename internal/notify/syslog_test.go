package notify

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestCEFEscape(t *testing.T) {
	tests := []struct {
		name, in, header, ext string
	}{
		{"plain", "ssh brute force", "ssh brute force", "ssh brute force"},
		{"pipe", "a|b", `a\|b`, "a|b"},
		{"equals", "k=v", "k=v", `k\=v`},
		{"backslash", `C:\Windows\cmd.exe`, `C:\\Windows\\cmd.exe`, `C:\\Windows\\cmd.exe`},
		{"newline", "line1\nline2\r\n", "line1 line2  ", `line1\nline2\r\n`},
		{"controls", "a\x00b\tc", "a b c", "a b c"},
		{"invalid utf8", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
		{"all", `x|y=z\` + "\n", `x\|y=z\\ `, `x|y\=z\\\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cefHeaderEscape(tt.in); got != tt.header {
				t.Errorf("cefHeaderEscape(%q): got %q, want %q", tt.in, got, tt.header)
			}
			if got := cefExtEscape(tt.in); got != tt.ext {
				t.Errorf("cefExtEscape(%q): got %q, want %q", tt.in, got, tt.ext)
			}
		})
	}
}

func TestFormatCEF(t *testing.T) {
	nt := alertN("a1", "high", "rule|1")
	nt.Title = "Failed logon | spray"
	nt.Summary = "user=root from 203.0.113.7\nagain"
	m := &message{event: "alert", deliveryID: "r1:a1", n: &nt}
	got := formatCEF(m, "1.2.3")
	want := `CEF:0|Vigil|Vigil|1.2.3|rule\|1|Failed logon \| spray|8|rt=1795320000000 cat=alert externalId=a1 src=203.0.113.7 suser=root shost=web-1 msg=user\=root from 203.0.113.7\nagain cs1Label=tags cs1=attack.credential_access,attack.t1110.001 cs2Label=level cs2=high cs3Label=link cs3=https://vigil.example/alerts/a1 cs4Label=delivery cs4=r1:a1`
	if got != want {
		t.Errorf("formatCEF:\n got %s\nwant %s", got, want)
	}
}

// parseCEF splits a CEF line into its seven header fields and extension
// pairs, undoing the escapes. It is the receiver's view, used to check
// that what formatCEF writes reads back.
func parseCEF(s string) (header []string, ext map[string]string, err error) {
	var cur strings.Builder
	i := 0
	for ; i < len(s) && len(header) < 7; i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '|'):
			cur.WriteByte(s[i+1])
			i++
		case c == '|':
			header = append(header, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if len(header) != 7 {
		return nil, nil, fmt.Errorf("%d header fields", len(header))
	}
	ext = map[string]string{}
	rest := s[i:]
	// Keys are runs of [A-Za-z0-9] followed by an unescaped '='.
	var key string
	cur.Reset()
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		if c == '\\' && j+1 < len(rest) {
			switch rest[j+1] {
			case '\\', '=':
				cur.WriteByte(rest[j+1])
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			default:
				return nil, nil, fmt.Errorf("bad escape \\%c", rest[j+1])
			}
			j++
			continue
		}
		if c == '=' {
			// The key is the last word before this '='.
			v := cur.String()
			sp := strings.LastIndexByte(v, ' ')
			if key != "" {
				if sp < 0 {
					return nil, nil, fmt.Errorf("no space before key in %q", v)
				}
				ext[key] = v[:sp]
			}
			key = v[sp+1:]
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if key != "" {
		ext[key] = cur.String()
	}
	return header, ext, nil
}

func FuzzFormatCEF(f *testing.F) {
	f.Add("Failed password for root", "user=root | x", `C:\a\b`, "rule-1", "host\n2")
	f.Add("a|b=c\\", "\r\n", "", "", "")
	f.Add("ünïcödé \xff\xfe", "=", "|", "\\", "=")
	f.Fuzz(func(t *testing.T, title, summary, user, rule, host string) {
		nt := &Notification{ID: "id", Kind: KindAlert, Level: "critical", Title: title, Summary: summary, RuleID: rule,
			Entities: map[string][]string{"user": {user}, "host": {host}}}
		line := formatCEF(&message{deliveryID: "r:id", n: nt}, "1.0")
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("CEF line contains a raw line break: %q", line)
		}
		if !utf8.ValidString(line) {
			t.Fatalf("CEF line is not valid UTF-8: %q", line)
		}
		header, ext, err := parseCEF(line)
		if err != nil {
			t.Fatalf("parsing %q: %v", line, err)
		}
		clean := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		// Controls (C0, DEL, C1) and the Unicode line separators become
		// spaces; an extension value keeps CR and LF, escaped.
		hdr := func(s string) string {
			return strings.Map(func(r rune) rune {
				if breaksLine(r) {
					return ' '
				}
				return r
			}, clean(s))
		}
		val := func(s string) string {
			return strings.Map(func(r rune) rune {
				if breaksLine(r) && r != '\n' && r != '\r' {
					return ' '
				}
				return r
			}, clean(s))
		}
		if rule == "" {
			rule = KindAlert
		}
		if header[4] != hdr(rule) || header[5] != hdr(title) || header[6] != "10" {
			t.Errorf("header round trip: got %q, want rule %q title %q severity 10", header, hdr(rule), hdr(title))
		}
		wantMsg := summary
		if wantMsg == "" {
			wantMsg = title
		}
		if wantMsg != "" && ext["msg"] != val(wantMsg) {
			t.Errorf("msg round trip: got %q, want %q", ext["msg"], val(wantMsg))
		}
		if user != "" && ext["suser"] != val(user) {
			t.Errorf("suser round trip: got %q, want %q", ext["suser"], val(user))
		}
		if ext["cs4"] != "r:id" {
			t.Errorf("cs4: got %q, want r:id", ext["cs4"])
		}
	})
}

func FuzzFormatSyslog(f *testing.F) {
	f.Add("title", "summary", "source.ip", "1.2.3.4", "attack.t1110")
	f.Add("]\"\\", "\n", "a b=c]", "\"", "")
	f.Fuzz(func(t *testing.T, title, summary, kind, value, tag string) {
		nt := &Notification{ID: "id", Kind: KindIncident, Level: "low", Title: title, Summary: summary,
			Tags: []string{tag}, Entities: map[string][]string{kind: {value}}, Time: time.Unix(1, 0)}
		line := formatSyslog(&message{deliveryID: "r:id", n: nt}, "rfc5424", "1", "h")
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line break in %q", line)
		}
		if !strings.HasPrefix(line, "<133>1 1970-01-01T00:00:01.000000Z h vigil - incident [vigil@32473 ") {
			t.Fatalf("bad header: %q", line)
		}
		// Structured data: every '"' that is not escaped opens or closes a
		// value, so they pair up, and the SD ends before the BOM.
		sd, _, ok := strings.Cut(line[len("<133>1 1970-01-01T00:00:01.000000Z h vigil - incident "):], " \ufeff")
		if !ok {
			t.Fatalf("no BOM message in %q", line)
		}
		quotes, esc := 0, false
		for i := 0; i < len(sd); i++ {
			switch {
			case esc:
				esc = false
			case sd[i] == '\\':
				esc = true
			case sd[i] == '"':
				quotes++
			}
		}
		if quotes%2 != 0 || !strings.HasSuffix(sd, "]") {
			t.Errorf("unbalanced structured data: %q", sd)
		}
		if got := truncateSyslog(line, len(line)/2); !utf8.ValidString(got) && utf8.ValidString(line) {
			t.Errorf("truncation broke UTF-8: %q", got)
		}
	})
}

func TestTruncateSyslog(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"ab\\\\c", 3, "ab"},
		{"ab\\\\c", 4, "ab\\\\"},
		{"aé", 2, "a"},
	}
	for _, tt := range tests {
		if got := truncateSyslog(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateSyslog(%q, %d): got %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// tcpSyslog is a syslog receiver reading octet-counted frames.
type tcpSyslog struct {
	mu    sync.Mutex
	lines []string
	conns int
}

func (s *tcpSyslog) serve(t *testing.T, l net.Listener) {
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					ls, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSpace(ls))
					if err != nil {
						t.Errorf("bad frame length %q", ls)
						return
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(br, buf); err != nil {
						return
					}
					s.mu.Lock()
					s.lines = append(s.lines, string(buf))
					s.mu.Unlock()
				}
			}()
		}
	}()
}

func (s *tcpSyslog) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func TestSyslogTCPCEF(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &tcpSyslog{}
	rcv.serve(t, l)
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "siem", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: l.Addr().String(), Network: "tcp", Format: "cef"}})
	run(t, n)
	for i := range 3 {
		nt := alertN(fmt.Sprintf("c%d", i), "critical", "rule-x")
		nt.Summary = "multi\nline = summary"
		mustNotify(t, n, nt)
	}
	waitFor(t, 10*time.Second, "three syslog frames", func() bool { return len(rcv.got()) == 3 })
	lines := rcv.got()
	for i, line := range lines {
		prefix := "<130>1 2026-11-22T04:00:00.000000Z vigil-test vigil - alert - CEF:0|Vigil|Vigil|1.2.3|rule-x|Alert c"
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("line %d: got %q, want prefix %q", i, line, prefix)
		}
		if !strings.Contains(line, `msg=multi\nline \= summary`) {
			t.Errorf("line %d: msg not escaped: %q", i, line)
		}
		if !strings.Contains(line, "cs4="+rt.ID+":c") {
			t.Errorf("line %d: no delivery id: %q", i, line)
		}
	}
	rcv.mu.Lock()
	conns := rcv.conns
	rcv.mu.Unlock()
	if conns != 1 {
		t.Errorf("connections: got %d, want 1 reused", conns)
	}
}

func TestSyslogReconnectsAfterPeerClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			ls, _ := br.ReadString(' ')
			n, _ := strconv.Atoi(strings.TrimSpace(ls))
			buf := make([]byte, n)
			io.ReadFull(br, buf)
			mu.Lock()
			got = append(got, string(buf))
			mu.Unlock()
			c.Close() // one message per connection
		}
	}()
	t.Cleanup(func() { l.Close() })
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "s", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: l.Addr().String(), Format: "rfc5424"}})
	r, _ := n.route(rt.ID)
	s := &syslogSender{n: n}
	defer s.close()
	for i := range 3 {
		nt := alertN(fmt.Sprintf("p%d", i), "low", "x")
		if err := s.send(context.Background(), &message{route: r, deliveryID: "d", n: &nt}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		waitFor(t, 5*time.Second, "message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == i+1 })
	}
}

func TestSyslogUDPRFC5424(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "udp", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: pc.LocalAddr().String(), Network: "udp", Format: "rfc5424"}})
	run(t, n)
	nt := alertN("u1", "medium", "rule-\"q\"")
	nt.Entities = map[string][]string{"host": {"web]1"}, "user": {"ro\"ot"}}
	nt.Tags = []string{"attack.t1110"}
	mustNotify(t, n, nt)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	k, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("reading datagram: %v", err)
	}
	want := `<132>1 2026-11-22T04:00:00.000000Z vigil-test vigil - alert [vigil@32473 id="u1" level="medium" rule="rule-\"q\"" link="https://vigil.example/alerts/u1" delivery="` + rt.ID + `:u1" tag="attack.t1110"][entities@32473 host="web\]1" user="ro\"ot"] ` + "\ufeff" + `Alert u1: summary of u1`
	if diff := cmp.Diff(want, string(buf[:k])); diff != "" {
		t.Errorf("datagram (-want +got):\n%s", diff)
	}
}

func TestSyslogTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	rcv := &tcpSyslog{}
	rcv.serve(t, l)
	opts := testOptions()
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	n := newNotifier(t, opts)
	rt := mustCreate(t, n, Route{Name: "tls", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: l.Addr().String(), Network: "tls"}})
	if err := n.Test(context.Background(), rt.ID); err != nil {
		t.Fatalf("Test: %v", err)
	}
	waitFor(t, 5*time.Second, "frame", func() bool { return len(rcv.got()) == 1 })
	if got := rcv.got()[0]; !strings.Contains(got, "CEF:0|Vigil|Vigil|1.2.3|test|Vigil test notification|1|") {
		t.Errorf("test message: got %q", got)
	}
	// One sender keeps its TLS connection across messages.
	r, _ := n.route(rt.ID)
	s := &syslogSender{n: n}
	defer s.close()
	for i := range 3 {
		nt := alertN(fmt.Sprintf("t%d", i), "high", "x")
		if err := s.send(context.Background(), &message{route: r, deliveryID: "d", n: &nt}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "frames", func() bool { return len(rcv.got()) == 4 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.conns != 2 {
		t.Errorf("connections: got %d, want 2 (one for Test, one reused by the sender)", rcv.conns)
	}
}

func BenchmarkFormatCEF(b *testing.B) {
	nt := alertN("a1", "high", "rule-1")
	m := &message{deliveryID: "r:a1", n: &nt}
	b.ReportAllocs()
	for b.Loop() {
		formatCEF(m, "1.0")
	}
}
