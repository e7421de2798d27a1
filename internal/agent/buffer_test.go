package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
)

func recs(from, n int, size int) []agentwire.Record {
	var out []agentwire.Record
	for i := range n {
		line := fmt.Sprintf("line %d ", from+i)
		line += strings.Repeat("x", max(0, size-len(line)))
		out = append(out, agentwire.Record{Time: time.Now().UnixNano(), Path: "/var/log/t.log", Line: []byte(line)})
	}
	return out
}

func readAll(t *testing.T, b *Buffer, after uint64) []agentwire.Record {
	t.Helper()
	got, err := b.Read(after, 1<<30, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBufferRestart: records and their numbers survive a restart; a
// release keeps what is not acknowledged, and numbering goes on.
func TestBufferRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBuffer(dir, 1<<20, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	last, err := b.Append(recs(1, 300, 100))
	if err != nil {
		t.Fatal(err)
	}
	if last != 300 {
		t.Fatalf("got last sequence %d, want 300", last)
	}
	if err := b.Ack(120); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBuffer(dir, 1<<20, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := readAll(t, b, 120)
	if len(got) != 180 || got[0].Seq != 121 || string(got[0].Line[:9]) != "line 121 " || got[179].Seq != 300 {
		t.Fatalf("after a restart: got %d records from %d, want 180 from 121", len(got), got[0].Seq)
	}
	if last, err = b.Append(recs(301, 1, 10)); err != nil || last != 301 {
		t.Fatalf("got sequence %d, %v after a restart, want 301", last, err)
	}
	// All acknowledged, restarted again: numbering still goes on.
	if err := b.Ack(301); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = OpenBuffer(dir, 1<<20, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if last, err = b.Append(recs(302, 1, 10)); err != nil || last != 302 {
		t.Fatalf("got sequence %d, %v after everything was acknowledged and a restart, want 302", last, err)
	}
	b.Close()
}

// TestBufferBound: past its bound the buffer drops its oldest records,
// counts them, stays within the bound, and keeps the newest.
func TestBufferBound(t *testing.T) {
	dir := t.TempDir()
	const limit, seg = 64 << 10, 16 << 10
	b, err := OpenBuffer(dir, limit, seg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// 2,000 records of about 100 bytes: about 3 times the bound.
	for i := range 20 {
		if _, err := b.Append(recs(i*100+1, 100, 100)); err != nil {
			t.Fatal(err)
		}
		if st := b.Stats(); st.Bytes > limit {
			t.Fatalf("after %d records: got %d bytes buffered, want at most %d", (i+1)*100, st.Bytes, limit)
		}
	}
	st := b.Stats()
	got := readAll(t, b, 0)
	if st.Dropped == 0 {
		t.Fatal("got 0 dropped, want the oldest records dropped")
	}
	if int(st.Dropped)+len(got) != 2000 {
		t.Errorf("got %d dropped + %d kept, want 2000", st.Dropped, len(got))
	}
	if got[len(got)-1].Seq != 2000 || got[0].Seq != uint64(st.Dropped)+1 {
		t.Errorf("got records %d to %d kept, want the newest: %d to 2000", got[0].Seq, got[len(got)-1].Seq, st.Dropped+1)
	}
	if st.Pending != uint64(len(got)) {
		t.Errorf("got %d pending, want %d", st.Pending, len(got))
	}
	// Acknowledged records are not counted as dropped when their segment
	// goes.
	if err := b.Ack(2000); err != nil {
		t.Fatal(err)
	}
	before := b.Stats().Dropped
	for i := range 10 {
		if _, err := b.Append(recs(3000+i*100, 100, 100)); err != nil {
			t.Fatal(err)
		}
		if err := b.Ack(uint64(2000 + (i+1)*100)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Stats().Dropped; got != before {
		t.Errorf("got %d dropped after acknowledged records were released, want %d", got, before)
	}
}

func TestBufferRefusesSmallBound(t *testing.T) {
	if _, err := OpenBuffer(t.TempDir(), 16<<10, 16<<10); err == nil || !strings.Contains(err.Error(), "want at least") {
		t.Errorf("got %v, want the bound refused", err)
	}
}

// TestBufferServerAhead: a server that stored numbers beyond the buffer's
// (the data directory was replaced) makes the next records number after
// them.
func TestBufferServerAhead(t *testing.T) {
	b, err := OpenBuffer(t.TempDir(), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Append(recs(1, 3, 10)); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(500); err != nil {
		t.Fatal(err)
	}
	if last, err := b.Append(recs(4, 1, 10)); err != nil || last != 501 {
		t.Errorf("got sequence %d, %v, want 501", last, err)
	}
	if got := readAll(t, b, 0); len(got) != 1 || got[0].Seq != 501 {
		t.Errorf("got %d records pending, want only 501", len(got))
	}
}

func TestBufferReadBounds(t *testing.T) {
	b, err := OpenBuffer(t.TempDir(), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Append(recs(1, 50, 100))
	for _, tt := range []struct{ n, bytes, want int }{{10, 1 << 20, 10}, {100, 1 << 20, 50}, {100, 1000, 9}, {100, 1, 1}} {
		got, err := b.Read(0, tt.n, tt.bytes)
		if err != nil || len(got) != tt.want {
			t.Errorf("Read(0, %d, %d): got %d records, %v, want %d", tt.n, tt.bytes, len(got), err, tt.want)
		}
	}
}

// TestBufferLag: the oldest record not acknowledged gives the lag.
func TestBufferLag(t *testing.T) {
	b, err := OpenBuffer(t.TempDir(), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := b.Stats(); !st.Oldest.IsZero() || st.Pending != 0 {
		t.Errorf("empty buffer: got %+v, want nothing pending", st)
	}
	t0 := time.Unix(1_700_000_000, 0)
	b.Append([]agentwire.Record{{Time: t0.UnixNano(), Line: []byte("a")}, {Time: t0.Add(time.Minute).UnixNano(), Line: []byte("b")}})
	if st := b.Stats(); !st.Oldest.Equal(t0) || st.Pending != 2 {
		t.Errorf("got oldest %v, %d pending, want %v, 2", st.Oldest, st.Pending, t0)
	}
	b.Ack(1)
	if st := b.Stats(); !st.Oldest.Equal(t0.Add(time.Minute)) || st.Pending != 1 || st.Acked != 1 {
		t.Errorf("after ack 1: got oldest %v, %d pending, acked %d; want %v, 1, 1", st.Oldest, st.Pending, st.Acked, t0.Add(time.Minute))
	}
	b.Ack(2)
	if st := b.Stats(); !st.Oldest.IsZero() || st.Pending != 0 {
		t.Errorf("all acknowledged: got %+v, want nothing pending", st)
	}
}
