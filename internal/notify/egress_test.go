package notify

import (
	"context"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/egress"
)

// countingServer is a loopback HTTP receiver that counts requests.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRouteEgressRefusedOnSave is finding 4 of issue 10 for routes: an
// admin's route to metadata, loopback (in any spelling), private or IPv6
// internal addresses is refused when it is saved, unless allow-listed.
func TestRouteEgressRefusedOnSave(t *testing.T) {
	opts := testOptions()
	opts.Egress = nil // the default policy
	n := newNotifier(t, opts)
	for _, tc := range []Route{
		{Name: "metadata", Type: TypeWebhook, URL: "http://169.254.169.254/latest/meta-data/"},
		{Name: "loopback", Type: TypeWebhook, URL: "http://127.0.0.1:8080/"},
		{Name: "decimal", Type: TypeWebhook, URL: "http://2130706433/"},
		{Name: "hex", Type: TypeSlack, URL: "http://0x7f000001/"},
		{Name: "short", Type: TypeWebhook, URL: "http://127.1/"},
		{Name: "octal", Type: TypeWebhook, URL: "http://0177.0.0.1/"},
		{Name: "ipv6 loopback", Type: TypeWebhook, URL: "http://[::1]:9200/"},
		{Name: "ipv4-mapped", Type: TypeWebhook, URL: "http://[::ffff:127.0.0.1]/"},
		{Name: "ula", Type: TypeWebhook, URL: "http://[fd00:ec2::254]/"},
		{Name: "private", Type: TypeWebhook, URL: "https://10.1.2.3/hook"},
		{Name: "cgnat", Type: TypeWebhook, URL: "https://100.64.0.1/hook"},
		{Name: "smtp", Type: TypeEmail, Email: &EmailConfig{Host: "192.168.1.25", From: "a@example.org", To: []string{"b@example.org"}}},
		{Name: "syslog", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: "[::1]:514"}},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := n.CreateRoute(context.Background(), tc)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "egress.allow") {
				t.Errorf("CreateRoute: got %v, want ErrInvalid naming egress.allow", err)
			}
		})
	}
	// An update is checked the same way.
	rt := mustCreate(t, n, Route{Name: "public", Type: TypeWebhook, URL: "https://hooks.example.org/x"})
	rt.URL = "http://169.254.169.254/"
	if _, err := n.UpdateRoute(context.Background(), rt); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateRoute to metadata: got %v, want ErrInvalid", err)
	}
}

// TestRouteEgressAtConnect: a name that resolves to loopback passes the
// save-time check and is refused when dialled, for every route type; the
// receiver sees nothing, and the test says only that policy refused it.
func TestRouteEgressAtConnect(t *testing.T) {
	srv, hits := countingServer(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// A TCP listener standing in for SMTP and syslog receivers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	_, tport, _ := net.SplitHostPort(l.Addr().String())

	opts := testOptions()
	opts.Egress = egress.MustNew("203.0.113.0/24") // an allow-list without loopback
	n := newNotifier(t, opts)
	no := false
	for _, r := range []Route{
		{Name: "webhook", Type: TypeWebhook, URL: "http://localhost:" + port + "/hook"},
		{Name: "slack", Type: TypeSlack, URL: "http://localhost:" + port + "/services/x"},
		{Name: "smtp", Type: TypeEmail, Email: &EmailConfig{Host: "localhost", Port: atoi(t, tport), StartTLS: &no, From: "a@example.org", To: []string{"b@example.org"}}},
		{Name: "syslog tcp", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: "localhost:" + tport, Network: "tcp"}},
		{Name: "syslog tls", Type: TypeSyslog, Syslog: &SyslogConfig{Addr: "localhost:" + tport, Network: "tls"}},
	} {
		t.Run(r.Name, func(t *testing.T) {
			rt := mustCreate(t, n, r)
			err := n.Test(context.Background(), rt.ID)
			if !errors.Is(err, egress.ErrRefused) {
				t.Fatalf("Test: got %v, want the egress refusal", err)
			}
			if want := `testing route "` + r.Name + `": destination refused by egress policy`; err.Error() != want {
				t.Errorf("Test error %q, want %q (no address, no port, no cause)", err, want)
			}
		})
	}
	if hits.Load() != 0 || accepted.Load() != 0 {
		t.Errorf("receivers got %d HTTP requests and %d connections, want none", hits.Load(), accepted.Load())
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestRouteTestSaysStatusOnly: the route test echoed 256 bytes of what the
// receiver answered; it now reports the status alone, and a redirect is
// reported, not followed.
func TestRouteTestSaysStatusOnly(t *testing.T) {
	secret := "internal-secret-" + strings.Repeat("x", 40)
	inner, innerHits := countingServer(t, nil)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, inner.URL+"/admin", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, secret)
	})
	n := newNotifier(t, testOptions())
	for _, tc := range []struct{ path, want string }{
		{"/fail", `testing route "r/fail": the receiver answered 500 Internal Server Error`},
		{"/redirect", `testing route "r/redirect": the receiver answered 302 Found`},
	} {
		rt := mustCreate(t, n, Route{Name: "r" + tc.path, Type: TypeWebhook, URL: srv.URL + tc.path})
		err := n.Test(context.Background(), rt.ID)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Test %s: got %v, want %q", tc.path, err, tc.want)
		}
		var last string
		n.db.QueryRow(`SELECT COALESCE(MAX(last_error), '') FROM notify_outbox`).Scan(&last)
		if err != nil && strings.Contains(err.Error()+last, "internal-secret") {
			t.Errorf("the receiver's body leaked: %v / %q", err, last)
		}
	}
	if innerHits.Load() != 0 {
		t.Errorf("the redirect target got %d requests, want 0", innerHits.Load())
	}
}

