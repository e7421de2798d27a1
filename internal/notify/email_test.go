package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// session is what the test SMTP server saw on one connection.
type session struct {
	tls      bool
	authUser string
	authPass string
	authTLS  bool // AUTH happened after STARTTLS
	from     string
	rcpt     []string
	data     []byte
}

// smtpServer is a small SMTP server: EHLO, STARTTLS, AUTH PLAIN,
// MAIL/RCPT/DATA, QUIT.
type smtpServer struct {
	addr     string
	tlsConf  *tls.Config // nil: no STARTTLS offered
	user     string
	pass     string
	rcptCode int // non-zero: answer RCPT with this code

	mu       sync.Mutex
	sessions []*session
}

func startSMTP(t *testing.T, s *smtpServer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
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
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sess := &session{}
	s.mu.Lock()
	s.sessions = append(s.sessions, sess)
	s.mu.Unlock()
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) { tp.PrintfLine(format, args...) }
	reply("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			var ext []string
			if s.tlsConf != nil && !sess.tls {
				ext = append(ext, "STARTTLS")
			}
			ext = append(ext, "AUTH PLAIN", "8BITMIME")
			tp.PrintfLine("250-test greets %s", arg)
			for i, e := range ext {
				if i == len(ext)-1 {
					reply("250 %s", e)
				} else {
					reply("250-%s", e)
				}
			}
		case "STARTTLS":
			if s.tlsConf == nil {
				reply("502 no TLS here")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(c, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tp = textproto.NewConn(tc)
			reply = func(format string, args ...any) { tp.PrintfLine(format, args...) }
			s.mu.Lock()
			sess.tls = true
			s.mu.Unlock()
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 unsupported")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(ir)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 malformed")
				continue
			}
			s.mu.Lock()
			sess.authUser, sess.authPass, sess.authTLS = parts[1], parts[2], sess.tls
			s.mu.Unlock()
			if parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 bad credentials")
				continue
			}
			reply("235 2.7.0 ok")
		case "MAIL":
			s.mu.Lock()
			sess.from = arg
			s.mu.Unlock()
			reply("250 ok")
		case "RCPT":
			if s.rcptCode != 0 {
				reply("%d no", s.rcptCode)
				continue
			}
			s.mu.Lock()
			sess.rcpt = append(sess.rcpt, arg)
			s.mu.Unlock()
			reply("250 ok")
		case "DATA":
			reply("354 send it")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			s.mu.Lock()
			sess.data = data
			s.mu.Unlock()
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		case "RSET", "NOOP":
			reply("250 ok")
		default:
			reply("502 unknown")
		}
	}
}

func (s *smtpServer) delivered() []session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []session
	for _, x := range s.sessions {
		if x.data != nil {
			out = append(out, *x)
		}
	}
	return out
}

