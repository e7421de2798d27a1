package web

import (
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

type inputRow struct {
	Name        string
	Addr        string
	Received    float64
	Rate        float64
	HasRate     bool
	ParseErrors float64
	Rejected    float64
}

type reasonCount struct {
	Input, Reason string
	Count         float64
}

type sourcesData struct {
	Inputs     []inputRow
	Rejected   []reasonCount
	Dropped    []reasonCount
	Stored     float64
	StoreRate  float64
	HasRate    bool
	QueueDepth int
	QueueSize  int
	Stats      store.Stats
	Retention  string
}

// inputRates keeps one rate sampler per input.
type inputRates struct {
	mu sync.Mutex
	m  map[string]*rateSampler
}

func (ir *inputRates) get(name string) *rateSampler {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if ir.m == nil {
		ir.m = map[string]*rateSampler{}
	}
	s := ir.m[name]
	if s == nil {
		s = &rateSampler{}
		ir.m[name] = s
	}
	return s
}

func (c *Console) sources(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	now := c.o.Now()
	mfs := c.gather()
	d := sourcesData{Retention: c.o.Retention}
	var err error
	if d.Stats, err = c.o.Store.Stats(r.Context()); err != nil {
		c.fail(w, err)
		return
	}
	rows := map[string]*inputRow{}
	row := func(name string) *inputRow {
		if rows[name] == nil {
			rows[name] = &inputRow{Name: name}
		}
		return rows[name]
	}
	for _, in := range c.o.Inputs {
		row(in.Name).Addr = in.Addr
	}
	for _, m := range metricSeries(mfs, "vigil_events_received_total") {
		row(m.Labels["input"]).Received += m.Value
	}
	for _, m := range metricSeries(mfs, "vigil_parse_errors_total") {
		row(m.Labels["input"]).ParseErrors += m.Value
	}
	for _, m := range metricSeries(mfs, "vigil_events_rejected_total") {
		row(m.Labels["input"]).Rejected += m.Value
		d.Rejected = append(d.Rejected, reasonCount{Input: m.Labels["input"], Reason: m.Labels["reason"], Count: m.Value})
	}
	for _, m := range metricSeries(mfs, "vigil_events_dropped_total") {
		d.Dropped = append(d.Dropped, reasonCount{Reason: m.Labels["reason"], Count: m.Value})
	}
	for name, ir := range rows {
		ir.Rate, ir.HasRate = c.inputRates.get(name).observe(now, ir.Received)
		d.Inputs = append(d.Inputs, *ir)
	}
	sort.Slice(d.Inputs, func(i, j int) bool { return d.Inputs[i].Name < d.Inputs[j].Name })
	d.Stored = counterTotal(mfs, "vigil_events_stored_total")
	d.StoreRate, d.HasRate = c.rate.observe(now, d.Stored)
	if c.o.Pipeline != nil {
		d.QueueDepth, d.QueueSize = c.o.Pipeline.QueueDepth(), c.o.Pipeline.QueueSize()
	}
	c.show(w, r, s, "sources", "Sources", d, start)
}
