package auth

import (
	"errors"
	"fmt"
	"time"
)

// LoginConfig is the login section of the server's configuration (login:
// in YAML, VIGIL_LOGIN_* in the environment): console sign-in. Every
// password check (argon2id, 19 MiB) reserves its place in the throttle
// before it runs; an attempt over a limit is answered 429 at once, with
// Retry-After, without hashing (docs/security.md).
type LoginConfig struct {
	LoginLimits `koanf:",squash"`
	// AuditWindow: after the first failed sign-in from a source, further
	// failures from it for this long are audited as one entry with their
	// count (default 10m).
	AuditWindow time.Duration `koanf:"audit_window"`
	// SecureCookies marks the console's cookies Secure on every response
	// (default false: only on requests that came over TLS, directly or
	// through a trusted proxy's X-Forwarded-Proto).
	SecureCookies bool `koanf:"secure_cookies"`
}

// DefaultLoginConfig returns the login section's defaults: the throttle's
// (DefaultLoginLimits), with max_hashing 0, which the throttle reads as
// max(1, GOMAXPROCS/2) on the machine it runs on.
func DefaultLoginConfig() LoginConfig {
	l := DefaultLoginLimits()
	l.MaxHashing = 0
	return LoginConfig{LoginLimits: l, AuditWindow: 10 * time.Minute}
}

// Validate reports every field out of its range, one error per field
// named by its key.
func (c LoginConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.MaxHashing < 0 || c.MaxHashing > 1024 {
		add("max_hashing: %d is outside 0..1024 (0: max(1, GOMAXPROCS/2))", c.MaxHashing)
	}
	if c.MaxHashingPerSource < 1 || (c.MaxHashing > 0 && c.MaxHashingPerSource > c.MaxHashing) {
		add("max_hashing_per_source: %d is outside 1..login.max_hashing", c.MaxHashingPerSource)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"max_failures", c.MaxFailures}, {"max_source_failures", c.MaxSourceFailures}, {"max_user_failures", c.MaxUserFailures}} {
		if f.n < 1 {
			add("%s: must be at least 1", f.name)
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"lock_base", c.LockBase}, {"lock_max", c.LockMax}, {"forget", c.Forget}, {"remember", c.Remember}, {"audit_window", c.AuditWindow}} {
		if f.d < time.Second {
			add("%s: must be at least 1s", f.name)
		}
	}
	if c.LockMax < c.LockBase {
		add("lock_max: %v is shorter than lock_base %v", c.LockMax, c.LockBase)
	}
	if c.MaxEntries < 1000 {
		add("max_entries: %d is below 1000", c.MaxEntries)
	}
	return errors.Join(errs...)
}
