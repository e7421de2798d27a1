package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/store"
)

// The large data set: VIGIL_BENCH_EVENTS events (default 10,000,000)
// spread evenly over VIGIL_BENCH_SPREAD (default 168h, i.e. 7 days) ending
// at benchEnd, built once per process in a temporary directory, or under
// $VIGIL_BENCH_DIR and reused across runs. It is only built when a
// benchmark that needs it runs (go test -bench), never by go test alone.
var benchEnd = time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)

var (
	bigOnce sync.Once
	bigDB   *DB
	bigErr  error
	bigN    int
	bigSpan time.Duration
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func bigStore(b *testing.B) *DB {
	b.Helper()
	bigOnce.Do(func() {
		bigN = envInt("VIGIL_BENCH_EVENTS", 10_000_000)
		bigSpan = 168 * time.Hour
		if d, err := time.ParseDuration(os.Getenv("VIGIL_BENCH_SPREAD")); err == nil && d > 0 {
			bigSpan = d
		}
		dir := os.Getenv("VIGIL_BENCH_DIR")
		if dir == "" {
			dir, bigErr = os.MkdirTemp("", "vigil-bench-")
			if bigErr != nil {
				return
			}
		}
		dir = filepath.Join(dir, fmt.Sprintf("n%d-s%s", bigN, bigSpan))
		marker := filepath.Join(dir, "complete")
		ctx := context.Background()
		_, statErr := os.Stat(marker)
		bigDB, bigErr = Open(ctx, dir, Options{})
		if bigErr != nil {
			return
		}
		if statErr == nil {
			bigErr = bigDB.Flush(ctx) // seals what an interrupted run left
			return
		}
		start := time.Now()
		step := bigSpan / time.Duration(bigN)
		g := newGen(42, benchEnd.Add(-bigSpan), step)
		const batch = 4096
		for i := 0; i < bigN; i += batch {
			if bigErr = bigDB.Append(ctx, g.batch(min(batch, bigN-i))); bigErr != nil {
				return
			}
		}
		loaded := time.Since(start)
		if bigErr = bigDB.Flush(ctx); bigErr != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "bench data: %d events over %v in %s: appended in %v, sealed in %v\n",
			bigN, bigSpan, dir, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond))
		bigErr = os.WriteFile(marker, nil, 0o640)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDB
}

func benchSearch(b *testing.B, qs string, from, to time.Time) {
	db := bigStore(b)
	q, err := query.Parse(qs)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var res *store.Result
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, n := sharedtest.ProcessCPU(), 0
	for b.Loop() {
		res, err = db.Search(ctx, store.SearchRequest{Query: q, From: from, To: to})
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	// CPU time of the whole process per search: on an idle machine with
	// GOMAXPROCS cores the wall time approaches this divided by the cores.
	b.ReportMetric(float64((sharedtest.ProcessCPU()-cpu0).Milliseconds())/float64(n), "cpu-ms/op")
	b.ReportMetric(float64(res.Total), "matched")
	b.ReportMetric(float64(len(res.Rows)+len(res.Events)), "rows")
}

// BenchmarkStatsBySourceIP10M: stats count() by source.ip over the whole
// data set.
func BenchmarkStatsBySourceIP10M(b *testing.B) {
	benchSearch(b, "| stats count() by source.ip", time.Time{}, time.Time{})
}

// BenchmarkFieldEq1h10M: user.name:alice in one hour, newest 100 events
// and the exact total.
func BenchmarkFieldEq1h10M(b *testing.B) {
	bigStore(b)
	to := benchEnd.Add(-bigSpan / 2)
	benchSearch(b, "user.name:alice", to.Add(-time.Hour), to)
}

// BenchmarkFieldEqAll10M: user.name:alice over everything.
func BenchmarkFieldEqAll10M(b *testing.B) {
	benchSearch(b, "user.name:alice", time.Time{}, time.Time{})
}

// BenchmarkPhrase1h10M: a full-text phrase in one hour.
func BenchmarkPhrase1h10M(b *testing.B) {
	bigStore(b)
	to := benchEnd.Add(-bigSpan / 2)
	benchSearch(b, `"Failed password" root`, to.Add(-time.Hour), to)
}

// BenchmarkRareToken10M: a full-text word found in few blocks, over
// everything: the Bloom filters skip the rest.
func BenchmarkRareToken10M(b *testing.B) {
	benchSearch(b, `ffffffffffff0000`, time.Time{}, time.Time{})
}

// BenchmarkTimechart10M: timechart span=1h count() by event.dataset over
// everything.
func BenchmarkTimechart10M(b *testing.B) {
	benchSearch(b, "| timechart span=1h count() by event.dataset", time.Time{}, time.Time{})
}

// BenchmarkTimechartCount10M: timechart span=1h count() over everything,
// the search page's histogram: whole blocks are counted from their row
// counts.
func BenchmarkTimechartCount10M(b *testing.B) {
	benchSearch(b, "| timechart span=1h count()", time.Time{}, time.Time{})
}

// BenchmarkLatest10M: the empty query over everything: the newest 100
// events and the exact total, from block metadata.
func BenchmarkLatest10M(b *testing.B) {
	benchSearch(b, "", time.Time{}, time.Time{})
}

// BenchmarkIPEqAll10M: source.ip equality over everything: the Bloom
// filters keep the few blocks where the address occurs.
func BenchmarkIPEqAll10M(b *testing.B) {
	benchSearch(b, "source.ip:10.2.7.99", time.Time{}, time.Time{})
}
