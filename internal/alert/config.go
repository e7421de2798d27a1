package alert

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/sigma"
)

// Defaults of the alerts section, which NewRecorder also gives zero
// Options fields.
const (
	DefaultMinLevel          = "low"
	DefaultWindow            = time.Hour
	DefaultQueueSize         = 65536
	DefaultCampaignThreshold = 5
	DefaultCampaignWindow    = 10 * time.Minute
	// DefaultCorrelationGroups bounds the correlation state of the
	// server's rule engine (group-by keys held at once).
	DefaultCorrelationGroups = 250000
)

// Config is the alerts section of the server's configuration (alerts: in
// YAML, VIGIL_ALERTS_* in the environment): how detections become alerts.
type Config struct {
	// MinLevel is the lowest Sigma level that raises an alert (default
	// low); informational detections feed correlations and are counted.
	MinLevel string `koanf:"min_level"`
	// Window folds repeats of a rule on the same entities into one alert
	// while they come within it of the last one (default 1h).
	Window time.Duration `koanf:"window"`
	// QueueSize bounds the detections waiting to become alerts (default
	// 65536); past it detections are shed and counted
	// (vigil_detections_shed_total), their events stored all the same.
	QueueSize int `koanf:"queue_size"`
	// Campaign groups storms: one rule firing for many subjects.
	Campaign CampaignConfig `koanf:"campaign"`
	// CorrelationGroups bounds the correlation state (group-by keys held
	// at once, default 250000); past it the least recently used one-off
	// key goes first (vigil_correlation_groups_evicted_total).
	CorrelationGroups int `koanf:"correlation_groups"`
	// SuppressionMaxExpiry is the longest a suppression added by an
	// analyst may last (default 720h, 30 days); only an admin may add a
	// longer or permanent one, or one for every rule ("*").
	SuppressionMaxExpiry time.Duration `koanf:"suppression_max_expiry"`
}

// CampaignConfig configures storm grouping: when one rule raises alerts
// for Threshold distinct subjects (source addresses, users, hosts) within
// Window, its further detections fold into one campaign alert and one
// incident that list every subject.
type CampaignConfig struct {
	// Threshold is the number of distinct subjects (default 5; -1
	// disables campaigns).
	Threshold int `koanf:"threshold"`
	// Window (default 10m).
	Window time.Duration `koanf:"window"`
}

// DefaultConfig returns the alerts section's defaults.
func DefaultConfig() Config {
	return Config{MinLevel: DefaultMinLevel, Window: DefaultWindow, QueueSize: DefaultQueueSize,
		CorrelationGroups: DefaultCorrelationGroups, SuppressionMaxExpiry: DefaultSuppressionMaxExpiry,
		Campaign: CampaignConfig{Threshold: DefaultCampaignThreshold, Window: DefaultCampaignWindow}}
}

// Validate reports every field out of its range, one error per field
// named by its key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := sigma.ParseLevel(c.MinLevel); err != nil {
		add("min_level: %w", err)
	}
	if c.QueueSize <= 0 {
		add("queue_size: must be positive")
	}
	if c.CorrelationGroups <= 0 {
		add("correlation_groups: must be positive")
	}
	if c.SuppressionMaxExpiry <= 0 {
		add("suppression_max_expiry: %s (want a positive duration such as 720h)", c.SuppressionMaxExpiry)
	}
	if c.Campaign.Threshold == 0 || c.Campaign.Threshold < -1 {
		add("campaign.threshold: %d (want 2 or more, or -1 to disable campaigns)", c.Campaign.Threshold)
	} else if c.Campaign.Threshold == 1 {
		add("campaign.threshold: 1 would make every alert a campaign (want 2 or more, or -1)")
	}
	if c.Campaign.Window <= 0 {
		add("campaign.window: must be positive")
	}
	if c.Window <= 0 {
		add("window: must be positive")
	}
	return errors.Join(errs...)
}
