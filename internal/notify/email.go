package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TypeEmail is the route type of email.go: SMTP with STARTTLS or
// implicit TLS.
const TypeEmail = "email"

func init() {
	registerOutput(TypeEmail, output{
		normalize: func(r *Route) {
			if r.Email != nil && r.Email.Port == 0 {
				r.Email.Port = 587
				if r.Email.ImplicitTLS {
					r.Email.Port = 465
				}
			}
		},
		validate: func(r *Route, bad func(string, ...any) error) error {
			e := r.Email
			if e == nil {
				return bad("email settings are required")
			}
			if strings.TrimSpace(e.Host) == "" {
				return bad("email host is required")
			}
			if e.Port < 1 || e.Port > 65535 {
				return bad("email port %d is out of range", e.Port)
			}
			if _, err := mail.ParseAddress(e.From); err != nil {
				return bad("email from %q is not an address", e.From)
			}
			if len(e.To) == 0 {
				return bad("email to is required")
			}
			for _, to := range e.To {
				if _, err := mail.ParseAddress(to); err != nil {
					return bad("email to %q is not an address", to)
				}
			}
			if strings.ContainsAny(e.Host+e.From+e.Username, "\r\n") {
				return bad("email settings contain a line break")
			}
			return nil
		},
		host: func(r *Route) (string, string) {
			if r.Email == nil {
				return "", ""
			}
			return r.Email.Host, "email host"
		},
		secrets: func(r *Route) []*string {
			if r.Email == nil {
				return []*string{nil}
			}
			return []*string{&r.Email.Password}
		},
		newSender: func(n *Notifier) sender { return &emailSender{n: n} },
	})
}

// emailSender sends one SMTP message per delivery.
type emailSender struct{ n *Notifier }

func (s *emailSender) close() {}

// ErrPlaintextAuth is returned when credentials would cross an unencrypted
// connection.
var ErrPlaintextAuth = errors.New("refusing to send SMTP credentials over an unencrypted connection")

