package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// BenchmarkAppend measures durable appends of realistic events in batches
// of 1024 (what the pipeline hands the store), Bloom filters included.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	g := newGen(1, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), time.Millisecond)
	// Pre-generate so that the benchmark measures the store only.
	const batch = 1024
	batches := make([][]*event.Event, 64)
	for i := range batches {
		batches[i] = g.batch(batch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := db.Append(ctx, batches[n%len(batches)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*batch)/time.Since(start).Seconds(), "events/s")
}
