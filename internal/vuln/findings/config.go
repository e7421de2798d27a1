package findings

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/timeparse"
)

// SLA is how long a finding may stay open, by priority, counted from when
// it was first seen.
type SLA struct {
	P1 Duration `koanf:"p1"`
	P2 Duration `koanf:"p2"`
	P3 Duration `koanf:"p3"`
	P4 Duration `koanf:"p4"`
}

// Duration is a time.Duration that a configuration file may also write
// in days or weeks ("7d", "2w").
type Duration time.Duration

// UnmarshalText reads a duration such as 168h, 7d or 2w.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := timeparse.Duration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go does (168h0m0s).
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults of the vulnerabilities section.
const (
	day = 24 * time.Hour
	// DefaultCheckInterval is how often the SLA and acceptance expiry
	// check runs.
	DefaultCheckInterval = 10 * time.Minute
	// DefaultReconcileInterval is how often inventory sources are
	// reconciled.
	DefaultReconcileInterval = time.Hour
	// maxSLA bounds a due date's distance (ten years).
	maxSLA = 3650 * day
)

// DefaultSLA is 7 days for P1 (Act), 30 for P2, 90 for P3 and 180 for P4.
func DefaultSLA() SLA {
	return SLA{P1: Duration(7 * day), P2: Duration(30 * day), P3: Duration(90 * day), P4: Duration(180 * day)}
}

// For returns the SLA of a priority (P4's for an unknown one).
func (s SLA) For(priority string) time.Duration {
	switch priority {
	case "P1":
		return time.Duration(s.P1)
	case "P2":
		return time.Duration(s.P2)
	case "P3":
		return time.Duration(s.P3)
	}
	return time.Duration(s.P4)
}

// Validate reports every duration out of its range.
func (s SLA) Validate() error { return errors.Join(s.errs("")...) }

func (s SLA) errs(prefix string) []error {
	var errs []error
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"p1", time.Duration(s.P1)}, {"p2", time.Duration(s.P2)}, {"p3", time.Duration(s.P3)}, {"p4", time.Duration(s.P4)}} {
		if d.v <= 0 || d.v > maxSLA {
			errs = append(errs, fmt.Errorf("%s%s: %v: must be positive and at most 3650 days", prefix, d.key, d.v))
		}
	}
	return errs
}

// Config is the vulnerabilities section of the server's configuration.
type Config struct {
	// DB is the advisory database's folder (empty: DATA/vulndb, where
	// vigil vulndb import writes by default).
	DB string `koanf:"db"`
	// SLA gives due dates by priority.
	SLA SLA `koanf:"sla"`
	// CheckInterval is how often SLA breaches and lapsed risk
	// acceptances are looked for.
	CheckInterval time.Duration `koanf:"check_interval"`
	// ReconcileInterval is how often the inventory sources (the host
	// agents) are matched again, so that new advisories and fixes show.
	ReconcileInterval time.Duration `koanf:"reconcile_interval"`
}

// DefaultConfig returns the section's defaults.
func DefaultConfig() Config {
	return Config{SLA: DefaultSLA(), CheckInterval: DefaultCheckInterval, ReconcileInterval: DefaultReconcileInterval}
}

// Validate reports every field out of its range, named by its key.
func (c Config) Validate() error {
	errs := c.SLA.errs("sla.")
	if c.CheckInterval < time.Second || c.CheckInterval > day {
		errs = append(errs, fmt.Errorf("check_interval: %v: must be between 1s and 24h", c.CheckInterval))
	}
	if c.ReconcileInterval < time.Minute || c.ReconcileInterval > 7*day {
		errs = append(errs, fmt.Errorf("reconcile_interval: %v: must be between 1m and 168h", c.ReconcileInterval))
	}
	return errors.Join(errs...)
}
