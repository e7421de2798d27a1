// Package redact masks secrets in what Vigil shows: URLs (credentials in
// the user information, secret query values, the path of webhook URLs whose
// path is the secret), header values, playbook parameters and free text
// that quotes them. What is masked becomes Mask; what tells a reader where
// something goes (scheme, host, port, non-secret parameters) stays.
//
// Masking is for display. The stored value is never changed by it: an
// admin who sends a masked value back gets the stored one kept (see the
// route API), so secrets are write-only.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces every secret.
const Mask = "***"

// secretExact are (normalised) names that are secrets when they are the
// whole name.
var secretExact = map[string]bool{
	"key": true, "sig": true, "auth": true, "pass": true, "pw": true, "pwd": true,
	"hmac": true, "otp": true, "code": true, "sas": true,
}

// secretParts are (normalised) name parts that make a name a secret
// wherever they occur.
var secretParts = []string{
	"token", "secret", "passw", "apikey", "signature", "credential", "authorization",
	"cookie", "privatekey", "accesskey", "sessionid", "bearer",
}

// secretSuffixes are (normalised) endings that make a name a secret:
// routing_key, x-api-key, subscription-key, x-amz-sig, basic_auth,
// db_pass.
var secretSuffixes = []string{"key", "sig", "auth", "pass", "pwd"}

// normName lower-cases name and drops the separators people put between
// its words, so that api_key, API-Key, apiKey and api.key compare alike.
func normName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// IsSecretName reports whether a parameter, query key, header or field
// called name holds a secret: key, api_key, apikey, token, access_token,
// secret, password, sig, signature, Authorization, X-Api-Key, any name
// containing token, secret or password, or ending in key.
func IsSecretName(name string) bool {
	n := normName(name)
	if n == "" {
		return false
	}
	if secretExact[n] {
		return true
	}
	for _, p := range secretParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// webhookHosts are services whose webhook URL carries its secret in the
// path: the whole path of a URL on one of them (or a subdomain) is masked.
var webhookHosts = []string{
	"hooks.slack.com", "hooks.slack-gov.com",
	"discord.com", "discordapp.com",
	"webhook.office.com", "outlook.office.com", "outlook.office365.com",
	"logic.azure.com",
	"chat.googleapis.com",
	"api.telegram.org",
	"hooks.zapier.com", "maker.ifttt.com",
}

// IsWebhookHost reports whether host (a host name, with or without a port)
// belongs to a service whose webhook URLs carry their secret in the path.
func IsWebhookHost(host string) bool {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for _, d := range webhookHosts {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// hookSegments are path segments after which every segment is a secret on
// any host (Mattermost, Rocket.Chat, generic receivers: /hooks/ID/TOKEN).
var hookSegments = map[string]bool{"hooks": true, "hook": true, "webhook": true, "webhooks": true}

// tokenLike reports whether a path segment looks like a generated secret:
// at least 20 characters of a token alphabet, with letters and digits.
func tokenLike(seg string) bool {
	if len(seg) < 20 {
		return false
	}
	var letter, digit bool
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9':
			digit = true
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '=' || c == ':' || c == '%':
		default:
			return false
		}
	}
	return letter && digit
}

// URL returns s with its secrets masked: the password of the user
// information (or the whole user information when it has no password: a
// lone user name is often a token), the values of secret query and
// fragment parameters (see IsSecretName), the path of webhook services
// (see IsWebhookHost), the segments after /hooks/ or /webhook/, and path
// segments that look like generated tokens. Scheme, host and port stay
// visible. A string that does not parse as a URL is masked whole, except
// for a scheme and host that can still be read from it.
func URL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return unparsed(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteByte(':')
	}
	if u.Opaque != "" {
		// mailto:, urn: and the like: no authority; mask what looks like
		// a parameter.
		b.WriteString(maskParams(u.Opaque, ':'))
	} else {
		if u.Scheme != "" || u.Host != "" || u.User != nil {
			b.WriteString("//")
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				b.WriteString(url.User(u.User.Username()).String())
				b.WriteByte(':')
			}
			b.WriteString(Mask)
			b.WriteByte('@')
		}
		b.WriteString(u.Host)
		path := maskPath(u.Host, u.EscapedPath())
		if u.Scheme == "" && u.Host == "" && u.User == nil {
			// A colon in the first segment of a relative path would read
			// as a scheme: write it as url.URL.String does.
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ":") {
				b.WriteString("./")
			}
		}
		b.WriteString(path)
	}
	if u.ForceQuery || u.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(maskParams(u.RawQuery, '&'))
	}
	if u.Fragment != "" {
		b.WriteByte('#')
		b.WriteString(maskFragment(u.EscapedFragment()))
	}
	return b.String()
}

// unparsed masks a string that url.Parse refused: keep "scheme://host"
// when it can be read, mask the rest.
func unparsed(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		return Mask
	}
	scheme = strings.ToLower(scheme) // as url.Parse writes it
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n\"'<>\\^`{|}%") {
		return scheme + "://" + Mask
	}
	return scheme + "://" + host + "/" + Mask
}

