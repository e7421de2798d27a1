package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// distinctEvents returns n events over two days (so over two partitions),
// event i with source.ip 10.0.x.y, session.id s<i> (not promoted) and
// host.name h<i%7>.
func distinctEvents(n int) []*event.Event {
	out := make([]*event.Event, n)
	step := 48 * time.Hour / time.Duration(n)
	for i := range out {
		ts := t0.Add(time.Duration(i) * step)
		ev := &event.Event{Time: ts}
		ev.Set(event.FieldSourceIP, event.String(fmt.Sprintf("10.0.%d.%d", i>>8, i&0xff)))
		ev.Set("session.id", event.String(fmt.Sprintf("s%05d", i)))
		ev.Set(event.FieldHostName, event.String(fmt.Sprintf("h%d", i%7)))
		ev.Set(event.FieldMessage, event.String(fmt.Sprintf("session %d opened", i)))
		out[i] = ev
	}
	return out
}

func openDistinct(t *testing.T, n int, seal bool) *DB {
	t.Helper()
	db := openTest(t, Options{BlockRows: 64})
	ctx := context.Background()
	evs := distinctEvents(n)
	for i := 0; i < len(evs); i += 100 {
		if err := db.Append(ctx, evs[i:min(i+100, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	if seal {
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func wantLimit(t *testing.T, err error, sentinel error, limit int64) {
	t.Helper()
	le, ok := errors.AsType[*store.LimitError](err)
	if !ok || !errors.Is(err, sentinel) {
		t.Fatalf("got error %v, want a *store.LimitError wrapping %v", err, sentinel)
	}
	if le.Limit != limit {
		t.Errorf("got limit %d, want %d", le.Limit, limit)
	}
	if strings.Contains(err.Error(), "/") {
		t.Errorf("error %q names a path", err)
	}
}

// TestMaxGroups: every aggregation path stops past MaxGroups with a
// *store.LimitError, and answers at exactly MaxGroups.
func TestMaxGroups(t *testing.T) {
	const n = 300
	for _, seal := range []bool{false, true} {
		db := openDistinct(t, n, seal)
		tests := []struct {
			name   string
			q      string
			groups int
		}{
			{"promoted GROUP BY", "| stats count() by source.ip", n},
			{"promoted count(field)", "| stats count(session.id) by source.ip", n},
			{"document path", "| stats count() by session.id", n},
			{"document path, dc", "| stats dc(session.id) by host.name", 7},
			{"two fields", "| stats count() by host.name, session.id", n},
			{"timechart buckets", "| timechart span=1h count()", 48},
			{"timechart by promoted", "| timechart span=24h count() by source.ip", n},
			{"filtered", "source.ip:10.0.0.0/24 | stats count() by session.id", 256},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("sealed=%v/%s", seal, tt.name), func(t *testing.T) {
				q := mustParse(t, tt.q)
				res, err := db.Search(context.Background(), store.SearchRequest{Query: q, MaxGroups: tt.groups, Limit: store.MaxLimit})
				if err != nil {
					t.Fatalf("at the limit: %v", err)
				}
				if len(res.Rows) != tt.groups {
					t.Fatalf("got %d rows, want %d", len(res.Rows), tt.groups)
				}
				_, err = db.Search(context.Background(), store.SearchRequest{Query: q, MaxGroups: tt.groups - 1})
				wantLimit(t, err, store.ErrTooManyGroups, int64(tt.groups-1))
				if _, err := db.Search(context.Background(), store.SearchRequest{Query: q, MaxGroups: -1}); err != nil {
					t.Errorf("no bound: %v", err)
				}
			})
		}
	}
}

// TestMaxGroupsMerged: segments that each stay under the bound still fail
// when their groups together exceed it.
func TestMaxGroupsMerged(t *testing.T) {
	db := openDistinct(t, 200, true) // two days: about 100 groups each
	q := mustParse(t, "| stats count() by session.id")
	_, err := db.Search(context.Background(), store.SearchRequest{Query: q, MaxGroups: 150})
	wantLimit(t, err, store.ErrTooManyGroups, 150)
}

// TestDefaultBounds: a request that names no bound gets
// store.DefaultMaxGroups and store.DefaultMaxBytes (a million groups are
// too many to form in a unit test; TestMaxGroups* check the bound itself).
func TestDefaultBounds(t *testing.T) {
	b := newBudget(store.SearchRequest{})
	if b.maxGroups != store.DefaultMaxGroups || b.maxBytes != store.DefaultMaxBytes {
		t.Errorf("bounds of a request naming none: %d groups, %d bytes; want %d, %d", b.maxGroups, b.maxBytes, store.DefaultMaxGroups, store.DefaultMaxBytes)
	}
	if err := b.checkGroups(store.DefaultMaxGroups + 1); !errors.Is(err, store.ErrTooManyGroups) {
		t.Errorf("checkGroups(DefaultMaxGroups+1) = %v, want ErrTooManyGroups", err)
	}
}

// TestMemoryBudget: distinct sets, groups and buffered events are counted
// against MaxBytes.
func TestMemoryBudget(t *testing.T) {
	db := openDistinct(t, 2000, true)
	ctx := context.Background()
	tests := []struct {
		name  string
		q     string
		limit int
		small int64 // a budget too small
	}{
		{"distinct set of one group", "| stats dc(session.id)", 0, 32 << 10},
		{"groups", "| stats count() by session.id", 0, 64 << 10},
		{"events", "", 1000, 64 << 10},
		{"sorted events", "| sort session.id", 1000, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustParse(t, tt.q)
			_, err := db.Search(ctx, store.SearchRequest{Query: q, Limit: tt.limit, MaxBytes: tt.small})
			wantLimit(t, err, store.ErrMemoryBudget, tt.small)
			if !strings.Contains(err.Error(), "query memory budget exceeded (limit") {
				t.Errorf("error %q does not say what was exceeded", err)
			}
			if _, err := db.Search(ctx, store.SearchRequest{Query: q, Limit: tt.limit}); err != nil {
				t.Errorf("default budget: %v", err)
			}
			if _, err := db.Search(ctx, store.SearchRequest{Query: q, Limit: tt.limit, MaxBytes: -1}); err != nil {
				t.Errorf("no budget: %v", err)
			}
		})
	}
}

// TestBudgetGivenBack: trimmed candidates give their memory back, so a
// search over many segments needs a budget for one page, not one page per
// segment.
func TestBudgetGivenBack(t *testing.T) {
	db := openTest(t, Options{BlockRows: 16})
	ctx := context.Background()
	// 20 days, one segment each, 100 events a day.
	for d := 0; d < 20; d++ {
		var evs []*event.Event
		for i := 0; i < 100; i++ {
			ev := &event.Event{Time: t0.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*time.Minute)}
			ev.Set("n", event.Int(int64(d*100+i)))
			evs = append(evs, ev)
		}
		if err := db.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	b := newBudget(store.SearchRequest{MaxBytes: -1})
	sc := scan{db: db, comp: compileFilter(nil), lo: -1 << 63, hi: 1<<63 - 1}
	defer sc.comp.release()
	segs, err := db.segmentsFor(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cs := &candSet{need: 100, b: b}
	for _, s := range segs {
		var hs []hit
		var n int64
		if err := sc.readTx(ctx, s, func(tx *sql.Tx) error { return sc.newestAll(ctx, tx, s, 100, &n, &hs) }); err != nil {
			t.Fatal(err)
		}
		if err := cs.add(hs); err != nil {
			t.Fatal(err)
		}
	}
	page := cs.page(0, 100)
	if got, most := b.used.Load(), int64(100*candBytes); got > most {
		t.Errorf("candidates hold %d bytes after trimming, want at most %d", got, most)
	}
	for i := 1; i < len(page); i++ {
		if page[i].ts > page[i-1].ts {
			t.Fatalf("page not newest first at %d", i)
		}
	}
}

// TestSortedPagingEqualsRun: sorted event queries paged across partitions
// give the order query.Run gives.
func TestSortedPagingEqualsRun(t *testing.T) {
	db := openTest(t, Options{BlockRows: 16})
	ctx := context.Background()
	g := newGen(5, t0, 7*time.Minute) // spans 3 days
	evs := g.batch(600)
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, qs := range []string{
		"| sort user.name, -source.port",
		"| sort -@timestamp",
		"| sort @timestamp",
		"| sort http.response.status_code, message",
		"event.outcome:failure | sort -http.response.body.bytes",
	} {
		t.Run(qs, func(t *testing.T) {
			q := mustParse(t, qs)
			ref, err := query.Run(q, slices.Values(evs))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for off := 0; off < len(ref.Events); off += 90 {
				res, err := db.Search(ctx, store.SearchRequest{Query: q, Limit: 90, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				if res.Total != int64(len(ref.Events)) {
					t.Fatalf("total: got %d, want %d", res.Total, len(ref.Events))
				}
				for _, h := range res.Events {
					got = append(got, h.Event.Timestamp().Format(time.RFC3339Nano))
				}
			}
			if len(got) != len(ref.Events) {
				t.Fatalf("got %d events, want %d", len(got), len(ref.Events))
			}
			for i, ev := range ref.Events {
				if want := ev.Timestamp().Format(time.RFC3339Nano); got[i] != want {
					t.Fatalf("event %d: got %s, want %s", i, got[i], want)
				}
			}
		})
	}
}
