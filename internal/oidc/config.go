package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/auth"
)

// CallbackPath is where the provider sends the browser back: the path of
// every redirect_url.
const CallbackPath = "/auth/oidc/callback"

// Config is the oidc section of the configuration. Single sign-on is on
// when Issuer is set.
type Config struct {
	// Issuer is the provider's issuer URL exactly as its discovery
	// document (ISSUER/.well-known/openid-configuration) says it,
	// trailing slash included. https, or http on a loopback host only.
	Issuer string `koanf:"issuer"`
	// ClientID and ClientSecret are the client Vigil is registered as.
	// An empty secret makes a public client (PKCE only).
	ClientID     string `koanf:"client_id"`
	ClientSecret Secret `koanf:"client_secret"`
	// RedirectURL is Vigil's callback as the browser reaches it
	// (https://vigil.example.com/auth/oidc/callback); it is registered
	// with the provider.
	RedirectURL string `koanf:"redirect_url"`
	// Scopes are requested (default openid, profile, email); openid must
	// be one of them.
	Scopes []string `koanf:"scopes"`
	// RoleClaim names the claim whose values are mapped to a role
	// (default groups). A name no claim has exactly is read as a dotted
	// path into nested claims (realm_access.roles).
	RoleClaim string `koanf:"role_claim"`
	// RoleMap maps a value of the role claim to viewer, analyst or
	// admin. A user whose values map to several roles gets the most
	// powerful one.
	RoleMap map[string]string `koanf:"role_map"`
	// DefaultRole is the role of a user none of whose values is mapped:
	// none (the default) refuses the sign-in.
	DefaultRole string `koanf:"default_role"`
	// AllowedDomains, when set, admit only users whose email address (not
	// marked unverified) is in one of these domains.
	AllowedDomains []string `koanf:"allowed_domains"`
	// Name is the provider's name on the sign-in button ("Sign in with
	// Name"); default the issuer's host.
	Name string `koanf:"name"`
}

// Enabled reports whether single sign-on is configured.
func (c Config) Enabled() bool { return c.Issuer != "" }

// Defaults fills in what is not set.
func (c *Config) Defaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email"}
	}
	if c.RoleClaim == "" {
		c.RoleClaim = "groups"
	}
	if c.DefaultRole == "" {
		c.DefaultRole = "none"
	}
	if c.Name == "" {
		if u, err := url.Parse(c.Issuer); err == nil {
			c.Name = u.Hostname()
		}
	}
}

// Limits of the configuration.
const (
	// MaxRoleMap bounds the role map's entries.
	MaxRoleMap = 10000
	// maxName bounds the button's name.
	maxName = 64
)

// Validate reports every problem of the section at once, each prefixed
// with its key. It calls Defaults first.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.ClientID != "" || c.ClientSecret != "" || c.RedirectURL != "" || len(c.RoleMap) > 0 {
			return errors.New("oidc.issuer: must be set when the other oidc keys are")
		}
		return nil
	}
	c.Defaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := checkIssuer(c.Issuer); err != nil {
		add("oidc.issuer: %w", err)
	}
	if c.ClientID == "" {
		add("oidc.client_id: must be set")
	}
	if err := checkRedirect(c.RedirectURL); err != nil {
		add("oidc.redirect_url: %w", err)
	}
	if !slices.Contains(c.Scopes, "openid") {
		add("oidc.scopes: %q must include openid", c.Scopes)
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") || len(s) > 256 {
			add("oidc.scopes: %q is not a scope (no spaces or quotes, at most 256 bytes)", s)
		}
	}
	if len(c.RoleMap) > MaxRoleMap {
		add("oidc.role_map: %d entries, more than %d", len(c.RoleMap), MaxRoleMap)
	}
	for v, r := range c.RoleMap {
		if v == "" {
			add("oidc.role_map: an empty claim value maps nothing")
		}
		if _, err := personRole(r); err != nil {
			add("oidc.role_map.%s: %w", v, err)
		}
	}
	if c.DefaultRole != "none" {
		if _, err := personRole(c.DefaultRole); err != nil {
			add("oidc.default_role: %w (or none, to refuse)", err)
		}
	}
	for i, d := range c.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") || strings.HasPrefix(d, ".") {
			add("oidc.allowed_domains[%d]: %q is not a domain (example.com)", i, d)
		}
	}
	if len(c.Name) > maxName {
		add("oidc.name: %d bytes, more than %d", len(c.Name), maxName)
	}
	return errors.Join(errs...)
}

// personRole reads a role a person may have.
func personRole(s string) (auth.Role, error) {
	switch r := auth.Role(s); r {
	case auth.RoleViewer, auth.RoleAnalyst, auth.RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%q is not viewer, analyst or admin", s)
}

// checkIssuer requires https, or http on a loopback host (a provider on
// the same machine, or a test's): over plain http elsewhere, anyone on the
// path could serve their own keys and sign in as anyone.
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want https://host[/path], without user, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed on a loopback host only; use https", s)
		}
	default:
		return fmt.Errorf("%q: the scheme must be https", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkRedirect(s string) error {
	if s == "" {
		return fmt.Errorf("must be set (https://vigil.example.com%s)", CallbackPath)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want http(s)://host%s", s, CallbackPath)
	}
	if u.Path != CallbackPath {
		return fmt.Errorf("%q: the path must be %s", s, CallbackPath)
	}
	return nil
}

// Secret is a configured secret. It prints, marshals and logs as "***"
// (nothing when empty); Reveal returns it.
type Secret string

const mask = "***"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return mask
}

// GoString masks the secret in %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText masks the secret in JSON, YAML and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue masks the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
