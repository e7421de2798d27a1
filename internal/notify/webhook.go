package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Route types of webhook.go: a JSON POST, signed when the route has a
// secret, and a Slack incoming-webhook message.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
)

// webhookOutput serves both webhook types: a URL, an optional HMAC secret.
var webhookOutput = output{
	validate: func(r *Route, bad func(string, ...any) error) error {
		u, err := url.Parse(r.URL)
		if r.URL == "" || err != nil {
			return bad("url %q is not a valid URL", r.URL)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return bad("url scheme %q is not http or https", u.Scheme)
		}
		if u.Host == "" {
			return bad("url %q has no host", r.URL)
		}
		return nil
	},
	host: func(r *Route) (string, string) {
		u, err := url.Parse(r.URL)
		if err != nil {
			return "", "" // validate reported it
		}
		return u.Hostname(), "url host"
	},
	secrets:   func(r *Route) []*string { return []*string{&r.Secret} },
	newSender: func(n *Notifier) sender { return &webhookSender{n: n} },
}

func init() {
	registerOutput(TypeWebhook, webhookOutput)
	registerOutput(TypeSlack, webhookOutput)
}

// Sign returns the X-Vigil-Signature value of body under secret:
// "sha256=" followed by the hex HMAC-SHA256.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is body's valid X-Vigil-Signature under secret,
// in constant time. Receivers written in Go can use it.
func Verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// webhookSender posts webhooks and Slack messages.
type webhookSender struct{ n *Notifier }

func (s *webhookSender) close() {}

func (s *webhookSender) send(ctx context.Context, m *message) error {
	var body []byte
	var err error
	switch {
	case m.route.Type == TypeSlack:
		body, err = json.Marshal(slackPayload(m))
	case m.d != nil:
		body, err = json.Marshal(m.d)
	default:
		body, err = json.Marshal(m.n)
	}
	if err != nil {
		return permanentDead(fmt.Errorf("encoding %s body: %w", m.route.Type, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.route.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("building request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil")
	req.Header.Set("X-Vigil-Delivery", m.deliveryID)
	req.Header.Set("X-Vigil-Event", m.event)
	if m.route.Secret != "" {
		req.Header.Set("X-Vigil-Signature", Sign(m.route.Secret, body))
	}
	resp, err := s.n.client.Do(req)
	if err != nil {
		// The URL may carry a token (Slack's does): report the host only.
		return &deliveryError{err: fmt.Errorf("posting to %s: %w", redactURL(m.route.URL), unwrapURLError(err))}
	}
	defer resp.Body.Close()
	// The body is read (to reuse the connection) but never kept: a route
	// test must not echo what an internal service answered.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	status := oneLine(resp.Status)
	e := &deliveryError{err: fmt.Errorf("posting to %s: %s", redactURL(m.route.URL), status), status: status}
	e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.n.opts.Now())
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
	default: // 3xx, other 4xx: the route is misconfigured
		e.permanent = true
	}
	return e
}

func unwrapURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// redactURL keeps scheme and host: paths and queries of webhook URLs are
// often credentials.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "webhook"
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	return scheme + "://" + host
}

// parseRetryAfter reads delay-seconds or an HTTP date, capped at a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// Slack Block Kit limits.
const (
	slackHeaderMax = 150
	slackTextMax   = 2900
	slackFieldMax  = 1900
)

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncate(s, n-3)
}

func slackPayload(m *message) map[string]any {
	type obj = map[string]any
	text := func(t string) obj { return obj{"type": "mrkdwn", "text": t} }
	var title, level, summary, link, rule string
	var ents map[string][]string
	if m.d != nil {
		d := m.d
		title, level, summary = "Vigil digest: "+d.Title, d.Level, d.Summary
		var b strings.Builder
		for _, t := range d.Titles {
			b.WriteString("• " + slackEscape(t) + "\n")
		}
		if d.Count > len(d.Titles) {
			fmt.Fprintf(&b, "… and %d more\n", d.Count-len(d.Titles))
		}
		summary = slackEscape(summary) + "\n*Top rules:* " + slackEscape(strings.Join(topRules(d.ByRule, 5), ", ")) + "\n" + b.String()
	} else {
		nt := m.n
		title, level, summary, link, rule, ents = nt.Title, nt.Level, slackEscape(nt.Summary), nt.Link, nt.RuleID, nt.Entities
	}
	blocks := []obj{
		{"type": "header", "text": obj{"type": "plain_text", "text": cut(strings.TrimSpace(title+" "), slackHeaderMax), "emoji": false}},
	}
	fields := []obj{text("*Level*\n" + slackEscape(level))}
	if rule != "" {
		fields = append(fields, text("*Rule*\n"+slackEscape(cut(rule, slackFieldMax))))
	}
	kinds := make([]string, 0, len(ents))
	for k := range ents {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		if len(fields) == 10 { // Slack allows ten fields per section
			break
		}
		if len(ents[k]) == 0 {
			continue
		}
		fields = append(fields, text("*"+slackEscape(k)+"*\n"+slackEscape(cut(strings.Join(ents[k], ", "), slackFieldMax))))
	}
	blocks = append(blocks, obj{"type": "section", "fields": fields})
	if summary != "" {
		blocks = append(blocks, obj{"type": "section", "text": text(cut(summary, slackTextMax))})
	}
	if link != "" && (strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "http://")) {
		blocks = append(blocks, obj{"type": "section", "text": text("<" + slackEscape(link) + "|Open in Vigil>")})
	}
	return obj{
		"text":   cut(fmt.Sprintf("[%s] %s", strings.ToUpper(level), title), slackTextMax),
		"blocks": blocks,
	}
}
