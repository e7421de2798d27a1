package oidc

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/auth"
)

// Identity is a person the provider vouched for, as Vigil takes them.
type Identity struct {
	// Issuer and Subject identify the person at the provider; Vigil
	// links its user record to them, never to a name.
	Issuer  string
	Subject string
	// Username is the preferred_username claim, or the email claim when
	// that is not a valid Vigil user name.
	Username string
	Email    string
	// Role is the role the role claim maps to (or the default role).
	Role auth.Role
	// Values are the role claim's values (at most MaxShownValues, each
	// cut to maxShownValue bytes), for the audit log.
	Values []string
}

// Bounds of what is read from the claims.
const (
	// MaxRoleValues bounds the role claim's values: a claim with more is
	// refused (Entra ID, for one, sends at most 200 groups in a token).
	MaxRoleValues = 1000
	// MaxShownValues bounds the values an audit entry or a page shows.
	MaxShownValues = 20
	maxShownValue  = 64
	// maxSubject is OpenID Connect's own bound on sub.
	maxSubject = 255
	// maxWho bounds a name in the audit log.
	maxWho = 128
)

// Reasons of a Refusal.
const (
	ReasonNoRole     = "no role"
	ReasonDomain     = "email domain not allowed"
	ReasonUsername   = "no usable user name"
	ReasonTooMany    = "too many role values"
	ReasonBadSubject = "bad subject"
)

// Refusal is a sign-in the provider vouched for that Vigil's policy
// refuses. Its message is for the person who signed in; Reason, Who and
// Values are for the audit log.
type Refusal struct {
	// Reason is one of the Reason constants.
	Reason string
	// Who names the person: their user name, email or subject.
	Who string
	// Values are the role claim's values (bounded as Identity's).
	Values []string
	msg    string
}

func (r *Refusal) Error() string { return r.msg }

// claims are the ID token's claims, with the userinfo endpoint's filling
// in those the token lacks.
type claims map[string]json.RawMessage

func (c claims) str(name string) string {
	var s string
	if raw, ok := c[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// verified reads email_verified, which some providers send as a string.
// Absent is not verified: where an email decides who may sign in
// (allowed_domains), an address the provider did not vouch for must not
// (anyone can put any address on an account at some providers).
func (c claims) verified() bool {
	raw, ok := c["email_verified"]
	if !ok {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.EqualFold(s, "true")
	}
	return false
}

// lookup finds the claim name: exactly, else as a dotted path into nested
// objects.
func (c claims) lookup(name string) (json.RawMessage, bool) {
	if raw, ok := c[name]; ok {
		return raw, true
	}
	first, rest, ok := strings.Cut(name, ".")
	if !ok {
		return nil, false
	}
	raw, ok := c[first]
	if !ok {
		return nil, false
	}
	var inner claims
	if json.Unmarshal(raw, &inner) != nil {
		return nil, false
	}
	return inner.lookup(rest)
}

// values reads the role claim: a string or an array of strings (other
// members are skipped).
func (c claims) values(name string) ([]string, error) {
	raw, ok := c.lookup(name)
	if !ok {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, nil
	}
	if len(list) > MaxRoleValues {
		return nil, fmt.Errorf("the %s claim holds %d values, more than %d", name, len(list), MaxRoleValues)
	}
	out := make([]string, 0, len(list))
	for _, m := range list {
		if json.Unmarshal(m, &s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

var rank = map[auth.Role]int{auth.RoleViewer: 1, auth.RoleAnalyst: 2, auth.RoleAdmin: 3}

// identify reads who signed in and maps their role. Every claim is the
// provider's word about a person whose own profile may have set it (a
// preferred_username, a display name, a group they created): a value is
// only ever compared, and never decides anything but through the role
// map an admin wrote.
func (cfg *Config) identify(issuer, subject string, c claims) (Identity, error) {
	id := Identity{Issuer: issuer, Subject: subject, Email: c.str("email")}
	if subject == "" || len(subject) > maxSubject {
		return Identity{}, &Refusal{Reason: ReasonBadSubject, Who: cut(subject, maxWho),
			msg: fmt.Sprintf("the provider's subject identifier is empty or longer than %d bytes", maxSubject)}
	}
	who := func() string {
		for _, s := range []string{id.Username, id.Email, "sub:" + subject} {
			if s != "" {
				return cut(s, maxWho)
			}
		}
		return ""
	}
	if pu := c.str("preferred_username"); auth.ValidUsername(pu) == nil {
		id.Username = pu
	} else if auth.ValidUsername(id.Email) == nil {
		id.Username = id.Email
	} else {
		return Identity{}, &Refusal{Reason: ReasonUsername, Who: who(),
			msg: "the provider sent neither a preferred_username nor an email that is a valid Vigil user name " +
				"(1 to 64 letters, digits and . _ - @)"}
	}
	if len(cfg.AllowedDomains) > 0 {
		at := strings.LastIndexByte(id.Email, '@')
		domain := id.Email[at+1:]
		allowed := false
		for _, d := range cfg.AllowedDomains {
			if at > 0 && strings.EqualFold(domain, d) {
				allowed = true
			}
		}
		if !allowed || !c.verified() {
			return Identity{}, &Refusal{Reason: ReasonDomain, Who: who(),
				msg: fmt.Sprintf("%s may not sign in: a verified email address in %s is required",
					who(), strings.Join(cfg.AllowedDomains, ", "))}
		}
	}
	values, err := c.values(cfg.RoleClaim)
	if err != nil {
		return Identity{}, &Refusal{Reason: ReasonTooMany, Who: who(), msg: err.Error()}
	}
	id.Values = shown(values)
	for _, v := range values {
		r, ok := cfg.RoleMap[v]
		if !ok {
			continue
		}
		if role := auth.Role(r); rank[role] > rank[id.Role] {
			id.Role = role
		}
	}
	if id.Role == "" && cfg.DefaultRole != "none" {
		id.Role = auth.Role(cfg.DefaultRole)
	}
	if id.Role == "" {
		msg := fmt.Sprintf("%s has no role in Vigil: ", who())
		if len(values) == 0 {
			msg += fmt.Sprintf("the provider sent no %s claim", cfg.RoleClaim)
		} else {
			msg += fmt.Sprintf("none of the values of the %s claim (%s) is mapped to a role", cfg.RoleClaim, strings.Join(id.Values, ", "))
		}
		return Identity{}, &Refusal{Reason: ReasonNoRole, Who: who(), Values: id.Values, msg: msg + ". Ask an administrator."}
	}
	return id, nil
}

// shown bounds values for the audit log and pages.
func shown(values []string) []string {
	out := make([]string, 0, min(len(values), MaxShownValues))
	for i, v := range values {
		if i == MaxShownValues {
			out = append(out, fmt.Sprintf("and %d more", len(values)-MaxShownValues))
			break
		}
		out = append(out, cut(v, maxShownValue))
	}
	return out
}

// cut keeps at most n bytes of s, on a rune boundary, and marks the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
