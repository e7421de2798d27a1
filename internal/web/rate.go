package web

import (
	"sync"
	"time"
)

// rateSampler turns a monotonically increasing counter into a rate: it
// keeps the samples taken when pages were shown during the last minute and
// measures against the oldest of them.
type rateSampler struct {
	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	t time.Time
	v float64
}

const rateWindow = time.Minute

// observe records v at t and returns the rate per second over the window,
// and false until two samples at least a second apart exist.
func (s *rateSampler) observe(t time.Time, v float64) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.samples)-1 && t.Sub(s.samples[i+1].t) >= rateWindow {
		i++
	}
	s.samples = s.samples[i:]
	if n := len(s.samples); n == 0 || t.Sub(s.samples[n-1].t) >= time.Second {
		if n >= 128 {
			s.samples = s.samples[1:]
		}
		s.samples = append(s.samples, rateSample{t, v})
	}
	first := s.samples[0]
	dt := t.Sub(first.t).Seconds()
	if dt < 1 || v < first.v {
		return 0, false
	}
	return (v - first.v) / dt, true
}
