package web

import (
	"sort"

	dto "github.com/prometheus/client_model/go"
)

// gather reads the server's Prometheus registry.
func (c *Console) gather() []*dto.MetricFamily {
	if c.o.Metrics == nil {
		return nil
	}
	mfs, err := c.o.Metrics.Registry.Gather()
	if err != nil {
		c.o.Log.Warn("gathering metrics", "err", err)
	}
	return mfs
}

// counterTotal sums every series of a counter or gauge.
func counterTotal(mfs []*dto.MetricFamily, name string) float64 {
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += metricValue(m)
		}
	}
	return sum
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// labelled is one series of a metric family: its labels and value.
type labelled struct {
	Labels map[string]string
	Value  float64
}

// series returns every series of a metric family, sorted by labels.
func metricSeries(mfs []*dto.MetricFamily, name string) []labelled {
	var out []labelled
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labelled{Labels: map[string]string{}, Value: metricValue(m)}
			for _, lp := range m.GetLabel() {
				l.Labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labelKey(out[i].Labels) < labelKey(out[j].Labels) })
	return out
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += k + "=" + m[k] + ","
	}
	return s
}