func (s *smtpServer) port(t *testing.T) (string, int) {
	host, p, _ := net.SplitHostPort(s.addr)
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func TestEmailStartTLSWithAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := &smtpServer{tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}}, user: "vigil", pass: "pa55"}
	startSMTP(t, srv)
	host, port := srv.port(t)
	opts := testOptions()
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	n := newNotifier(t, opts)
	rt := mustCreate(t, n, Route{Name: "mail", Type: TypeEmail, Email: &EmailConfig{
		Host: host, Port: port, Username: "vigil", Password: "pa55",
		From: "Vigil <vigil@example.org>", To: []string{"soc@example.org", "Oncall <oncall@example.org>"},
	}})
	run(t, n)
	nt := alertN("m1", "high", "rule-ssh")
	nt.Title = "SSH brute force on web-1\r\nBcc: evil@example.org"
	mustNotify(t, n, nt)
	waitFor(t, 10*time.Second, "mail delivered", func() bool { return stats(t, n).Delivered == 1 })

	got := srv.delivered()
	if len(got) != 1 {
		t.Fatalf("messages: got %d, want 1", len(got))
	}
	s := got[0]
	if !s.tls || !s.authTLS {
		t.Errorf("tls %v, auth after STARTTLS %v: want both", s.tls, s.authTLS)
	}
	if s.authUser != "vigil" || s.authPass != "pa55" {
		t.Errorf("auth: got %q/%q", s.authUser, s.authPass)
	}
	if !strings.HasPrefix(s.from, "FROM:<vigil@example.org>") {
		t.Errorf("MAIL: got %q", s.from)
	}
	if diff := cmp.Diff([]string{"TO:<soc@example.org>", "TO:<oncall@example.org>"}, s.rcpt); diff != "" {
		t.Errorf("RCPT (-want +got):\n%s", diff)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(s.data)))
	if err != nil {
		t.Fatalf("parsing message: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[Vigil] high: SSH brute force on web-1 Bcc: evil@example.org"; subj != want {
		t.Errorf("Subject: got %q, want %q", subj, want)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Errorf("header injection: Bcc header present")
	}
	if got, want := msg.Header.Get("X-Vigil-Delivery"), rt.ID+":m1"; got != want {
		t.Errorf("X-Vigil-Delivery: got %q, want %q", got, want)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	for _, want := range []string{"Level: high", "Rule: rule-ssh", "source.ip: 203.0.113.7", "https://vigil.example/alerts/m1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailRefusesPlaintextCredentials(t *testing.T) {
	srv := &smtpServer{user: "u", pass: "p"} // no STARTTLS
	startSMTP(t, srv)
	host, port := srv.port(t)
	no := false
	tests := []struct {
		name    string
		cfg     EmailConfig
		wantErr error
	}{
		{"starttls required", EmailConfig{Host: host, Port: port, From: "a@example.org", To: []string{"b@example.org"}}, nil},
		{"credentials without tls", EmailConfig{Host: host, Port: port, StartTLS: &no, Username: "u", Password: "p", From: "a@example.org", To: []string{"b@example.org"}}, ErrPlaintextAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifier(t, testOptions())
			rt := mustCreate(t, n, Route{Name: tt.name, Type: TypeEmail, Email: &tt.cfg})
			err := n.Test(context.Background(), rt.ID)
			if err == nil {
				t.Fatalf("Test: got nil error, want a refusal")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Test: got %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "p\x00") || strings.Contains(err.Error(), `"p"`) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, s := range srv.sessions {
		if s.authUser != "" || s.data != nil {
			t.Errorf("server saw credentials or data over plaintext: %+v", s)
		}
	}
}

func TestEmailPlaintextWithoutAuthAllowedWhenNotRequired(t *testing.T) {
	srv := &smtpServer{}
	startSMTP(t, srv)
	host, port := srv.port(t)
	no := false
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "relay", Type: TypeEmail, Email: &EmailConfig{Host: host, Port: port, StartTLS: &no, From: "a@example.org", To: []string{"b@example.org"}}})
	if err := n.Test(context.Background(), rt.ID); err != nil {
		t.Fatalf("Test: %v", err)
	}
	got := srv.delivered()
	if len(got) != 1 {
		t.Fatalf("messages: got %d, want 1", len(got))
	}
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(got[0].data))))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("X-Vigil-Event"); got != "test" {
		t.Errorf("X-Vigil-Event: got %q, want test", got)
	}
}

func TestEmailRejectedRecipientIsPermanent(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := &smtpServer{tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}}, rcptCode: 550}
	startSMTP(t, srv)
	host, port := srv.port(t)
	opts := testOptions()
	opts.TLSConfig = &tls.Config{RootCAs: pool}
	n := newNotifier(t, opts)
	mustCreate(t, n, Route{Name: "m", Type: TypeEmail, Email: &EmailConfig{Host: host, Port: port, From: "a@example.org", To: []string{"nobody@example.org"}}})
	run(t, n)
	mustNotify(t, n, alertN("x", "high", "r"))
	waitFor(t, 10*time.Second, "dead", func() bool { return stats(t, n).Dead == 1 })
	srv.mu.Lock()
	sessions := len(srv.sessions)
	srv.mu.Unlock()
	if sessions != 3 {
		t.Errorf("tries: got %d, want 3", sessions)
	}
}

func TestEmailHostileServerBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// An endless greeting line.
		c.Write([]byte("220-"))
		chunk := []byte(strings.Repeat("A", 64<<10))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	host, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "hostile", Type: TypeEmail, Email: &EmailConfig{Host: host, Port: port, From: "a@example.org", To: []string{"b@example.org"}}})
	err = n.Test(context.Background(), rt.ID)
	if !errors.Is(err, errSMTPTooMuch) {
		t.Errorf("Test against an endless greeting: got %v, want %v", err, errSMTPTooMuch)
	}
}
