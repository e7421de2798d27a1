package pipeline

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// A spool file holds raw messages that the pipeline accepted but could not
// store before its shutdown deadline; the next start replays them.
//
// The format is a magic line and then records:
//
//	"VIGILSPOOL1\n"
//	record: uint32 LE payload length | uint32 LE CRC-32C of payload | payload
//
// and each payload is one JSON object (spoolRecord). A length and checksum
// per record let a reader keep every record before a torn or damaged one:
// a crash during the write loses at most the record being written, and
// only messages whose producers were not yet told they are durable.

// spoolMagic starts every spool file.
const spoolMagic = "VIGILSPOOL1\n"

// spoolExt names spool files; spoolCorruptExt is added to a file whose
// tail could not be read, once its good records are stored, so it is kept
// for inspection but not replayed again.
const (
	spoolExt        = ".spool"
	spoolCorruptExt = ".corrupt"
)

// maxSpoolRecord bounds a record's length field. The reader never
// allocates by the length field alone (it grows with the bytes actually
// read), so this only rejects lengths no writer produces.
const maxSpoolRecord = 1 << 30

// ErrCorruptSpool reports a spool file that cannot be read to its end. The
// records before the damage are still delivered.
var ErrCorruptSpool = errors.New("corrupt spool file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spoolRecord is one raw message on disk.
type spoolRecord struct {
	Data      []byte            `json:"data"`
	Format    ingest.Format     `json:"format,omitempty"`
	Input     string            `json:"input,omitempty"`
	Received  time.Time         `json:"received"`
	Peer      string            `json:"peer,omitempty"`
	Tags      []string          `json:"tags,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
	// Detected is set when the detector already saw the message's event
	// (it was parsed before the deadline): replay then skips detection,
	// so a restart does not raise its alerts twice.
	Detected bool `json:"detected,omitempty"`
}

func recordOf(r *ingest.Raw, detected bool) spoolRecord {
	return spoolRecord{
		Data: r.Data, Format: r.Format, Input: r.Input, Received: r.Received, Peer: r.Peer,
		Tags: r.Tags, Fields: r.Fields, Truncated: r.Truncated, Detected: detected,
	}
}

func (rec *spoolRecord) raw() ingest.Raw {
	return ingest.Raw{
		Data: rec.Data, Format: rec.Format, Input: rec.Input, Received: rec.Received, Peer: rec.Peer,
		Tags: rec.Tags, Fields: rec.Fields, Truncated: rec.Truncated,
	}
}

// appendRecord appends rec's framing and payload to dst.
func appendRecord(dst []byte, rec *spoolRecord) ([]byte, error) {
	payload, err := json.Marshal(rec)
	if err != nil {
		return dst, fmt.Errorf("encoding spool record: %w", err)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...), nil
}

// readSpool reads the spool in r and calls fn for each good record, in
// order. It returns the number of records delivered. A damaged or
// truncated file gives an error wrapping ErrCorruptSpool that says which
// record and byte offset, after every record before it was delivered. An
// empty file (created, then a crash before its first write) holds no
// records and is not an error. An error from fn stops the read and is
// returned as is.
func readSpool(r io.Reader, fn func(rec *spoolRecord) error) (int, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(spoolMagic))
	n, err := io.ReadFull(br, magic)
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return 0, nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return 0, fmt.Errorf("reading spool header: %w", err)
	case err != nil || string(magic) != spoolMagic:
		return 0, fmt.Errorf("%w: not a Vigil spool file (bad header)", ErrCorruptSpool)
	}
	off := int64(len(spoolMagic))
	var (
		hdr     [8]byte
		payload bytes.Buffer
		count   int
	)
	for {
		n, err := io.ReadFull(br, hdr[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return count, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return count, fmt.Errorf("%w: record %d at byte %d: file ends inside the record header", ErrCorruptSpool, count+1, off)
			}
			return count, fmt.Errorf("reading spool record %d at byte %d: %w", count+1, off, err)
		}
		size := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if size > maxSpoolRecord {
			return count, fmt.Errorf("%w: record %d at byte %d: length %d is over the limit", ErrCorruptSpool, count+1, off, size)
		}
		payload.Reset()
		// CopyN grows the buffer as bytes arrive: a damaged length in a
		// short file costs no large allocation.
		got, err := io.CopyN(&payload, br, int64(size))
		if err != nil {
			if errors.Is(err, io.EOF) {
				return count, fmt.Errorf("%w: record %d at byte %d: file ends after %d of its %d bytes", ErrCorruptSpool, count+1, off, got, size)
			}
			return count, fmt.Errorf("reading spool record %d at byte %d: %w", count+1, off, err)
		}
		if crc32.Checksum(payload.Bytes(), castagnoli) != sum {
			return count, fmt.Errorf("%w: record %d at byte %d: checksum mismatch", ErrCorruptSpool, count+1, off)
		}
		var rec spoolRecord
		if err := json.Unmarshal(payload.Bytes(), &rec); err != nil {
			return count, fmt.Errorf("%w: record %d at byte %d: %w", ErrCorruptSpool, count+1, off, err)
		}
		if err := fn(&rec); err != nil {
			return count, err
		}
		count++
		off += int64(len(hdr)) + int64(size)
	}
}

// spoolFiles lists the spool files in dir, oldest first (their names
// start with the time they were created).
func spoolFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing spool directory: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), spoolExt) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// spooler writes the messages a closing pipeline could not store. It is
// used by workers and writers at once. Producers of spooled messages are
// told they are durable only after the file is synced, by finish.
type spooler struct {
	dir string

	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	path    string
	buf     []byte
	err     error // first error; later messages are not written
	pending []spooled
}

// spooled is a part of a batch written to the spool, to complete once the
// spool is synced.
type spooled struct {
	b *batch
	n int64
}

// add writes msgs, a part of b, to the spool. detected says the detector
// already saw their events.
func (s *spooler) add(b *batch, msgs []ingest.Raw, detected bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, spooled{b, int64(len(msgs))})
	if s.err != nil {
		return
	}
	if s.dir == "" {
		s.err = errors.New("no spool directory configured")
		return
	}
	if s.f == nil {
		if s.err = s.create(); s.err != nil {
			return
		}
	}
	for i := range msgs {
		rec := recordOf(&msgs[i], detected)
		var err error
		if s.buf, err = appendRecord(s.buf[:0], &rec); err != nil {
			s.err = err
			return
		}
		if _, err := s.w.Write(s.buf); err != nil {
			s.err = fmt.Errorf("writing spool %q: %w", s.path, err)
			return
		}
	}
}

func (s *spooler) create() error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("creating spool directory: %w", err)
	}
	// The name sorts by time, so replay keeps the order of shutdowns.
	name := fmt.Sprintf("%s-%d%s", time.Now().UTC().Format("20060102T150405.000000000Z"), os.Getpid(), spoolExt)
	s.path = filepath.Join(s.dir, name)
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("creating spool file: %w", err)
	}
	s.f = f
	s.w = bufio.NewWriterSize(f, 256<<10)
	if _, err := s.w.WriteString(spoolMagic); err != nil {
		return fmt.Errorf("writing spool %q: %w", s.path, err)
	}
	return nil
}

// finish flushes and syncs the spool (and its directory, so the new file's
// name is durable too), then completes every spooled part: with nil when
// it is on disk, else with the error. It returns the file, how many
// messages were handed to the spool and, if they are not all safely on
// disk, the error.
func (s *spooler) finish(g *gate) (path string, n int, err error) {
	s.mu.Lock()
	if s.f != nil {
		if s.err == nil {
			s.err = s.w.Flush()
		}
		if s.err == nil {
			s.err = s.f.Sync()
		}
		if cerr := s.f.Close(); s.err == nil {
			s.err = cerr
		}
		if s.err == nil {
			s.err = syncDir(s.dir)
		}
		if s.err != nil {
			s.err = fmt.Errorf("spool %q: %w", s.path, s.err)
		}
		s.f = nil
	}
	pending, err := s.pending, s.err
	s.pending = nil
	path = s.path
	s.mu.Unlock()
	for _, p := range pending {
		n += int(p.n)
		p.b.complete(p.n, err, g)
	}
	return path, n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
