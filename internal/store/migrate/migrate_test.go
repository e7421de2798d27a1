package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/storetest"
	"github.com/vigilsec/vigil/internal/store/vlstore"
)

// sqliteDir writes n generated events over about three days, plus one
// event too far in the future for the victorialogs engine, into a new
// data directory with a row in its metadata database.
func sqliteDir(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen := storetest.NewGen(3, time.Now().UTC().Add(-70*time.Hour), 70*time.Hour/time.Duration(n))
	for left := n; left > 0; left -= 500 {
		if err := db.Append(ctx, gen.Batch(min(left, 500))); err != nil {
			t.Fatal(err)
		}
	}
	future := &event.Event{Time: time.Now().UTC().Add(72 * time.Hour)}
	future.SetString("message", "clock skew on the sender")
	if err := db.Append(ctx, []*event.Event{future}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Meta().ExecContext(ctx, `CREATE TABLE marker (v TEXT); INSERT INTO marker VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// search runs q over all time in the victorialogs store in dir.
func search(t *testing.T, dir, q string) *store.Result {
	t.Helper()
	ctx := context.Background()
	vl, err := vlstore.Open(ctx, dir, vlstore.Options{Retention: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer vl.Close()
	pq, err := query.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	r, err := vl.Search(ctx, store.SearchRequest{Query: pq, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMigrateInPlace(t *testing.T) {
	const n = 5000
	dir := sqliteDir(t, n)
	var calls int
	res, err := Run(context.Background(), dir, "", Options{Batch: 700, Progress: func(Progress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != n || res.Refused != 1 || res.Total != n+1 || res.Stored != n {
		t.Errorf("got copied %d refused %d total %d stored %d, want %d, 1, %d, %d", res.Copied, res.Refused, res.Total, res.Stored, n, n+1, n)
	}
	if len(res.RefusedSample) != 1 {
		t.Errorf("refused sample %q, want the future event", res.RefusedSample)
	}
	if calls < n/700 {
		t.Errorf("progress called %d times, want one per batch", calls)
	}
	if res.Moved != filepath.Join(dir, MigratedDir) {
		t.Errorf("moved to %q", res.Moved)
	}
	if _, err := os.Stat(filepath.Join(dir, "events")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("events/ still there after an in-place migration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after a complete migration: %v", err)
	}
	if r := search(t, dir, "*"); r.Total != n {
		t.Errorf("victorialogs holds %d events, want %d", r.Total, n)
	}
}

// A migration interrupted after some batches resumes where it stopped:
// every event once.
func TestMigrateResumes(t *testing.T) {
	const n = 3000
	dir := sqliteDir(t, n)
	to := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Run(ctx, dir, to, Options{Batch: 500, Progress: func(p Progress) {
		if p.Copied >= 1000 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(to, StateFile)); err != nil {
		t.Fatalf("no state file after an interrupted run: %v", err)
	}
	res, err := Run(context.Background(), dir, to, Options{Batch: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Copied != n || res.Stored != n {
		t.Errorf("resumed run: got resumed %v copied %d stored %d, want true, %d, %d", res.Resumed, res.Copied, res.Stored, n, n)
	}
	if res.Moved != "" {
		t.Errorf("a migration into another directory moved the source to %q", res.Moved)
	}
	if _, err := os.Stat(filepath.Join(dir, "events")); err != nil {
		t.Errorf("source events touched: %v", err)
	}
	if r := search(t, to, "*"); r.Total != n {
		t.Errorf("victorialogs holds %d events, want %d", r.Total, n)
	}
	meta, err := sqlite.OpenMeta(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	var v string
	if err := meta.QueryRow(`SELECT v FROM marker`).Scan(&v); err != nil || v != "kept" {
		t.Errorf("metadata copied: got %q, %v; want the source's row", v, err)
	}
}

func TestMigrateRefuses(t *testing.T) {
	if _, err := Run(context.Background(), t.TempDir(), "", Options{}); err == nil {
		t.Error("a directory without sqlite events: got no error")
	}
	dir := sqliteDir(t, 10)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, StateFile), []byte(`{"from":"/elsewhere"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), dir, other, Options{}); err == nil {
		t.Error("destination with another source's unfinished migration: got no error")
	}
}
