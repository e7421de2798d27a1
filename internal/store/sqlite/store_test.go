package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

func mustParse(t testing.TB, s string) *query.Query {
	t.Helper()
	q, err := query.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return q
}

func total(t testing.TB, db *DB, qs string) int64 {
	t.Helper()
	res, err := db.Search(context.Background(), store.SearchRequest{Query: mustParse(t, qs)})
	if err != nil {
		t.Fatalf("search %q: %v", qs, err)
	}
	return res.Total
}

// TestInjection stores hostile values in every position and searches for
// them: results are exact and the database is intact.
func TestInjection(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	huge := strings.Repeat("A'\"%_;", 10_000)
	hostile := []string{
		`'; DROP TABLE events; --`, `%`, `_`, `"`, "a\x00b", `\`, `' OR '1'='1`, `") OR 1=1 --`,
		`%' OR 1 --`, `]]; SELECT * FROM sqlite_master`, huge,
	}
	fields := []string{"user.name", "source.ip", "custom.f", `weird'name"; DROP TABLE blocks; --`}
	var evs []*event.Event
	for i, v := range hostile {
		for _, f := range fields {
			ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Second), Raw: v, Input: v, Tags: []string{v}}
			ev.Set(f, event.String(v))
			ev.Set(event.FieldMessage, event.String("msg "+v))
			evs = append(evs, ev)
		}
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for i, v := range hostile {
		for _, f := range fields {
			q := &query.Query{Filter: &query.Term{Field: f, Op: query.OpEq, Value: v}}
			res, err := db.Search(ctx, store.SearchRequest{Query: q})
			if err != nil {
				t.Fatalf("value %d field %q: %v", i, f, err)
			}
			// Values equal ASCII-case-insensitively count too.
			var want int64
			for j, w := range hostile {
				if strings.EqualFold(w, v) {
					_ = j
					want++
				}
			}
			if res.Total != want {
				t.Errorf("value %d field %q: got %d, want %d", i, f, res.Total, want)
			}
		}
		// In the query's text, too.
		q := &query.Query{Filter: &query.Term{Op: query.OpPhrase, Value: v}}
		if _, err := db.Search(ctx, store.SearchRequest{Query: q}); err != nil {
			t.Fatalf("phrase %d: %v", i, err)
		}
		q = &query.Query{Pipes: []query.Pipe{&query.Stats{Aggs: []query.Agg{{Func: "count"}}, By: []string{v}}}}
		if _, err := db.Search(ctx, store.SearchRequest{Query: q}); err != nil {
			t.Fatalf("stats by %d: %v", i, err)
		}
		q = &query.Query{Pipes: []query.Pipe{&query.Sort{Keys: []query.SortKey{{Field: v}}}}}
		if _, err := db.Search(ctx, store.SearchRequest{Query: q}); err != nil {
			t.Fatalf("sort by %d: %v", i, err)
		}
	}
	if got, want := total(t, db, ""), int64(len(evs)); got != want {
		t.Errorf("events after hostile searches: got %d, want %d", got, want)
	}
	res, err := db.Search(ctx, store.SearchRequest{Query: &query.Query{Filter: &query.Term{Field: "user.name", Op: query.OpEq, Value: huge}}})
	if err != nil || res.Total != 1 || res.Events[0].Event.Str("user.name") != huge {
		t.Errorf("huge value: got %v, %v", res, err)
	}
}

func TestCloseReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(3, t0, time.Minute)
	for i := 0; i < 5; i++ {
		if err := db.Append(ctx, g.batch(700)); err != nil {
			t.Fatal(err)
		}
	}
	want := total(t, db, "event.dataset:sshd")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, g.batch(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("append after close: got %v, want ErrClosed", err)
	}
	db, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := total(t, db, ""); got != 3500 {
		t.Errorf("events after reopen: got %d, want 3500", got)
	}
	if got := total(t, db, "event.dataset:sshd"); got != want {
		t.Errorf("sshd events after reopen: got %d, want %d", got, want)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 3500 || st.Partitions != 4 || st.Bytes == 0 {
		t.Errorf("stats: got %+v, want 3500 events in 4 partitions", st)
	}
	// Appending continues the same segments.
	if err := db.Append(ctx, g.batch(100)); err != nil {
		t.Fatal(err)
	}
	if got := total(t, db, ""); got != 3600 {
		t.Errorf("events after more appends: got %d, want 3600", got)
	}
}

