package hunt

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// BenchResult is the outcome of BenchEngine.
type BenchResult struct {
	Events     int64
	Detections int64
	Elapsed    time.Duration
	Workers    int
}

// Rate is events per second.
func (r BenchResult) Rate() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// BenchEngine runs events through m again and again on workers goroutines
// for about d, and counts what it did. The events are parsed beforehand, so
// this measures the engine alone.
func BenchEngine(ctx context.Context, m Matcher, evs []*event.Event, workers int, d time.Duration) BenchResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var events, dets atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n, k int64
			count := func(detect.Detection) { k++ }
			for i := w * len(evs) / workers; !stop.Load(); i++ {
				if i >= len(evs) {
					i = 0
				}
				m.Match(evs[i], count)
				n++
				if n&1023 == 0 && ctx.Err() != nil {
					break
				}
			}
			events.Add(n)
			dets.Add(k)
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	return BenchResult{Events: events.Load(), Detections: dets.Load(), Elapsed: time.Since(start), Workers: workers}
}
