package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// BenchmarkAppend measures durable appends of realistic events (sshd,
// nginx and JSON application events, about 15 fields each) in batches of
// 1024, Bloom filters for text search included. It reports wall-clock
// events/s and the CPU time the process spent per event (user + system,
// all goroutines), which is what the ingest budget is about on a shared
// machine.
func BenchmarkAppend(b *testing.B) {
	for _, shards := range []int{1, 2} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, b.TempDir(), Options{Shards: shards})
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
			start, cpu0 := time.Now(), sharedtest.ProcessCPU()
			n := 0
			for b.Loop() {
				if err := db.Append(ctx, batches[n%len(batches)]); err != nil {
					b.Fatal(err)
				}
				n++
			}
			events := float64(n * batch)
			b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64((sharedtest.ProcessCPU()-cpu0).Microseconds())/events, "cpu-µs/event")
		})
	}
}

// BenchmarkTextIndex compares the cost per event of the store's text
// index (the block Bloom filter, built in Go) with inserting the same full
// text into a contentless FTS5 table: the reason the store does not use
// FTS5 on the ingest path.
func BenchmarkTextIndex(b *testing.B) {
	g := newGen(1, t0, time.Millisecond)
	evs := g.batch(4096)
	b.Run("bloom", func(b *testing.B) {
		bl := make([]byte, bloomBytes)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			bloomEvent(bl, evs[n%len(evs)])
			n++
		}
	})
	b.Run("fts5", func(b *testing.B) {
		db, err := sql.Open("sqlite", dsn(b.TempDir()+"/fts.db", 32<<10, segmentPageSize, false))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize='ascii')"); err != nil {
			b.Fatal(err)
		}
		texts := make([]string, len(evs))
		for i, ev := range evs {
			query.FullText(ev, func(s string) bool { texts[i] += s + " "; return true })
		}
		b.ReportAllocs()
		n := 0
		var tx *sql.Tx
		var st *sql.Stmt
		for b.Loop() {
			if n%1024 == 0 {
				if tx != nil {
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				tx, _ = db.Begin()
				st, err = tx.Prepare("INSERT INTO t(rowid, x) VALUES(?, ?)")
				if err != nil {
					b.Fatal(err)
				}
			}
			if _, err := st.Exec(n+1, texts[n%len(texts)]); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if tx != nil {
			tx.Commit()
		}
	})
}

// BenchmarkBloomEvent measures adding one event's tokens and field=value
// pairs to a block filter, which every stored event costs.
func BenchmarkBloomEvent(b *testing.B) {
	evs := newGen(3, t0, time.Second).batch(1024)
	filter := make([]byte, bloomBytes)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bloomEvent(filter, evs[i%len(evs)])
		i++
	}
}