// TestKillDurability runs a child that appends and reports each batch that
// Append acknowledged, then kills it with SIGKILL: every acknowledged event
// is there after reopening.
func TestKillDurability(t *testing.T) {
	if dir := os.Getenv("VIGIL_STORE_KILL_CHILD"); dir != "" {
		killChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDurability$")
	cmd.Env = append(os.Environ(), "VIGIL_STORE_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1<<16)
	acked := 0
	deadline := time.Now().Add(30 * time.Second)
	for acked < 20 && time.Now().Before(deadline) {
		chunk := make([]byte, 4096)
		n, err := out.Read(chunk)
		buf = append(buf, chunk[:n]...)
		acked = strings.Count(string(buf), "acked\n")
		if err != nil {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// Batches acknowledged after our last read count too: read the rest.
	rest := make([]byte, 1<<16)
	for {
		n, err := out.Read(rest)
		buf = append(buf, rest[:n]...)
		if err != nil {
			break
		}
	}
	acked = strings.Count(string(buf), "acked\n")
	if acked == 0 {
		t.Fatalf("child acknowledged nothing: %q", buf)
	}
	db, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := total(t, db, "")
	if got < int64(acked*500) {
		t.Errorf("events after kill: got %d, want at least %d acknowledged", got, acked*500)
	}
}

func killChild(dir string) {
	ctx := context.Background()
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	g := newGen(9, t0, time.Second)
	for i := 0; ; i++ {
		if err := db.Append(ctx, g.batch(500)); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		fmt.Print("acked\n")
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	t.Run("age", func(t *testing.T) {
		db := openTest(t, Options{MaxAge: 48 * time.Hour, Now: func() time.Time { return now }, RetentionInterval: time.Hour})
		for d := 0; d < 5; d++ {
			g := newGen(uint64(d), now.Add(-time.Duration(d)*24*time.Hour), time.Second)
			if err := db.Append(ctx, g.batch(300)); err != nil {
				t.Fatal(err)
			}
		}
		dropped, err := db.ApplyRetention(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Days ending at or before now-48h: 11-18, 11-19 (end 11-20 00:00 <= 11-20 12:00).
		if got, want := strings.Join(dropped, ","), "2026-11-18,2026-11-19"; got != want {
			t.Errorf("dropped: got %s, want %s", got, want)
		}
		if got := total(t, db, ""); got != 900 {
			t.Errorf("events left: got %d, want 900", got)
		}
		if _, err := os.Stat(filepath.Join(db.Dir(), "events", "2026-11-18")); !os.IsNotExist(err) {
			t.Errorf("dropped partition still on disk: %v", err)
		}
	})
	t.Run("size", func(t *testing.T) {
		db := openTest(t, Options{Now: func() time.Time { return now }, RetentionInterval: time.Hour})
		for d := 0; d < 4; d++ {
			g := newGen(uint64(d), now.Add(-time.Duration(d)*24*time.Hour), time.Second)
			if err := db.Append(ctx, g.batch(2000)); err != nil {
				t.Fatal(err)
			}
		}
		st, err := db.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		limit := st.Bytes * 6 / 10
		if err := db.SetRetention(0, limit); err != nil {
			t.Fatal(err)
		}
		dropped, err := db.ApplyRetention(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(dropped, ","), "2026-11-19,2026-11-20"; got != want {
			t.Errorf("dropped: got %s, want %s", got, want)
		}
		st2, _ := db.Stats(ctx)
		if st2.Bytes > limit || st2.Partitions != 2 || st2.Events != 4000 {
			t.Errorf("after size retention: got %+v, want <= %d bytes, 2 partitions, 4000 events", st2, limit)
		}
	})
}

func TestConcurrentAppendSearch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{MaxWriters: 3, BlockRows: 128})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGen(uint64(w), t0.Add(time.Duration(w)*30*time.Hour), 7*time.Second)
			for i := 0; i < 10; i++ {
				if err := db.Append(ctx, g.batch(300)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				for _, qs := range []string{"user.name:alice", "| stats count() by source.ip", "password"} {
					if _, err := db.Search(ctx, store.SearchRequest{Query: mustParse(t, qs)}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if got := total(t, db, ""); got != 9000 {
		t.Errorf("events: got %d, want 9000", got)
	}
}

func TestBadRequests(t *testing.T) {
	db := openTest(t, Options{})
	for _, req := range []store.SearchRequest{
		{Limit: -1}, {Offset: -5}, {Limit: store.MaxLimit + 1}, {Limit: store.MaxLimit, Offset: 1},
		{Query: &query.Query{Pipes: []query.Pipe{
			&query.Stats{Aggs: []query.Agg{{Func: "count"}}, By: []string{"a"}},
			&query.Sort{Keys: []query.SortKey{{Field: "b"}}},
		}}},
	} {
		if err := db.Append(context.Background(), newGen(1, t0, time.Second).batch(3)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Search(context.Background(), req); !errors.Is(err, store.ErrBadRequest) {
			t.Errorf("%+v: got %v, want ErrBadRequest", req, err)
		}
	}
}

func TestEventsPaging(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{BlockRows: 16})
	g := newGen(2, t0, 10*time.Minute) // spans 3 days: merges across partitions
	evs := g.batch(500)
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for off := 0; off < 500; off += 70 {
		res, err := db.Search(ctx, store.SearchRequest{Limit: 70, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 500 {
			t.Fatalf("total: got %d, want 500", res.Total)
		}
		for _, h := range res.Events {
			got = append(got, h.Event.Timestamp().Format(time.RFC3339Nano))
		}
	}
	for i := range got {
		if want := evs[len(evs)-1-i].Timestamp().Format(time.RFC3339Nano); got[i] != want {
			t.Fatalf("event %d: got %s, want %s", i, got[i], want)
		}
	}
	// Sort by a field, ascending, with fields.
	res, err := db.Search(ctx, store.SearchRequest{Query: mustParse(t, "http.response.body.bytes:* | sort http.response.body.bytes | fields http.response.body.bytes | limit 5")})
	if err != nil {
		t.Fatal(err)
	}
	prev := -1.0
	for _, h := range res.Events {
		v, _ := h.Event.GetName("http.response.body.bytes")
		if v.Num < prev || len(h.Event.Fields) != 1 {
			t.Fatalf("sorted events: %s after %v", h.Event.AppendJSON(nil), prev)
		}
		prev = v.Num
	}
	if len(res.Events) != 5 || strconv.Itoa(len(res.Columns)) != "1" {
		t.Errorf("got %d events, columns %v; want 5, [http.response.body.bytes]", len(res.Events), res.Columns)
	}
}

func TestFarTimes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	times := []time.Time{
		time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1500, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	var evs []*event.Event
	for _, tm := range times {
		evs = append(evs, &event.Event{Time: tm, Raw: "far"})
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if got := total(t, db, "far"); got != 5 {
		t.Errorf("far events: got %d, want 5", got)
	}
	res, err := db.Search(ctx, store.SearchRequest{From: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || res.Total != 1 || !res.Events[0].Event.Time.Equal(times[3]) {
		t.Errorf("year 3000: got %+v, %v", res, err)
	}
	st, _ := db.Stats(ctx)
	if st.Partitions != 5 {
		t.Errorf("partitions: got %d, want 5", st.Partitions)
	}
}

// TestWALBounded appends continuously and checks that the write-ahead log
// is reset rather than growing with the data.
func TestWALBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 300,000 events")
	}
	ctx := context.Background()
	db := openTest(t, Options{Shards: 1})
	g := newGen(4, t0, time.Millisecond)
	var wal string
	for i := 0; i < 300; i++ {
		if err := db.Append(ctx, g.batch(1000)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			db.mu.RLock()
			for _, d := range db.days {
				wal = d.segs[0].path + "-wal"
			}
			db.mu.RUnlock()
		}
	}
	fi, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	db.mu.RLock()
	var path string
	for _, d := range db.days {
		path = d.segs[0].path
	}
	db.mu.RUnlock()
	data, _ := os.Stat(path)
	if fi.Size() > 96<<20 || fi.Size() > data.Size() {
		t.Errorf("WAL is %d bytes for a %d-byte database: want it reset and bounded", fi.Size(), data.Size())
	}
}

// TestConcurrentMaintenance appends over many days with few writer slots
// (evictions), while sealing, searching and retention run: no deadlock,
// no lost event, and dropping a day under searches is safe.
func TestConcurrentMaintenance(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(10 * 24 * time.Hour)
	db := openTest(t, Options{MaxWriters: 2, BlockRows: 50, Now: func() time.Time { return now }})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGen(uint64(w+10), t0.Add(time.Duration(w)*24*time.Hour), 3*time.Minute)
			for i := 0; i < 8; i++ {
				if err := db.Append(ctx, g.batch(400)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Flush(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, qs := range []string{"", "user.name:root", "| stats count() by source.ip", "| timechart span=1h count()"} {
				if _, err := db.Search(ctx, store.SearchRequest{Query: mustParse(t, qs)}); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	if got := total(t, db, ""); got != 3*8*400 {
		t.Errorf("events: got %d, want %d", got, 3*8*400)
	}
	// Drop the oldest days while searches run.
	if err := db.SetRetention(8*24*time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	var sg sync.WaitGroup
	for r := 0; r < 2; r++ {
		sg.Add(1)
		go func() {
			defer sg.Done()
			for i := 0; i < 5; i++ {
				if _, err := db.Search(ctx, store.SearchRequest{Query: mustParse(t, "password")}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	dropped, err := db.ApplyRetention(ctx)
	sg.Wait()
	if err != nil || len(dropped) == 0 {
		t.Fatalf("retention: dropped %v, %v", dropped, err)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := total(t, db, ""); got != st.Events {
		t.Errorf("events after retention: search says %d, stats %d", got, st.Events)
	}
}