func (s *emailSender) send(ctx context.Context, m *message) error {
	e := m.route.Email
	if e == nil {
		return permanentDead(errors.New("email route without email settings"))
	}
	addr := net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	to := make([]string, 0, len(e.To))
	for _, t := range e.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return permanentDead(fmt.Errorf("email to %q: %w", t, err))
		}
		to = append(to, a.Address)
	}
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return permanentDead(fmt.Errorf("email from %q: %w", e.From, err))
	}
	msg := emailMessage(m, from, e.To, s.n.opts.Now(), s.n.opts.Hostname)

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.n.opts.TLSConfig != nil {
		tlsConf = s.n.opts.TLSConfig.Clone()
	}
	tlsConf.ServerName = e.Host

	conn, err := s.n.opts.Egress.Dialer(s.n.opts.DialTimeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return &deliveryError{err: fmt.Errorf("connecting to smtp %s: %w", addr, err)}
	}
	encrypted := false
	if e.ImplicitTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return &deliveryError{err: fmt.Errorf("tls with smtp %s: %w", addr, err)}
		}
		conn, encrypted = tc, true
	}
	// A hostile or broken server must not make us buffer without bound.
	conn = &limitedConn{Conn: conn, left: maxSMTPRead}
	// One deadline for the whole exchange; the context cancels it too.
	conn.SetDeadline(time.Now().Add(3 * s.n.opts.DialTimeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, e.Host)
	if err != nil {
		conn.Close()
		return smtpErr(addr, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.n.opts.Hostname); err != nil {
		return smtpErr(addr, "EHLO", err)
	}
	if !encrypted {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return smtpErr(addr, "STARTTLS", err)
			}
			encrypted = true
		} else if e.RequireTLS() {
			return permanent(fmt.Errorf("smtp %s does not offer STARTTLS, which the route requires", addr))
		}
	}
	if e.Username != "" {
		if !encrypted {
			return permanent(fmt.Errorf("smtp %s: %w", addr, ErrPlaintextAuth))
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(fmt.Errorf("smtp %s does not offer AUTH", addr))
		}
		if err := c.Auth(plainAuth{user: e.Username, pass: e.Password}); err != nil {
			return smtpErr(addr, "AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return smtpErr(addr, "MAIL FROM", err)
	}
	for _, t := range to {
		if err := c.Rcpt(t); err != nil {
			return smtpErr(addr, "RCPT TO", err)
		}
	}
	wc, err := c.Data()
	if err != nil {
		return smtpErr(addr, "DATA", err)
	}
	if _, err := wc.Write(msg); err != nil {
		wc.Close()
		return smtpErr(addr, "DATA", err)
	}
	// The reply to the final dot is the server's acceptance.
	if err := wc.Close(); err != nil {
		return smtpErr(addr, "DATA", err)
	}
	c.Quit()
	return nil
}

// maxSMTPRead bounds what one SMTP session may read from the server.
const maxSMTPRead = 1 << 20

// errSMTPTooMuch is returned when the server sends more than maxSMTPRead.
var errSMTPTooMuch = errors.New("smtp server sent too much data")

// limitedConn fails reads once left bytes have been read.
type limitedConn struct {
	net.Conn
	left int
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errSMTPTooMuch
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// plainAuth is AUTH PLAIN (RFC 4616). Unlike smtp.PlainAuth it does not
// second-guess the transport: send checks encryption itself, for every host.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}

// smtpErr classifies an SMTP failure: 5xx replies are permanent, the rest
// (4xx, network) are retried.
func smtpErr(addr, stage string, err error) error {
	e := &deliveryError{err: fmt.Errorf("smtp %s: %s: %w", addr, stage, err)}
	var te *textproto.Error
	if errors.As(err, &te) {
		e.status = fmt.Sprintf("%d to %s", te.Code, stage)
		e.permanent = te.Code >= 500
	}
	return e
}

// headerText removes line breaks (header injection) and encodes non-ASCII.
func headerText(s string) string {
	s = strings.Join(strings.Fields(oneLine(s)), " ")
	return mime.QEncoding.Encode("utf-8", s)
}

// oneLine keeps a value on one line of a mail body: line breaks, other
// control characters and the Unicode line and paragraph separators become
// spaces. Entity values come from logs; a line break in one would add
// lines (a forged "Link:" or a whole forged message) to the body.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if breaksLine(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// breaksLine reports whether r is a control character (C0, DEL, C1: line
// feed, carriage return, NEL...) or a Unicode line or paragraph separator.
func breaksLine(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// oneLines is oneLine of each of vs, joined with ", ".
func oneLines(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = oneLine(v)
	}
	return strings.Join(out, ", ")
}

func emailMessage(m *message, from *mail.Address, to []string, now time.Time, host string) []byte {
	var level, title string
	var body strings.Builder
	// Every value from a notification is written with oneLine: the
	// body's lines are the ones written here, whatever the values hold.
	if m.d != nil {
		d := m.d
		level, title = d.Level, "Digest: "+d.Title
		fmt.Fprintf(&body, "%s\n\nFrom %s to %s.\n\nBy level: %s\nTop rules: %s\n\n",
			oneLine(d.Summary), d.First.UTC().Format(time.RFC3339), d.Last.UTC().Format(time.RFC3339),
			oneLine(countsText(d.ByLevel, levelOrder)), oneLines(topRules(d.ByRule, 10)))
		for _, it := range d.Items {
			fmt.Fprintf(&body, "- [%s] %s (%s) %s\n", oneLine(it.Level), oneLine(it.Title), oneLine(it.RuleID), it.Time.UTC().Format(time.RFC3339))
			if it.Link != "" {
				fmt.Fprintf(&body, "  %s\n", oneLine(it.Link))
			}
		}
	} else {
		nt := m.n
		level, title = nt.Level, nt.Title
		fmt.Fprintf(&body, "%s\n\nLevel: %s\nKind: %s\nTime: %s\n", oneLine(nt.Title), oneLine(nt.Level), oneLine(nt.Kind), nt.Time.UTC().Format(time.RFC3339))
		if nt.RuleID != "" {
			fmt.Fprintf(&body, "Rule: %s\n", oneLine(nt.RuleID))
		}
		if len(nt.Tags) > 0 {
			fmt.Fprintf(&body, "Tags: %s\n", oneLines(nt.Tags))
		}
		if nt.Summary != "" {
			fmt.Fprintf(&body, "\n%s\n", oneLine(nt.Summary))
		}
		if len(nt.Entities) > 0 {
			body.WriteString("\nEntities:\n")
			kinds := make([]string, 0, len(nt.Entities))
			for k := range nt.Entities {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			for _, k := range kinds {
				fmt.Fprintf(&body, "  %s: %s\n", oneLine(k), oneLines(nt.Entities[k]))
			}
		}
		if nt.Link != "" {
			fmt.Fprintf(&body, "\n%s\n", oneLine(nt.Link))
		}
	}
	fmt.Fprintf(&body, "\n-- \nVigil delivery %s\n", oneLine(m.deliveryID))

	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	toHdr := make([]string, 0, len(to))
	for _, t := range to {
		if a, err := mail.ParseAddress(t); err == nil {
			toHdr = append(toHdr, a.String())
		}
	}
	hdr("To", strings.Join(toHdr, ", "))
	hdr("Subject", headerText(fmt.Sprintf("[Vigil] %s: %s", level, title)))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+msgIDPart(m.deliveryID)+"@"+msgIDPart(host)+">")
	hdr("X-Vigil-Delivery", headerText(m.deliveryID))
	hdr("X-Vigil-Event", m.event)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(strings.ToValidUTF8(body.String(), "?"), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// msgIDPart keeps the characters allowed in a Message-ID.
func msgIDPart(s string) string {
	out := strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return r
		}
		return '-'
	}, s)
	if out == "" {
		return "vigil"
	}
	return out
}