func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// maskPath masks the secret segments of an escaped path.
func maskPath(host, path string) string {
	if path == "" || path == "/" {
		return path
	}
	if IsWebhookHost(host) {
		return "/" + Mask
	}
	segs := strings.Split(path, "/")
	after := false
	for i, seg := range segs {
		if seg == "" || seg == Mask {
			continue
		}
		if after || tokenLike(seg) {
			segs[i] = Mask
			continue
		}
		if hookSegments[strings.ToLower(seg)] {
			after = true
		}
	}
	return strings.Join(segs, "/")
}

// maskParams masks the values of secret parameters in an escaped query
// (name=value pairs separated by sep), keeping their order and spelling.
func maskParams(raw string, sep byte) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, string(sep))
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" || v == Mask {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if IsSecretName(name) {
			parts[i] = k + "=" + Mask
		}
	}
	return strings.Join(parts, string(sep))
}

// maskFragment masks a fragment: its secret parameters when it has any
// (#access_token=... of OAuth), or the whole of it when it looks like a
// token.
func maskFragment(frag string) string {
	if strings.Contains(frag, "=") {
		return maskParams(frag, '&')
	}
	if tokenLike(frag) {
		return Mask
	}
	return frag
}

// Header returns the value of header name as it may be shown: Authorization,
// Proxy-Authorization, Cookie and any header with a secret name (X-Api-Key,
// X-Auth-Token, ...) are masked, keeping an authorization scheme ("Bearer
// ***"); other values have the URLs and secrets they quote masked (Text).
func Header(name, value string) string {
	if value == "" {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "authorization", "proxy-authorization":
		if scheme, rest, ok := strings.Cut(strings.TrimSpace(value), " "); ok && strings.TrimSpace(rest) != "" && validScheme(scheme) {
			return scheme + " " + Mask
		}
		return Mask
	case "cookie", "set-cookie":
		return Mask
	}
	if IsSecretName(name) {
		return Mask
	}
	return Text(value)
}

var (
	urlInText  = regexp.MustCompile("(?i)\\b[a-z][a-z0-9+.-]{0,31}://[^\\s\"'<>`]+")
	authInText = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}`)
	// kvInText finds name=value and "name": "value" with a secret-looking
	// name (checked with IsSecretName).
	kvInText = regexp.MustCompile(`(?i)([a-z0-9][a-z0-9_.-]{0,63})("?\s*[=:]\s*"?)([^\s"&,;]+)`)
)

// Text returns free text (an action's result, an error, a header value)
// with every URL in it masked as URL does, "Bearer T" and "Basic T"
// credentials masked, and name=value or "name": "value" pairs whose name
// is a secret (IsSecretName) masked.
func Text(s string) string {
	if !mayHoldSecret(s) {
		return s // the common case on the action path: no regexp runs
	}
	return maskText(s)
}

// maskText is Text without its shortcut.
func maskText(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, func(m string) string {
		// Sentence punctuation after a URL is not part of it.
		trimmed := strings.TrimRight(m, ".,;:!?)]}")
		return URL(trimmed) + m[len(trimmed):]
	})
	s = authInText.ReplaceAllString(s, "${1}${2}"+Mask)
	return kvInText.ReplaceAllStringFunc(s, func(m string) string {
		sub := kvInText.FindStringSubmatch(m)
		v := sub[3]
		if v == Mask || strings.HasPrefix(v, "//") || strings.EqualFold(v, "bearer") || strings.EqualFold(v, "basic") || !IsSecretName(sub[1]) {
			return m
		}
		return sub[1] + sub[2] + Mask
	})
}

// mayHoldSecret reports whether Text could change s: a URL and a
// name=value or name: value pair need '=' or ':', a credential the word
// bearer or basic.
func mayHoldSecret(s string) bool {
	if strings.ContainsAny(s, "=:") {
		return true
	}
	for i := 0; i+5 <= len(s); i++ {
		switch s[i] | 0x20 {
		case 'b':
			if i+6 <= len(s) && strings.EqualFold(s[i:i+6], "bearer") || strings.EqualFold(s[i:i+5], "basic") {
				return true
			}
		}
	}
	return false
}

// Params returns a copy of a playbook step's parameters as they may be
// shown: the parameters named in secret, and those whose name is a secret
// (IsSecretName: token, api_key, password, header.Authorization,
// headers.X-Api-Key, ...), become Mask; the others have the URLs and
// secrets they quote masked (Text). Empty values stay empty.
func Params(with map[string]string, secret []string) map[string]string {
	if with == nil {
		return nil
	}
	out := make(map[string]string, len(with))
	for k, v := range with {
		switch {
		case v == "":
			out[k] = v
		case slices.Contains(secret, k) || IsSecretName(k):
			out[k] = Mask
		default:
			out[k] = Text(v)
		}
	}
	return out
}
