package notify

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Route is a destination with its filters and delivery policy.
type Route struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is webhook, slack, email or syslog.
	Type string `json:"type"`
	// URL is the webhook or Slack incoming-webhook URL (http or https).
	URL string `json:"url,omitempty"`
	// Secret is the webhook HMAC-SHA256 key; the API shows it as "***".
	Secret string `json:"secret,omitempty"`
	// MinLevel drops notifications below this Sigma level.
	MinLevel string `json:"min_level,omitempty"`
	// Tags keeps notifications with any of these tags; a tag also matches
	// its sub-tags (attack.t1110 matches attack.t1110.001) and a trailing
	// "*" matches any suffix.
	Tags []string `json:"tags,omitempty"`
	// Rules keeps notifications of these rule ids.
	Rules []string `json:"rules,omitempty"`
	// Entities keeps notifications with any of these entity values, by kind
	// (host, user, source.ip, ...); an IP entity also matches a CIDR value.
	Entities map[string][]string `json:"entities,omitempty"`
	// RateLimit is the most messages per minute; the excess goes into a
	// digest sent with the next free slot. 0 means no limit.
	RateLimit int `json:"rate_limit,omitempty"`
	// Digest, when > 0, batches everything into one digest per interval.
	Digest  time.Duration `json:"-"`
	Email   *EmailConfig  `json:"email,omitempty"`
	Syslog  *SyslogConfig `json:"syslog,omitempty"`
	Enabled bool          `json:"enabled"`
}

