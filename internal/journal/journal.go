// Package journal is a durable queue of records on disk, numbered in
// order: the hand-off between a producer that must never wait (the
// pipeline's detection) and a consumer that commits in batches (the alert
// writer), so that a crash between the two loses nothing.
//
// The producer appends records to a buffer in memory (Append never touches
// the disk) and makes them durable with Sync, which writes and fsyncs what
// is buffered: concurrent Syncs share one write and fsync. The pipeline
// syncs before it stores a batch of events, so every stored event's
// detections are on disk. The consumer records the number of the last
// record it committed together with what it committed (in its own
// database transaction), and tells the journal with Release, which
// deletes the segment files holding only committed records. At start,
// Replay hands back the records after the committed number.
//
// A journal is a directory of segment files, each named by the number of
// its first record ("00000000000000000001.journal"), each a magic line and
// then records:
//
//	"VIGILJOURNAL1\n"
//	record: uint32 LE payload length | uint32 LE CRC-32C of (seq, payload) | uint64 LE seq | payload
//
// A reader keeps every record before a torn or damaged one: a crash during
// a write loses at most the records of that write, none of which the
// producer was told are durable.
package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	magic     = "VIGILJOURNAL1\n"
	ext       = ".journal"
	headerLen = 16
)

// MaxRecord bounds one record's payload.
const MaxRecord = 16 << 20

// maxSpare bounds the buffer a journal keeps between syncs.
const maxSpare = 4 << 20

// DefaultSegmentSize is the size past which Sync starts a new segment file.
const DefaultSegmentSize = 8 << 20

// ErrTooLarge is returned by Append for a payload over MaxRecord.
var ErrTooLarge = errors.New("journal record too large")

// ErrCorrupt reports a segment that could not be read to its end; the
// records before the damage are still delivered.
var ErrCorrupt = errors.New("corrupt journal segment")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a journal.
type Options struct {
	// SegmentSize is the size past which a new segment file is started
	// (default DefaultSegmentSize).
	SegmentSize int64
}

type segment struct {
	first uint64 // number in the file name
	last  uint64 // last record written (first-1 while empty)
	path  string
}

// Journal is one directory's queue. It is safe for concurrent use.
type Journal struct {
	dir  string
	opts Options

	mu  sync.Mutex
	buf []byte // records appended and not yet synced
	// spare is the buffer the last Sync wrote, kept for the next appends
	// so that a steady flow of records allocates nothing.
	spare []byte
	next  uint64 // number of the next record
	err   error  // a write error: the journal stays failed (see Sync)

	syncMu   sync.Mutex // held by one Sync's write and fsync
	f        *os.File   // active segment, opened by the first Sync
	fsize    int64
	segs     []segment // closed and active segments, oldest first
	released uint64
}

