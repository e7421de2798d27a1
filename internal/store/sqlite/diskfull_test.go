package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

// fillSegments makes the segment writers opened from now on "full" (their
// files may not grow past pages pages of 64 KiB) when match accepts the
// path; nil clears it.
func fillSegments(t *testing.T, pages int, match func(path string) bool) {
	t.Helper()
	if match == nil {
		writerDSNHook = nil
		return
	}
	writerDSNHook = func(path string) string {
		if match(path) {
			return "&_pragma=max_page_count(" + strconv.Itoa(pages) + ")"
		}
		return ""
	}
	t.Cleanup(func() { writerDSNHook = nil })
}

func storedAll(t *testing.T, db *DB) int64 {
	t.Helper()
	res, err := db.Search(context.Background(), store.SearchRequest{Limit: 1})
	if err != nil {
		t.Fatalf("search while the disk is full: %v", err)
	}
	return res.Total
}

// TestAppendAllOrNothingWhenFull: with one shard's file full, every
// append of one day's events either stores all of them or, with an error
// saying the disk is full, none: never the part that fitted in another
// shard's file. Searches keep working, and the retry once there is room
// stores each event once.
func TestAppendAllOrNothingWhenFull(t *testing.T) {
	for _, shards := range []int{1, 2, 4} {
		t.Run("shards="+strconv.Itoa(shards), func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, t.TempDir(), Options{Shards: shards})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			g := newGen(1, t0, time.Millisecond)
			want := int64(0)
			// Shard 0's files (the only shard when shards=1) cannot grow
			// past 8 pages.
			fillSegments(t, 8, func(p string) bool { return strings.HasPrefix(filepath.Base(p), "0-") })
			var refused []*event.Event
			for range 2 * shards {
				batch := g.batch(2048)
				err := db.Append(ctx, batch)
				if err == nil {
					want += int64(len(batch))
				} else {
					if !errors.Is(err, store.ErrDiskFull) {
						t.Fatalf("append to a full file: got %v, want ErrDiskFull", err)
					}
					var pe *store.PartialError
					if errors.As(err, &pe) {
						t.Fatalf("one day's append reported a partial store: %v", err)
					}
					refused = append(refused, batch...)
				}
				if got := storedAll(t, db); got != want {
					t.Fatalf("events after an append (err %v): got %d, want %d: all of a batch or none", err, got, want)
				}
			}
			if len(refused) == 0 {
				t.Fatal("no append reached the full shard")
			}
			fillSegments(t, 0, nil)
			if err := db.Append(ctx, refused); err != nil {
				t.Fatalf("retry with room: %v", err)
			}
			if got, want := storedAll(t, db), want+int64(len(refused)); got != want {
				t.Fatalf("events after the retry: got %d, want %d (each once)", got, want)
			}
		})
	}
}

// TestAppendPartialAcrossDays: when one day's file is full and another's
// is not, the append stores the good day and reports exactly the other
// day's events as unstored; retrying those stores each event once.
func TestAppendPartialAcrossDays(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir(), Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fullDay := t0.Add(48 * time.Hour)
	fillSegments(t, 8, func(p string) bool { return strings.Contains(p, fullDay.Format(dayLayout)) })
	good := newGen(1, t0, time.Millisecond).batch(3000)
	bad := newGen(2, fullDay, time.Millisecond).batch(3000)
	var mixed []*event.Event
	for i := range good {
		mixed = append(mixed, good[i], bad[i])
	}
	err = db.Append(ctx, mixed)
	var pe *store.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("append with one full day: got %v, want a *store.PartialError", err)
	}
	if !errors.Is(err, store.ErrDiskFull) {
		t.Errorf("partial error %v does not wrap ErrDiskFull", err)
	}
	if len(pe.Unstored) != len(bad) {
		t.Fatalf("unstored: got %d events, want %d (the full day's)", len(pe.Unstored), len(bad))
	}
	for i, ev := range pe.Unstored {
		if ev != bad[i] {
			t.Fatalf("unstored[%d] is not the full day's event %d in order", i, i)
		}
	}
	if got, want := storedAll(t, db), int64(len(good)); got != want {
		t.Fatalf("events stored: got %d, want %d", got, want)
	}
	fillSegments(t, 0, nil)
	if err := db.Append(ctx, pe.Unstored); err != nil {
		t.Fatalf("retry of the unstored events: %v", err)
	}
	if got, want := storedAll(t, db), int64(len(good)+len(bad)); got != want {
		t.Fatalf("events after the retry: got %d, want %d (each once)", got, want)
	}
}

// TestFailedSegmentIsNotListed: a segment whose file cannot be set up (the
// disk filled up as it was created) leaves no file behind and no entry
// that searches would trip over.
func TestFailedSegmentIsNotListed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fillSegments(t, 1, func(string) bool { return true }) // not even the schema fits
	err = db.Append(ctx, newGen(1, t0, time.Millisecond).batch(10))
	if !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("append: got %v, want ErrDiskFull", err)
	}
	if got := storedAll(t, db); got != 0 {
		t.Errorf("events: got %d, want 0", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "events", "*", "*"))
	if len(files) != 0 {
		t.Errorf("files left by the failed segment: %v", files)
	}
}

// TestSearchSkipsEmptySegmentFile: an empty segment file (a crash right
// after its creation) is searched without error: read connections do not
// try to set the journal mode, which would write.
func TestSearchSkipsEmptySegmentFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := filepath.Join(dir, "events", t0.Format(dayLayout))
	if err := os.MkdirAll(day, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(day, "0-000000.db"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	// Read-only, as a full disk is to a writer.
	if err := os.Chmod(filepath.Join(day, "0-000000.db"), 0o440); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := storedAll(t, db); got != 0 {
		t.Errorf("events: got %d, want 0", got)
	}
}

func TestDiskFullClassification(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"sqlite full", codedErr(13), true},
		{"sqlite full, extended", codedErr(13 | 1<<8), true},
		{"sqlite busy", codedErr(5), false},
		{"enospc", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, true},
		{"edquot", &os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, true},
		{"other", errors.New("boom"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errors.Is(diskFull(tt.err), store.ErrDiskFull); got != tt.want {
				t.Errorf("diskFull(%v) wraps ErrDiskFull: got %v, want %v", tt.err, got, tt.want)
			}
			if tt.err != nil && !errors.Is(diskFull(tt.err), tt.err) {
				t.Errorf("diskFull(%v) lost the original error", tt.err)
			}
		})
	}
}

type codedErr int

func (e codedErr) Error() string { return "sqlite error " + strconv.Itoa(int(e)) }
func (e codedErr) Code() int     { return int(e) }

func TestProbe(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Probe(ctx); err != nil {
		t.Fatalf("Probe on a writable store: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "events", ".probe-*")); len(left) != 0 {
		t.Errorf("probe files left: %v", left)
	}
	if err := os.RemoveAll(filepath.Join(dir, "events")); err != nil {
		t.Fatal(err)
	}
	if err := db.Probe(ctx); err == nil || errors.Is(err, store.ErrDiskFull) {
		t.Errorf("Probe without its directory: got %v, want an error that is not ErrDiskFull", err)
	}
}
