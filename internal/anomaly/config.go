package anomaly

import (
	"errors"
	"fmt"
	"time"
)

// Config is the anomaly section of the server's configuration.
type Config struct {
	// Disabled turns the anomaly rules off (default false: the bundled
	// rules and DATA/anomaly run).
	Disabled bool `koanf:"disabled"`
	// Rules are extra anomaly rule folders; the bundled rules and
	// DATA/anomaly are always loaded.
	Rules []string `koanf:"rules"`
	// MaxEntities bounds the entities each rule holds in memory and in
	// the database (default 100000); past it the least recently seen goes
	// (vigil_anomaly_entities_evicted_total).
	MaxEntities int `koanf:"max_entities"`
	// MaxValues bounds the values a first_seen or rare rule learns per
	// entity (default 1024; vigil_anomaly_values_dropped_total).
	MaxValues int `koanf:"max_values"`
	// FlushInterval is how often the baselines are written to the
	// metadata database (default 30s); they are written at shutdown too.
	FlushInterval time.Duration `koanf:"flush_interval"`
}

// Upper bounds of the configuration.
const (
	maxConfigEntities = 10_000_000
	maxConfigValues   = 1 << 16
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxEntities: DefaultMaxEntities, MaxValues: DefaultMaxValues, FlushInterval: 30 * time.Second}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	var errs []error
	if c.MaxEntities < 1 || c.MaxEntities > maxConfigEntities {
		errs = append(errs, fmt.Errorf("max_entities: want 1 to %d, got %d", maxConfigEntities, c.MaxEntities))
	}
	if c.MaxValues < 1 || c.MaxValues > maxConfigValues {
		errs = append(errs, fmt.Errorf("max_values: want 1 to %d, got %d", maxConfigValues, c.MaxValues))
	}
	if c.FlushInterval < time.Second || c.FlushInterval > time.Hour {
		errs = append(errs, fmt.Errorf("flush_interval: want 1s to 1h, got %s", c.FlushInterval))
	}
	return errors.Join(errs...)
}
