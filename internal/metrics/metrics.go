// Package metrics holds Vigil's Prometheus metrics: one registry per server
// so tests can run several servers in one process.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's counters, gauges and histograms.
type Metrics struct {
	Registry *prometheus.Registry

	// EventsIn counts messages read by each input.
	EventsIn *prometheus.CounterVec
	// Rejected counts messages refused by an input, by reason.
	RejectedMsgs *prometheus.CounterVec
	// ParseErrors counts events stored raw because no decoder understood them.
	ParseErrors *prometheus.CounterVec
	// Stored counts events committed to the store.
	Stored prometheus.Counter
	// Dropped counts events lost after being accepted, by reason.
	Dropped *prometheus.CounterVec
	// BatchSeconds is the time to commit one store batch.
	BatchSeconds prometheus.Histogram
	// BatchEvents is the number of events in one store batch.
	BatchEvents prometheus.Histogram
	// QuerySeconds is the time to answer one search.
	QuerySeconds prometheus.Histogram
	// Detections counts rule matches by level.
	Detections *prometheus.CounterVec
	// Suppressed counts detections a suppression kept from alerting.
	Suppressed prometheus.Counter
	// DetectionsShed counts detections the alert queue had no room for.
	DetectionsShed prometheus.Counter
	// DetectionsNotDurable counts detections queued without their record
	// in the hand-off journal (the journal failed).
	DetectionsNotDurable prometheus.Counter
	// AlertIndexEvicted counts entries the open-alert index dropped to
	// stay within its bound.
	AlertIndexEvicted prometheus.Counter
	// RiskIndexEvicted counts entity scores the risk index dropped to stay
	// within its bound.
	RiskIndexEvicted prometheus.Counter
}

// New registers Vigil's metrics, plus the Go and process collectors, in a
// new registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_received_total", Help: "Messages read by each input.",
		}, []string{"input"}),
		RejectedMsgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_rejected_total", Help: "Messages refused by an input, by reason.",
		}, []string{"input", "reason"}),
		ParseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_parse_errors_total", Help: "Events stored raw with the parse_error tag, by input.",
		}, []string{"input"}),
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_events_stored_total", Help: "Events committed to the store.",
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_dropped_total", Help: "Events accepted but not stored, by reason.",
		}, []string{"reason"}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_store_batch_seconds", Help: "Time to commit one batch to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_store_batch_events", Help: "Events per store batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		QuerySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_query_seconds", Help: "Time to answer one search.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		Detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detections_total", Help: "Sigma rule matches, by level.",
		}, []string{"level"}),
		Suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detections_suppressed_total", Help: "Detections a suppression kept from alerting.",
		}),
		DetectionsShed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detections_shed_total", Help: "Detections shed because the alert queue was full (their events are stored).",
		}),
		DetectionsNotDurable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detections_not_durable_total", Help: "Detections queued for the alert writer without their record in the hand-off journal (it failed: a crash before they are committed loses them).",
		}),
		AlertIndexEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_alert_index_evicted_total", Help: "Open alerts dropped from the in-memory dedup index to stay within its bound.",
		}),
		RiskIndexEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_risk_index_evicted_total", Help: "Entity risk scores dropped from the in-memory index to stay within its bound (they are read back from the table).",
		}),
	}
	r.MustRegister(m.EventsIn, m.RejectedMsgs, m.ParseErrors, m.Stored, m.Dropped,
		m.BatchSeconds, m.BatchEvents, m.QuerySeconds, m.Detections, m.Suppressed, m.DetectionsShed, m.DetectionsNotDurable, m.AlertIndexEvicted, m.RiskIndexEvicted)
	return m
}

// Received implements ingest.Stats.
func (m *Metrics) Received(input string, n int) { m.EventsIn.WithLabelValues(input).Add(float64(n)) }

// Rejected implements ingest.Stats.
func (m *Metrics) Rejected(input, reason string, n int) {
	m.RejectedMsgs.WithLabelValues(input, reason).Add(float64(n))
}

// GaugeFunc registers a gauge whose value is read from fn at scrape time.
// CounterFunc registers a counter read from fn (a count kept elsewhere,
// such as the correlation state's evictions).
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}
