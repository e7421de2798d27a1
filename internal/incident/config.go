package incident

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/sigma"
)

// Defaults of the incidents section, which Open also gives zero Options
// fields.
const (
	DefaultWindow        = 24 * time.Hour
	DefaultMinLevel      = "medium"
	DefaultRiskThreshold = 100
)

// Config is the incidents section of the server's configuration
// (incidents: in YAML, VIGIL_INCIDENTS_* in the environment): how alerts
// group into incidents.
type Config struct {
	// Window is how long after its last activity an open incident still
	// takes in new alerts that share an entity with it (default 24h).
	Window time.Duration `koanf:"window"`
	// MinLevel is the lowest alert level that opens an incident on its
	// own (default medium).
	MinLevel string `koanf:"min_level"`
	// RiskThreshold is the entity risk score that opens an incident
	// (default 100).
	RiskThreshold float64 `koanf:"risk_threshold"`
}

// DefaultConfig returns the incidents section's defaults.
func DefaultConfig() Config {
	return Config{Window: DefaultWindow, MinLevel: DefaultMinLevel, RiskThreshold: DefaultRiskThreshold}
}

// Validate reports every field out of its range, one error per field
// named by its key.
func (c Config) Validate() error {
	var errs []error
	if _, err := sigma.ParseLevel(c.MinLevel); err != nil {
		errs = append(errs, fmt.Errorf("min_level: %w", err))
	}
	if c.Window <= 0 {
		errs = append(errs, errors.New("window: must be positive"))
	}
	if c.RiskThreshold <= 0 {
		errs = append(errs, errors.New("risk_threshold: must be positive"))
	}
	return errors.Join(errs...)
}
