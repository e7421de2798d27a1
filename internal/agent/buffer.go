package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/journal"
)

// Buffer bounds.
const (
	// DefaultBufferSize is the disk buffer's default bound.
	DefaultBufferSize = 256 << 20
	// MinBufferSize is the smallest bound --buffer-size accepts.
	MinBufferSize = 1 << 20
	// maxSegment bounds one segment file of the buffer: a batch read
	// rescans at most one segment.
	maxSegment = 4 << 20
)

// bufferDir is the buffer's directory inside the data directory.
const bufferDir = "buffer"

// errStop ends a journal replay once a batch is full.
var errStop = errors.New("batch full")

// Buffer is the agent's disk buffer: every record is written and fsynced
// to it (a journal of numbered segment files in DATA/buffer) before it is
// sent, and released once the server acknowledged it, so that neither an
// agent restart nor a server outage loses records. The journal's record
// numbers are the records' sequence numbers: monotonic and kept across
// restarts. The buffer is bounded in bytes; past the bound the oldest
// segment is dropped and its unacknowledged records counted.
type Buffer struct {
	// mu serializes the journal's appends and syncs with its replays:
	// the journal reads its files during a replay, which must not run
	// beside a write.
	mu      sync.Mutex
	j       *journal.Journal
	dir     string
	max     int64
	acked   uint64 // highest sequence the server acknowledged
	dropped int64
	size    int64
}

// OpenBuffer opens (creating it) the buffer in dir, bounded to limit bytes
// (at least two segments of seg bytes; seg 0 derives it from limit).
func OpenBuffer(dir string, limit, seg int64) (*Buffer, error) {
	if seg <= 0 {
		seg = min(max(limit/8, 16<<10), maxSegment)
	}
	if limit < 2*seg {
		return nil, fmt.Errorf("buffer bound %d bytes: want at least %d", limit, 2*seg)
	}
	j, err := journal.Open(dir, journal.Options{SegmentSize: seg})
	if err != nil {
		return nil, fmt.Errorf("opening the buffer: %w", err)
	}
	b := &Buffer{j: j, dir: dir, max: limit}
	if _, err := b.segments(); err != nil {
		j.Close()
		return nil, err
	}
	return b, nil
}

// Close syncs and closes the buffer.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.j.Close()
}

// segment is one file of the journal, by the number of its first record.
type segment struct {
	first uint64
	size  int64
	path  string
}

// segments lists the journal's files, oldest first, and updates b.size
// (b.mu held, or before the buffer is shared).
func (b *Buffer) segments() ([]segment, error) {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("listing the buffer: %w", err)
	}
	var segs []segment
	var total int64
	for _, de := range ents {
		name := de.Name()
		first, err := strconv.ParseUint(strings.TrimSuffix(name, ".journal"), 10, 64)
		if !strings.HasSuffix(name, ".journal") || err != nil {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("listing the buffer: %w", err)
		}
		segs = append(segs, segment{first: first, size: fi.Size(), path: filepath.Join(b.dir, name)})
		total += fi.Size()
	}
	slices.SortFunc(segs, func(x, y segment) int {
		switch {
		case x.first < y.first:
			return -1
		case x.first > y.first:
			return 1
		}
		return 0
	})
	b.size = total
	return segs, nil
}

// Append writes recs durably and returns the sequence number of the last.
// When the buffer passes its bound, its oldest segments are dropped
// (their unacknowledged records counted in Dropped) until it is within
// the bound again or only the segment being written is left.
func (b *Buffer) Append(recs []agentwire.Record) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var last uint64
	for _, r := range recs {
		r.Seq = 0
		enc, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("encoding a record: %w", err)
		}
		if last, err = b.j.Append(enc); err != nil {
			return 0, fmt.Errorf("buffering a record: %w", err)
		}
	}
	if err := b.j.Sync(); err != nil {
		return 0, fmt.Errorf("buffering records: %w", err)
	}
	segs, err := b.segments()
	if err != nil {
		return last, err
	}
	for len(segs) > 1 && b.size > b.max {
		// Every record of the oldest segment is numbered before the next
		// segment's first.
		end := segs[1].first - 1
		if end > b.acked {
			b.dropped += int64(end - max(b.acked, segs[0].first-1))
			b.acked = end
		}
		if err := b.j.Release(end); err != nil {
			return last, fmt.Errorf("dropping the oldest records: %w", err)
		}
		b.size -= segs[0].size
		segs = segs[1:]
	}
	return last, nil
}

// Read returns the records numbered after after (and after the last
// acknowledged), in order: at most n records and about bytes bytes of
// lines (always at least one record when one waits).
func (b *Buffer) Read(after uint64, n, bytes int) ([]agentwire.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var recs []agentwire.Record
	size := 0
	err := b.j.Replay(max(after, b.acked), func(seq uint64, rec []byte) error {
		var r agentwire.Record
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("buffer record %d: %w", seq, err)
		}
		r.Seq = seq
		recs = append(recs, r)
		size += len(r.Line) + len(r.Path)
		if len(recs) >= n || size >= bytes {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return recs, err
	}
	return recs, nil
}

// Ack releases the records up to seq, which the server stored. The
// newest segment is always kept, so that the sequence numbers go on
// from it after a restart. A server that has stored records numbered
// beyond the buffer's (its data directory was replaced) makes the next
// records number after them, so that the server does not take them for
// resent ones.
func (b *Buffer) Ack(seq uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq >= b.j.Next() {
		if err := b.j.Replay(seq, func(uint64, []byte) error { return nil }); err != nil {
			return fmt.Errorf("renumbering the buffer: %w", err)
		}
	}
	if seq <= b.acked {
		return nil
	}
	b.acked = seq
	segs, err := b.segments()
	if err != nil || len(segs) == 0 {
		return err
	}
	if err := b.j.Release(min(seq, segs[len(segs)-1].first-1)); err != nil {
		return fmt.Errorf("releasing acknowledged records: %w", err)
	}
	_, err = b.segments()
	return err
}

// BufferStats is the buffer's health, reported in heartbeats.
type BufferStats struct {
	Bytes   int64
	Dropped int64
	// Acked is the highest sequence number the server acknowledged.
	Acked uint64
	// Pending counts the records not acknowledged.
	Pending uint64
	// Oldest is when the oldest record not acknowledged was read (zero
	// when none waits).
	Oldest time.Time
}

// Stats returns the buffer's health.
func (b *Buffer) Stats() BufferStats {
	recs, _ := b.Read(0, 1, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BufferStats{Bytes: b.size, Dropped: b.dropped, Acked: b.acked}
	if next := b.j.Next(); next > b.acked+1 {
		st.Pending = next - 1 - b.acked
	}
	if len(recs) > 0 {
		st.Oldest = time.Unix(0, recs[0].Time)
	}
	return st
}
