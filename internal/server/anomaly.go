package server

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/vigilsec/vigil/internal/anomaly"
	"github.com/vigilsec/vigil/internal/pipeline"
)

// startAnomaly loads the anomaly rules (bundled, DATA/anomaly and the
// configured folders), reloads their baselines from the metadata database
// and starts writing them back in batches. It returns the pipeline
// detector, nil when anomaly rules are disabled. A rule file that does not
// load is logged, as Sigma rules are.
func (s *Server) startAnomaly(ctx context.Context) (pipeline.Detector, error) {
	cfg := s.cfg.Anomaly
	if cfg.Disabled {
		return nil, nil
	}
	rules, err := s.anomalyRules()
	if err != nil {
		return nil, err
	}
	opts := anomaly.Options{MaxEntities: cfg.MaxEntities, MaxValues: cfg.MaxValues}
	if s.geo != nil {
		geo := s.geo
		opts.Locate = func(ip netip.Addr) (float64, float64, bool) { return geo.Locate(ip) }
		opts.Country = func(ip netip.Addr) (string, bool) {
			info, err := geo.Lookup(ip)
			return info.Country, err == nil && info.Country != ""
		}
	}
	eng, err := anomaly.New(rules, s.Recorder, opts)
	if err != nil {
		s.log.Warn("anomaly rules not loaded", "err", err)
	}
	p, err := anomaly.Persist(ctx, eng, s.Events.Meta(), cfg.FlushInterval, s.log)
	if err != nil {
		return nil, fmt.Errorf("anomaly state: %w", err)
	}
	s.anomaly = p
	stats := func() anomaly.Stats { return eng.Stats() }
	s.Metrics.GaugeFunc("vigil_anomaly_rules", "Anomaly rules running.", func() float64 { return float64(len(eng.Rules())) })
	s.Metrics.GaugeFunc("vigil_anomaly_entities", "Entities the anomaly rules hold a baseline of, all rules together.",
		func() float64 { return float64(stats().Entities) })
	s.Metrics.CounterFunc("vigil_anomaly_entities_evicted_total", "Anomaly baselines dropped at anomaly.max_entities (least recently seen first).",
		func() float64 { return float64(stats().Evicted) })
	s.Metrics.CounterFunc("vigil_anomaly_values_dropped_total", "Values an anomaly rule did not learn at anomaly.max_values.",
		func() float64 { return float64(stats().ValuesDropped) })
	s.Metrics.CounterFunc("vigil_anomaly_future_events_total", "Events anomaly rules ignored for a time more than an hour ahead of the clock.",
		func() float64 { return float64(stats().FutureEvents) })
	s.Metrics.CounterFunc("vigil_anomaly_detections_total", "Detections of anomaly rules.",
		func() float64 { return float64(stats().Detections) })
	s.log.Info("anomaly rules loaded", "rules", len(eng.Rules()), "entities", stats().Entities)
	return eng, nil
}

// anomalyRules reads the bundled anomaly rules, DATA/anomaly and the
// configured folders. Files that do not load are logged; the others'
// rules are returned.
func (s *Server) anomalyRules() ([]*anomaly.Rule, error) {
	rules, err := anomaly.Builtin()
	if err != nil {
		return nil, fmt.Errorf("bundled anomaly rules: %w", err)
	}
	extra, err := anomaly.LoadDir(append([]string{filepath.Join(s.cfg.Data, "anomaly")}, s.cfg.Anomaly.Rules...)...)
	if err != nil {
		s.log.Warn("anomaly rules not loaded", "err", err)
	}
	return append(rules, extra...), nil
}

// reloadAnomaly reads the anomaly rules again (with the Sigma rules, on
// SIGHUP); unchanged rules keep their baselines.
func (s *Server) reloadAnomaly() {
	if s.anomaly == nil {
		return
	}
	rules, err := s.anomalyRules()
	if err == nil {
		err = s.anomaly.Engine().Reload(rules)
	}
	if err != nil {
		s.log.Warn("anomaly rules not loaded", "err", err)
	}
	s.log.Info("anomaly rules loaded", "rules", len(s.anomaly.Engine().Rules()))
}

// stopAnomaly writes the baselines a last time, once the pipeline has
// drained.
func (s *Server) stopAnomaly(ctx context.Context) error {
	if s.anomaly == nil {
		return nil
	}
	if err := s.anomaly.Close(ctx); err != nil {
		return fmt.Errorf("anomaly state: %w", err)
	}
	return nil
}