// Open opens (creating it if needed) the journal in dir. Records already
// there are read by Replay; Append numbers new records after them.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("opening journal %q: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening journal %q: %w", dir, err)
	}
	j := &Journal{dir: dir, opts: opts, next: 1}
	for _, de := range ents {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, ext) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
		if err != nil || first == 0 {
			continue
		}
		j.segs = append(j.segs, segment{first: first, last: first - 1, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(j.segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	keep := j.segs[:0]
	for _, s := range j.segs {
		last, _ := scan(s.path, 0, nil)
		if last < s.first {
			// No record reached it intact (a crash between creating it
			// and the first fsync): nothing in it was ever durable.
			if err := os.Remove(s.path); err != nil {
				return nil, fmt.Errorf("opening journal %q: %w", dir, err)
			}
			j.next = max(j.next, s.first)
			continue
		}
		s.last = last
		j.next = max(j.next, s.last+1)
		keep = append(keep, s)
	}
	j.segs = keep
	return j, nil
}

// Next returns the number the next appended record will get.
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

// Replay calls fn, in order, for every record on disk numbered after
// after (rec is valid only during the call), and makes later appends number after after too (the consumer's
// committed number may be ahead of what reached the disk). Call it before
// the first Append. A damaged segment ends its own replay with an error
// wrapping ErrCorrupt, after its good records; the later segments are
// still replayed.
func (j *Journal) Replay(after uint64, fn func(seq uint64, rec []byte) error) error {
	j.mu.Lock()
	j.next = max(j.next, after+1)
	j.mu.Unlock()
	var errs []error
	for _, s := range j.segs {
		if s.last <= after {
			continue
		}
		_, err := scan(s.path, after, fn)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Append numbers rec and buffers it; it is durable after the next Sync.
// rec is copied.
func (j *Journal) Append(rec []byte) (uint64, error) {
	if len(rec) > MaxRecord {
		return 0, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(rec), MaxRecord)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	seq := j.next
	j.next++
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(rec)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	crc := crc32.Update(0, castagnoli, h[8:16])
	binary.LittleEndian.PutUint32(h[4:], crc32.Update(crc, castagnoli, rec))
	j.buf = append(j.buf, h[:]...)
	j.buf = append(j.buf, rec...)
	return seq, nil
}

// Pending reports whether records wait for a Sync.
func (j *Journal) Pending() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.buf) > 0
}

// Sync writes the buffered records and fsyncs them. After a write error
// the journal is failed: Append and Sync return the error from then on
// (the records buffered since are not durable, and the caller counts them
// as such).
func (j *Journal) Sync() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	buf, err := j.buf, j.err
	next := j.next
	j.buf, j.spare = j.spare, nil
	j.mu.Unlock()
	if err != nil {
		return err
	}
	if len(buf) == 0 {
		return nil
	}
	defer func() {
		if cap(buf) <= maxSpare {
			j.mu.Lock()
			j.spare = buf[:0]
			j.mu.Unlock()
		}
	}()
	if err := j.write(buf, next); err != nil {
		err = fmt.Errorf("writing journal %q: %w", j.dir, err)
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		return err
	}
	return nil
}

// write appends buf (whole records, the last numbered next-1) to the
// active segment, starting one when there is none or it is full
// (syncMu held).
func (j *Journal) write(buf []byte, next uint64) error {
	if j.f != nil && j.fsize >= j.opts.SegmentSize {
		if err := j.f.Close(); err != nil {
			return err
		}
		j.f = nil
	}
	if j.f == nil {
		first := binary.LittleEndian.Uint64(buf[8:16])
		path := filepath.Join(j.dir, fmt.Sprintf("%020d%s", first, ext))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(magic); err != nil {
			f.Close()
			return err
		}
		if err := syncDir(j.dir); err != nil {
			f.Close()
			return err
		}
		j.f, j.fsize = f, int64(len(magic))
		j.mu.Lock()
		j.segs = append(j.segs, segment{first: first, last: first - 1, path: path})
		j.mu.Unlock()
	}
	if _, err := j.f.Write(buf); err != nil {
		return err
	}
	j.fsize += int64(len(buf))
	if err := j.f.Sync(); err != nil {
		return err
	}
	j.mu.Lock()
	j.segs[len(j.segs)-1].last = next - 1
	j.mu.Unlock()
	return nil
}

// Release tells the journal that the records up to and including upTo
// are committed: segment files holding only such records, other than the
// one being written, are deleted.
func (j *Journal) Release(upTo uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.released = max(j.released, upTo)
	keep := j.segs[:0]
	var errs []error
	for i, s := range j.segs {
		active := j.f != nil && i == len(j.segs)-1
		if !active && s.last <= j.released {
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				keep = append(keep, s)
			}
			continue
		}
		keep = append(keep, s)
	}
	clear(j.segs[len(keep):])
	j.segs = keep
	return errors.Join(errs...)
}

// Segments returns how many segment files the journal holds.
func (j *Journal) Segments() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.segs)
}

// Close syncs what is buffered and closes the active segment.
func (j *Journal) Close() error {
	err := j.Sync()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.f != nil {
		err = errors.Join(err, j.f.Close())
		j.f = nil
	}
	return err
}

// scan reads the segment at path, calling fn (if not nil) for each record
// numbered after after, and returns the number of the last good record (0
// if none).
func scan(path string, after uint64, fn func(uint64, []byte) error) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading journal segment: %w", err)
	}
	defer f.Close()
	return read(bufio.NewReaderSize(f, 64<<10), path, after, fn)
}

// read decodes a segment from r (see scan).
func read(r io.Reader, name string, after uint64, fn func(uint64, []byte) error) (uint64, error) {
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != magic {
		return 0, fmt.Errorf("%w %s: no journal header", ErrCorrupt, name)
	}
	var last uint64
	var h [headerLen]byte
	var payload []byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if err == io.EOF {
				return last, nil
			}
			return last, fmt.Errorf("%w %s: record %d: torn header", ErrCorrupt, name, n)
		}
		size := binary.LittleEndian.Uint32(h[0:])
		seq := binary.LittleEndian.Uint64(h[8:])
		if size > MaxRecord {
			return last, fmt.Errorf("%w %s: record %d: length %d", ErrCorrupt, name, n, size)
		}
		// Grow with what is actually read, never by the length field
		// alone.
		payload = payload[:0]
		got, err := io.Copy(sliceWriter{&payload}, io.LimitReader(r, int64(size)))
		if err != nil || got != int64(size) {
			return last, fmt.Errorf("%w %s: record %d: torn payload", ErrCorrupt, name, n)
		}
		crc := crc32.Update(0, castagnoli, h[8:16])
		if crc32.Update(crc, castagnoli, payload) != binary.LittleEndian.Uint32(h[4:]) {
			return last, fmt.Errorf("%w %s: record %d: checksum mismatch", ErrCorrupt, name, n)
		}
		if seq <= last {
			return last, fmt.Errorf("%w %s: record %d: number %d after %d", ErrCorrupt, name, n, seq, last)
		}
		last = seq
		if fn != nil && seq > after {
			if err := fn(seq, payload); err != nil {
				return last, err
			}
		}
	}
}

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// syncDir fsyncs a directory so that a file created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