// EmailConfig is an SMTP destination.
type EmailConfig struct {
	Host string `json:"host"`
	// Port defaults to 587 (465 when ImplicitTLS).
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	// Password is shown as "***" by the API.
	Password string   `json:"password,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	// StartTLS requires STARTTLS (default true). When false, STARTTLS is
	// still used if offered, but credentials are never sent in clear.
	StartTLS *bool `json:"starttls,omitempty"`
	// ImplicitTLS connects with TLS from the start (SMTPS, port 465).
	ImplicitTLS bool `json:"implicit_tls,omitempty"`
}

// RequireTLS reports whether the connection must be encrypted.
func (e *EmailConfig) RequireTLS() bool { return e.StartTLS == nil || *e.StartTLS }

// SyslogConfig is a syslog destination.
type SyslogConfig struct {
	// Addr is host:port.
	Addr string `json:"addr"`
	// Network is udp, tcp (octet counting) or tls (default tcp).
	Network string `json:"network,omitempty"`
	// Format is cef or rfc5424 (default cef).
	Format string `json:"format,omitempty"`
}

// Secret placeholder shown by the API instead of secrets.
const masked = "***"

type routeAlias Route

type routeJSON struct {
	*routeAlias
	Digest string `json:"digest,omitempty"`
}

// MarshalJSON writes Digest as a Go duration string ("5m").
func (r Route) MarshalJSON() ([]byte, error) {
	rj := routeJSON{routeAlias: (*routeAlias)(&r)}
	if r.Digest > 0 {
		rj.Digest = r.Digest.String()
	}
	return json.Marshal(rj)
}

// UnmarshalJSON reads Digest as a duration string or a number of seconds.
func (r *Route) UnmarshalJSON(b []byte) error {
	var rj struct {
		*routeAlias
		Digest json.RawMessage `json:"digest"`
	}
	rj.routeAlias = (*routeAlias)(r)
	if err := json.Unmarshal(b, &rj); err != nil {
		return err
	}
	if len(rj.Digest) == 0 || string(rj.Digest) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(rj.Digest, &s); err == nil {
		if s == "" {
			r.Digest = 0
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("digest %q: %w", s, err)
		}
		r.Digest = d
		return nil
	}
	var sec float64
	if err := json.Unmarshal(rj.Digest, &sec); err != nil {
		return fmt.Errorf("digest: want a duration such as \"5m\" or seconds")
	}
	r.Digest = time.Duration(sec * float64(time.Second))
	return nil
}

// Masked returns a copy of r with secrets replaced by "***", for the API,
// the console and the audit log: the HMAC secret, the SMTP password and
// the secret parts of the URL (see redact.URL; a route sent back with the
// masked URL keeps the stored one).
func (r Route) Masked() Route {
	c := *r.clone()
	c.URL = redact.URL(c.URL)
	eachSecret(&c, func(p *string) {
		if *p != "" {
			*p = masked
		}
	})
	return c
}

func (r *Route) clone() *Route {
	c := *r
	c.Tags = slices.Clone(r.Tags)
	c.Rules = slices.Clone(r.Rules)
	if r.Entities != nil {
		c.Entities = make(map[string][]string, len(r.Entities))
		for k, v := range r.Entities {
			c.Entities[k] = slices.Clone(v)
		}
	}
	if r.Email != nil {
		e := *r.Email
		e.To = slices.Clone(r.Email.To)
		if r.Email.StartTLS != nil {
			v := *r.Email.StartTLS
			e.StartTLS = &v
		}
		c.Email = &e
	}
	if r.Syslog != nil {
		s := *r.Syslog
		c.Syslog = &s
	}
	return &c
}

// normalize trims and lower-cases what is compared case-insensitively and
// fills defaults.
func (r *Route) normalize() {
	r.Name = strings.TrimSpace(r.Name)
	r.Type = strings.ToLower(strings.TrimSpace(r.Type))
	r.URL = strings.TrimSpace(r.URL)
	r.MinLevel = strings.ToLower(strings.TrimSpace(r.MinLevel))
	for i, t := range r.Tags {
		r.Tags[i] = strings.ToLower(strings.TrimSpace(t))
	}
	for i, t := range r.Rules {
		r.Rules[i] = strings.TrimSpace(t)
	}
	for _, typ := range types() {
		if o := outputs[typ]; o.normalize != nil {
			o.normalize(r)
		}
	}
}

// Validate reports what is wrong with r, wrapping ErrInvalid.
func (r *Route) Validate() error {
	bad := func(format string, args ...any) error {
		return &invalidError{fmt.Sprintf("route %q: ", r.Name) + fmt.Sprintf(format, args...)}
	}
	if r.Name == "" {
		return bad("name is required")
	}
	if r.MinLevel != "" && levelOf(r.MinLevel) == sigma.NoLevel {
		return bad("unknown min_level %q (want informational, low, medium, high or critical)", r.MinLevel)
	}
	if r.RateLimit < 0 {
		return bad("rate_limit %d is negative", r.RateLimit)
	}
	if r.Digest < 0 {
		return bad("digest %s is negative", r.Digest)
	}
	for _, t := range r.Tags {
		if t == "" {
			return bad("empty tag filter")
		}
	}
	for k := range r.Entities {
		if strings.TrimSpace(k) == "" {
			return bad("empty entity kind in filter")
		}
	}
	if r.Type == "" {
		return bad("type is required (%s)", typeList())
	}
	o := outputs[r.Type]
	if o == nil {
		return bad("unknown type %q (want %s)", r.Type, typeList())
	}
	return o.validate(r, bad)
}

// levelOf reads a level in any case (levels from the API are accepted
// so); NoLevel for a string that is not one.
func levelOf(l string) sigma.Level { return sigma.LevelOf(strings.ToLower(l)) }

// Matches reports whether nt passes all of r's filters (each filter that is
// set must match; within one filter any value may match).
func (r *Route) Matches(nt *Notification) bool {
	if r.MinLevel != "" && levelOf(nt.Level) < levelOf(r.MinLevel) {
		return false
	}
	if len(r.Rules) > 0 && !slices.Contains(r.Rules, nt.RuleID) {
		return false
	}
	if len(r.Tags) > 0 && !matchTags(r.Tags, nt.Tags) {
		return false
	}
	if len(r.Entities) > 0 && !matchEntities(r.Entities, nt.Entities) {
		return false
	}
	return true
}

func matchTags(filter, tags []string) bool {
	for _, t := range tags {
		t = strings.ToLower(t)
		for _, f := range filter {
			if p, ok := strings.CutSuffix(f, "*"); ok {
				if strings.HasPrefix(t, p) {
					return true
				}
				continue
			}
			if t == f || (strings.HasPrefix(t, f) && t[len(f)] == '.') {
				return true
			}
		}
	}
	return false
}

func matchEntities(filter, ents map[string][]string) bool {
	for kind, want := range filter {
		for _, v := range ents[kind] {
			for _, w := range want {
				if strings.EqualFold(v, w) {
					return true
				}
				if strings.Contains(w, "/") {
					if p, err := netip.ParsePrefix(w); err == nil {
						if a, err := netip.ParseAddr(v); err == nil && p.Contains(a.Unmap()) {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

func sortRoutes(rs []Route) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Name != rs[j].Name {
			return rs[i].Name < rs[j].Name
		}
		return rs[i].ID < rs[j].ID
	})
}

// invalidError is a validation failure; it matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }
