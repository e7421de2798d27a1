package anomaly

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// BenchmarkFirstSeen feeds one million distinct entities (users, each
// with a process) through a first_seen rule per loop, with the entity
// bound at the default (100,000) and at a million, and reports the heap
// each held entity costs, the peak heap and the events per second:
//
//	go test -run X -bench FirstSeen -benchmem -benchtime 3x ./internal/anomaly/
func BenchmarkFirstSeen(b *testing.B) {
	const distinct = 1_000_000
	names := make([]string, distinct)
	for i := range names {
		names[i] = fmt.Sprintf("user%07d", i)
	}
	for _, bound := range []int{DefaultMaxEntities, distinct} {
		b.Run(fmt.Sprintf("max_entities=%d", bound), func(b *testing.B) {
			rules, err := Parse([]byte(procRule), "bench.yml")
			if err != nil {
				b.Fatal(err)
			}
			e, err := New(rules, &countRecorder{}, Options{MaxEntities: bound})
			if err != nil {
				b.Fatal(err)
			}
			ev := &event.Event{Time: monthStart}
			ev.SetString("event.category", "process")
			ev.SetString("user.name", "x")
			ev.SetString("process.name", "bash")
			user := &ev.Fields[1].Value
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			var peak uint64
			start := time.Now()
			events := 0
			for b.Loop() {
				for i, n := range names {
					*user = event.String(n)
					e.Detect(ev)
					if i%100_000 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapAlloc)
					}
				}
				events += distinct
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			held := e.Stats().Entities
			b.ReportMetric(float64(ms.HeapAlloc-base)/float64(held), "bytes/entity")
			b.ReportMetric(float64(held), "entities")
			b.ReportMetric(float64(peak-base)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
			runtime.KeepAlive(e)
		})
	}
}

type countRecorder struct{ n int }

func (c *countRecorder) Record(detect.Detection) { c.n++ }
