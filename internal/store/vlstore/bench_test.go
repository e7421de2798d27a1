package vlstore

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// benchEvents is the number of events the query benchmarks search.
var benchEvents = flag.Int("vlstore.events", 200_000, "events the query benchmarks store in each engine")

// engines opens each engine under comparison in its own directory.
var engines = []struct {
	name string
	open func(tb testing.TB) store.Store
}{
	{"sqlite", func(tb testing.TB) store.Store {
		db, err := sqlite.Open(context.Background(), tb.TempDir(), sqlite.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		return db
	}},
	{"victorialogs", func(tb testing.TB) store.Store {
		db, err := Open(context.Background(), tb.TempDir(), Options{})
		if err != nil {
			tb.Fatal(err)
		}
		return db
	}},
}

// benchStart places the generated events within the default retention.
var benchStart = time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)

// BenchmarkAppend measures durable appends of realistic events in batches
// of 1024 on both engines: wall-clock ns per event and the process's CPU
// time per event (user + system, every goroutine, the engine's included).
func BenchmarkAppend(b *testing.B) {
	for _, e := range engines {
		b.Run("engine="+e.name, func(b *testing.B) {
			st := e.open(b)
			defer st.Close()
			g := storetest.NewGen(1, benchStart, time.Millisecond)
			const batch = 1024
			batches := make([][]*event.Event, 64)
			for i := range batches {
				batches[i] = g.Batch(batch)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), sharedtest.ProcessCPU()
			n := 0
			for i := 0; b.Loop(); i++ {
				if err := st.Append(ctx, batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.StopTimer()
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/event")
			b.ReportMetric(float64((sharedtest.ProcessCPU()-cpu0).Nanoseconds())/float64(n), "cpu-ns/event")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkQuery runs the questions on both engines over the same
// events: a count of a full-text term, a count by host, a count by a
// high-cardinality field (trace.id: one value per application event) and
// a needle (one trace.id).
func BenchmarkQuery(b *testing.B) {
	g := storetest.NewGen(7, benchStart, time.Millisecond)
	evs := g.Batch(*benchEvents)
	needle := ""
	for _, ev := range evs[len(evs)/2:] {
		if s := ev.Str("trace.id"); s != "" {
			needle = s
			break
		}
	}
	queries := []struct{ name, q string }{
		{"term", `password | stats count()`},
		{"by-host", `| stats count() by host.name`},
		{"by-trace", `| stats count() by trace.id`},
		{"needle", `trace.id:` + needle},
	}
	for _, e := range engines {
		b.Run("engine="+e.name, func(b *testing.B) {
			st := e.open(b)
			defer st.Close()
			ctx := context.Background()
			for i := 0; i < len(evs); i += 4096 {
				if err := st.Append(ctx, evs[i:min(i+4096, len(evs))]); err != nil {
					b.Fatal(err)
				}
			}
			for _, q := range queries {
				pq, err := query.Parse(q.q)
				if err != nil {
					b.Fatal(err)
				}
				b.Run("q="+q.name, func(b *testing.B) {
					for b.Loop() {
						res, err := st.Search(ctx, store.SearchRequest{Query: pq, MaxBytes: -1})
						if err != nil {
							b.Fatal(err)
						}
						if res.Total == 0 {
							b.Fatalf("%s: no events", q.q)
						}
					}
				})
			}
			if s, err := st.Stats(ctx); err == nil {
				b.Logf("%s: %d events, %d bytes on disk (%.1f bytes/event)", e.name, s.Events, s.Bytes, float64(s.Bytes)/float64(max(s.Events, 1)))
			}
		})
	}
}
