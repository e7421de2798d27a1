package notify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the Notifier's delivery counters, by route id.
type counters struct {
	done     *prometheus.CounterVec // notifications delivered or dead
	failures *prometheus.CounterVec // failed delivery attempts
	outbox   *prometheus.Desc       // outbox rows by state, read at scrape
}

func newCounters() *counters {
	return &counters{
		done: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_notifications_total",
			Help: "Notifications that left the outbox, by route id and final state (delivered or dead).",
		}, []string{"route", "state"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_attempt_failures_total",
			Help: "Failed delivery attempts (each is retried or ends dead), by route id.",
		}, []string{"route"}),
		outbox: prometheus.NewDesc("vigil_notify_outbox_rows",
			"Outbox rows by state (pending, delivered, dead); delivered and dead while retained.",
			[]string{"state"}, nil),
	}
}

var _ prometheus.Collector = (*Notifier)(nil)

// Describe implements prometheus.Collector, so the server can register the
// Notifier in its registry.
func (n *Notifier) Describe(ch chan<- *prometheus.Desc) {
	n.metrics.done.Describe(ch)
	n.metrics.failures.Describe(ch)
	ch <- n.metrics.outbox
}

// Collect implements prometheus.Collector.
func (n *Notifier) Collect(ch chan<- prometheus.Metric) {
	n.metrics.done.Collect(ch)
	n.metrics.failures.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := n.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(n.metrics.outbox, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(n.metrics.outbox, prometheus.GaugeValue, float64(st.Pending), statePending)
	ch <- prometheus.MustNewConstMetric(n.metrics.outbox, prometheus.GaugeValue, float64(st.Delivered), stateDelivered)
	ch <- prometheus.MustNewConstMetric(n.metrics.outbox, prometheus.GaugeValue, float64(st.Dead), stateDead)
}
