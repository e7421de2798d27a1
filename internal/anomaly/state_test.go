package anomaly

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		kind string
		en   *entity
	}{
		{KindFirstSeen, &entity{first: 1700000000, values: []uint64{1, 5, 1 << 63}}},
		{KindFirstSeen, &entity{first: 1}},
		{KindRare, &entity{first: 2, rare: []rareVal{{h: 3, epoch: 4, cur: 5, prev: 6, alerted: 5}, {h: 9}}}},
		{KindSpike, &entity{first: 3, spike: &spikeBase{firstHour: 100, hour: 500, count: 7, alerted: true,
			buckets: []hourBucket{{how: 0, sum: 3, sq: 9}, {how: 167, sum: 1.5, sq: 2.25}}}}},
		{KindImpossibleTravel, &entity{first: 4, travel: &place{t: 1700000000, lat: -33.8688, lon: 151.2093}}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			b := encodeEntity(tt.en, tt.kind)
			got, err := decodeEntity(b, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.en, got, cmp.AllowUnexported(entity{}, rareVal{}, spikeBase{}, hourBucket{}, place{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			for _, other := range []string{KindFirstSeen, KindRare, KindSpike, KindImpossibleTravel} {
				if other == tt.kind {
					continue
				}
				if _, err := decodeEntity(b, other); err == nil {
					t.Errorf("decoded as %s: got no error", other)
				}
			}
			for n := range len(b) {
				if _, err := decodeEntity(b[:n], tt.kind); err == nil && n < len(b) {
					t.Errorf("cut to %d of %d bytes: got no error", n, len(b))
				}
			}
		})
	}
	// Unsorted hashes would break the binary search.
	bad := encodeEntity(&entity{values: []uint64{5, 1}}, KindFirstSeen)
	if _, err := decodeEntity(bad, KindFirstSeen); err == nil {
		t.Error("unsorted values: got no error")
	}
}

func TestPersist(t *testing.T) { metatest.Engines(t, testPersist) }

func testPersist(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	day := 24 * time.Hour

	a := newTestEngine(t, procRule, Options{})
	a.feed(monthStart, "event.category", "process", "user.name", "alice", "process.name", "bash")
	a.feed(monthStart.Add(time.Hour), "event.category", "process", "user.name", "alice", "process.name", "vim")
	if err := a.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != 1 {
		t.Fatalf("rows: got %d, want 1", got)
	}

	// A restart: the baseline and the rule's start come back.
	b := newTestEngine(t, procRule, Options{})
	if err := b.Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		proc string
		want int
	}{{"bash", 0}, {"vim", 0}, {"nc", 1}}
	for _, s := range steps {
		if got := b.feed(monthStart.Add(2*day), "event.category", "process", "user.name", "alice", "process.name", s.proc); got != s.want {
			t.Errorf("after reload, %s: got %d detections, want %d", s.proc, got, s.want)
		}
	}

	// Flushes write what changed; a failed one is retried.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b.feed(monthStart.Add(2*day), "event.category", "process", "user.name", "bob", "process.name", "sh")
	if err := b.Flush(cctx, db); err == nil {
		t.Fatal("flush with a cancelled context: got no error")
	}
	if err := b.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != 2 {
		t.Errorf("rows after the retried flush: got %d, want 2", got)
	}
}

func TestPersistBounds(t *testing.T) { metatest.Engines(t, testPersistBounds) }

func testPersistBounds(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	a := newTestEngine(t, procRule, Options{MaxEntities: 4})
	for i := range 6 {
		a.feed(monthStart.Add(time.Duration(i)*time.Minute), "event.category", "process", "user.name", fmt.Sprint("u", i), "process.name", "sh")
		if i == 2 {
			// u0..u2 are written, then u0 and u1 evicted: their rows go.
			if err := a.Flush(ctx, db); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != 4 {
		t.Fatalf("rows: got %d, want 4 (evicted entities deleted)", got)
	}
	// A smaller bound at the next start loads the most recent entities.
	b := newTestEngine(t, procRule, Options{MaxEntities: 2})
	if err := b.Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Entities; got != 2 {
		t.Fatalf("entities loaded: got %d, want 2", got)
	}
	for _, u := range []struct {
		name string
		want int
	}{{"u5", 1}, {"u4", 1}} {
		if got := b.feed(monthStart.Add(72*time.Hour), "event.category", "process", "user.name", u.name, "process.name", "nc"); got != u.want {
			t.Errorf("%s: got %d detections, want %d", u.name, got, u.want)
		}
	}
	if got := b.Stats().Evicted; got != 0 {
		t.Errorf("evicted: got %d, want 0 (the two loaded are the two fed)", got)
	}
}

func TestPrune(t *testing.T) { metatest.Engines(t, testPrune) }

func testPrune(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	a := newTestEngine(t, procRule, Options{})
	a.feed(monthStart, "event.category", "process", "user.name", "alice", "process.name", "bash")
	if err := a.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	// The same id watching another field is another baseline.
	changed := strings.Replace(procRule, "fields: [process.name]", "fields: [process.executable]", 1)
	b := newTestEngine(t, changed, Options{})
	if err := b.Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Entities; got != 0 {
		t.Errorf("entities of a changed rule: got %d, want 0", got)
	}
	if err := b.Prune(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != 0 {
		t.Errorf("rows after pruning: got %d, want 0", got)
	}
}

func TestPersister(t *testing.T) { metatest.Engines(t, testPersister) }

func testPersister(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	a := newTestEngine(t, procRule, Options{})
	if _, err := Persist(ctx, a.Engine, db, 0, slog.Default()); err == nil {
		t.Error("interval 0: got no error")
	}
	p, err := Persist(ctx, a.Engine, db, time.Hour, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	a.feed(monthStart, "event.category", "process", "user.name", "alice", "process.name", "bash")
	if got := countRows(t, db); got != 0 {
		t.Fatalf("rows before Close: got %d, want 0", got)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != 1 {
		t.Errorf("rows after Close: got %d, want 1", got)
	}
}

func countRows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM anomaly_state`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFlushBatches(t *testing.T) { metatest.Engines(t, testFlushBatches) }

// testFlushBatches writes more rows than one statement and one transaction
// hold, then deletes more than one statement holds.
func testFlushBatches(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	const n = flushBatch + rowsPerStatement + 1
	a := newTestEngine(t, procRule, Options{MaxEntities: n})
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			a.feed(monthStart, "event.category", "process", "user.name", fmt.Sprint("u", i), "process.name", "sh")
		}
	}
	feed(0, n)
	if err := a.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != n {
		t.Fatalf("rows: got %d, want %d", got, n)
	}
	evict := rowsPerStatement + 10
	feed(n, n+evict)
	if err := a.Flush(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db); got != n {
		t.Errorf("rows after %d evictions and as many new entities: got %d, want %d", evict, got, n)
	}
	b := newTestEngine(t, procRule, Options{MaxEntities: n})
	if err := b.Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	// The first evict users went; u<evict> onwards are known.
	for _, tc := range []struct {
		user string
		want int
	}{{"u0", 0}, {fmt.Sprint("u", evict), 1}, {fmt.Sprint("u", n+evict-1), 1}} {
		if got := b.feed(monthStart.Add(72*time.Hour), "event.category", "process", "user.name", tc.user, "process.name", "nc"); got != tc.want {
			t.Errorf("%s: got %d detections, want %d", tc.user, got, tc.want)
		}
	}
}
