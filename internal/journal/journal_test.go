package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type rec struct {
	seq uint64
	b   string
}

func replayAll(t *testing.T, j *Journal, after uint64) ([]rec, error) {
	t.Helper()
	var got []rec
	err := j.Replay(after, func(seq uint64, b []byte) error {
		got = append(got, rec{seq, string(b)})
		return nil
	})
	return got, err
}

func mustOpen(t *testing.T, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func appendN(t *testing.T, j *Journal, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := j.Append([]byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoundTripAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	if _, err := replayAll(t, j, 0); err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 1, 5)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 6, 2)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = mustOpen(t, dir, Options{})
	got, err := replayAll(t, j, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []rec{{4, "record 4"}, {5, "record 5"}, {6, "record 6"}, {7, "record 7"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replay after 3: got %v, want %v", got, want)
	}
	if seq, _ := j.Append([]byte("x")); seq != 8 {
		t.Fatalf("numbering after reopen: got %d, want 8", seq)
	}
	j.Close()
}

func TestUnsyncedRecordsAreNotOnDisk(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	appendN(t, j, 1, 3)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 4, 3) // never synced: the process "dies" here
	got, err := replayAll(t, mustOpen(t, dir, Options{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].seq != 3 {
		t.Fatalf("after a crash: got %v, want records 1-3", got)
	}
}

func TestReplayAheadOfDisk(t *testing.T) {
	// The consumer committed record 10 (its database is ahead of what
	// this journal holds, say the journal directory was emptied): new
	// records must number after it, never reuse a committed number.
	j := mustOpen(t, t.TempDir(), Options{})
	if _, err := replayAll(t, j, 10); err != nil {
		t.Fatal(err)
	}
	if seq, _ := j.Append([]byte("x")); seq != 11 {
		t.Fatalf("got %d, want 11", seq)
	}
}

func TestRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{SegmentSize: 200})
	for i := 1; i <= 20; i++ {
		appendN(t, j, i, 1)
		if err := j.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	segs := j.Segments()
	if segs < 3 {
		t.Fatalf("got %d segments for 20 records of ~25 bytes at 200 bytes each, want several", segs)
	}
	if err := j.Release(12); err != nil {
		t.Fatal(err)
	}
	got, err := replayAll(t, mustOpen(t, dir, Options{}), 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 || got[0].seq != 13 {
		t.Fatalf("after releasing 12: got %v, want records 13-20", got)
	}
	// Everything committed: only the active segment is left.
	if err := j.Release(20); err != nil {
		t.Fatal(err)
	}
	if n := j.Segments(); n != 1 {
		t.Fatalf("after releasing all: %d segments, want 1 (the active one)", n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	if len(files) != 1 {
		t.Fatalf("files left: %v", files)
	}
	j.Close()
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	appendN(t, j, 1, 4)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	fi, _ := os.Stat(files[0])
	if err := os.Truncate(files[0], fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, Options{})
	got, err := replayAll(t, j, 0)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got error %v, want ErrCorrupt", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %v, want the 3 intact records", got)
	}
	if seq, _ := j.Append([]byte("x")); seq != 4 {
		t.Fatalf("next after a torn record 4: got %d, want 4", seq)
	}
	if err := j.Sync(); err != nil {
		t.Fatalf("writing after a torn segment: %v", err)
	}
}

func TestDamagedRecordStopsItsSegment(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	appendN(t, j, 1, 3)
	j.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	b, _ := os.ReadFile(files[0])
	i := bytes.Index(b, []byte("record 2"))
	b[i] ^= 0xff
	os.WriteFile(files[0], b, 0o640)
	got, err := replayAll(t, mustOpen(t, dir, Options{}), 0)
	if !errors.Is(err, ErrCorrupt) || len(got) != 1 {
		t.Fatalf("got %v, %v; want record 1 and ErrCorrupt", got, err)
	}
}

func TestEmptySegmentRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, fmt.Sprintf("%020d%s", 5, ext))
	if err := os.WriteFile(path, []byte(magic), 0o640); err != nil {
		t.Fatal(err)
	}
	j := mustOpen(t, dir, Options{})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty segment left: %v", err)
	}
	if seq, _ := j.Append([]byte("x")); seq != 5 {
		t.Fatalf("got %d, want 5", seq)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestTooLarge(t *testing.T) {
	j := mustOpen(t, t.TempDir(), Options{})
	if _, err := j.Append(make([]byte, MaxRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestWriteFailureFailsTheJournal(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{})
	appendN(t, j, 1, 1)
	// A directory where the segment file must go makes the write fail.
	if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("%020d%s", 1, ext)), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(); err == nil {
		t.Fatal("Sync succeeded; want an error")
	}
	if _, err := j.Append([]byte("y")); err == nil {
		t.Fatal("Append after a failed write succeeded; want the error")
	}
}

func TestConcurrentAppendAndSync(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, Options{SegmentSize: 4096})
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := j.Append([]byte(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := j.Sync(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := replayAll(t, mustOpen(t, dir, Options{}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("got %d records, want %d", len(got), writers*each)
	}
	for i, r := range got {
		if r.seq != uint64(i+1) {
			t.Fatalf("record %d has number %d", i, r.seq)
		}
	}
}

// FuzzRead feeds arbitrary segment bytes to the reader: it must not panic,
// must deliver numbers in increasing order, and must not deliver more
// payload than the input holds.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	j, _ := Open(dir, Options{})
	for i := range 3 {
		j.Append([]byte(fmt.Sprintf("seed %d", i)))
	}
	j.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	seed, _ := os.ReadFile(files[0])
	f.Add(seed)
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var prev uint64
		total := 0
		read(bytes.NewReader(b), "fuzz", 0, func(seq uint64, p []byte) error {
			if seq <= prev {
				t.Fatalf("number %d after %d", seq, prev)
			}
			prev = seq
			total += len(p)
			return nil
		})
		if total > len(b) {
			t.Fatalf("delivered %d payload bytes from %d", total, len(b))
		}
	})
}

// BenchmarkAppendSync appends detection-sized records and syncs every
// 64, as the pipeline does per stored batch.
func BenchmarkAppendSync(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := bytes.Repeat([]byte("x"), 600)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for i := 0; b.Loop(); i++ {
		if _, err := j.Append(rec); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			if err := j.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