// TestEmailBodyKeepsValuesOnOneLine is finding 13 of issue 10 (email
// part): line breaks in entity values added lines to mail bodies, and
// must never reach a header.
func TestEmailBodyKeepsValuesOnOneLine(t *testing.T) {
	srv := &smtpServer{}
	startSMTP(t, srv)
	host, port := srv.port(t)
	no := false
	n := newNotifier(t, testOptions())
	mustCreate(t, n, Route{Name: "relay", Type: TypeEmail, Email: &EmailConfig{Host: host, Port: port, StartTLS: &no, From: "a@example.org", To: []string{"b@example.org"}}})
	run(t, n)
	nt := alertN("crlf", "high", "rule-ssh\r\nLink: https://evil.example/rule")
	nt.Title = "Login\r\nBcc: all@corp.example"
	nt.Summary = "failed for eve\r\n\r\nPlease reset your password at https://evil.example/"
	nt.Tags = []string{"attack.t1110\nX-Injected: 1"}
	nt.Entities = map[string][]string{
		"user":              {"eve\r\n\r\nhttps://evil.example/reset", "bob\u2028second", "carol\u0085nel"},
		"host\nX-Kind: yes": {"web-1\rX"},
	}
	nt.Link = "https://vigil.example/alerts/crlf\nhttps://evil.example/"
	mustNotify(t, n, nt)
	waitFor(t, 10*time.Second, "mail delivered", func() bool { return stats(t, n).Delivered == 1 })
	got := srv.delivered()
	if len(got) != 1 {
		t.Fatalf("messages: got %d, want 1", len(got))
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(got[0].data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Bcc", "X-Injected", "X-Kind", "Link"} {
		if v := msg.Header.Get(h); v != "" {
			t.Errorf("header %s: %q, want none", h, v)
		}
	}
	raw, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	body := string(raw)
	// Each value stays on the line the body gives it.
	for _, want := range []string{
		"Login  Bcc: all@corp.example\n",
		"Rule: rule-ssh  Link: https://evil.example/rule\n",
		"Tags: attack.t1110 X-Injected: 1\n",
		"failed for eve    Please reset your password at https://evil.example/\n",
		"  user: eve    https://evil.example/reset, bob second, carol nel\n",
		"  host X-Kind: yes: web-1 X\n",
		"https://vigil.example/alerts/crlf https://evil.example/\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks the line %q:\n%s", want, body)
		}
	}
	// No line starts with a value's text.
	for _, line := range strings.Split(body, "\n") {
		for _, bad := range []string{"Bcc:", "Link:", "X-Injected", "X-Kind", "https://evil.example", "Please reset", "second", "nel", "X"} {
			if strings.HasPrefix(strings.TrimSpace(line), bad) {
				t.Errorf("a value made its own line %q:\n%s", line, body)
			}
		}
	}
	// The SMTP reader turned CRLF into LF: any other break is a value's.
	if strings.ContainsAny(body, "\r\u2028\u0085") {
		t.Errorf("a bare line break is left in the body:\n%q", body)
	}
}

func TestSyslogMessageIsOneLine(t *testing.T) {
	nt := alertN("s1", "high", "r")
	nt.Title = "a\r\nb\u2028c\u0085d\x00e"
	m := &message{route: &Route{}, event: KindAlert, deliveryID: "x:s1", n: &nt}
	for _, format := range []string{"cef", "rfc5424"} {
		got := formatSyslog(m, format, "1", "h")
		if strings.ContainsAny(got, "\r\n\u2028\u0085\x00") {
			t.Errorf("%s: %q holds a line break or control character", format, got)
		}
	}
}

// FuzzEmailLines puts arbitrary values into every field of a notification:
// the mail body has the same lines whatever they hold.
func FuzzEmailLines(f *testing.F) {
	for _, s := range []string{"plain", "a\r\nBcc: x@evil.example", "\u2028", "\x85", "\xff\xfe", "=\r\n.", ""} {
		f.Add(s)
	}
	from := &mail.Address{Address: "a@example.org"}
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	lines := func(t testing.TB, v string) []string {
		nt := alertN("f", "high", v)
		nt.Title, nt.Summary, nt.Link, nt.Tags = v, v, v, []string{v}
		nt.Entities = map[string][]string{"user": {v, v}}
		m := &message{route: &Route{}, event: KindAlert, deliveryID: "r:f", n: &nt}
		msg, err := mail.ReadMessage(strings.NewReader(string(emailMessage(m, from, []string{"b@example.org"}, now, "h"))))
		if err != nil {
			t.Fatalf("value %q: the message does not parse: %v", v, err)
		}
		if got := msg.Header.Get("Subject"); strings.ContainsAny(got, "\r\n") {
			t.Fatalf("value %q: Subject %q", v, got)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatalf("value %q: body: %v", v, err)
		}
		return strings.Split(string(body), "\r\n")
	}
	want := len(lines(f, "x"))
	f.Fuzz(func(t *testing.T, v string) {
		if v == "" {
			return // an empty value leaves its optional line out
		}
		if got := lines(t, v); len(got) != want {
			t.Fatalf("value %q: %d body lines, want %d:\n%s", v, len(got), want, strings.Join(got, "\n"))
		}
	})
}
