package vlstore

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
)

// The write-ahead log. The engine keeps recent rows in memory and writes
// them to files about every second, and has no call that makes one batch
// durable cheaply (a partition snapshot does, at a cost that grows with
// the partition's parts). So Append first writes its rows' documents and
// ids to an append-only segment file and fsyncs it: that is when an event
// is durable. A checkpoint (every checkpointEvery, and at Close) makes the
// engine's rows durable with a snapshot, then deletes the segments it
// covers. Open replays the segments left by a crash, adding the rows the
// engine lost (found by id), so replay never duplicates an event.
//
// A record is: length (4 bytes, little endian) of the rest, CRC-32C of the
// rest (4 bytes), id length (uvarint), id, document. A torn or corrupt
// record ends its segment: it was never acknowledged.

const walDirName = "victorialogs-wal"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxRecord bounds one record read back, so that a corrupt length cannot
// make replay allocate without limit.
const maxRecord = 64 << 20

type wal struct {
	dir  string
	seq  uint64
	f    *os.File
	size int64
	buf  []byte
}

// walRecord is one replayed row.
type walRecord struct {
	id  string
	doc []byte
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x.wal", seq) }

// segments lists the segment files of dir in order.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, n)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// openWAL opens a new segment after the existing ones.
func openWAL(dir string, after uint64) (*wal, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	w := &wal{dir: dir, seq: after}
	if err := w.rotate(); err != nil {
		return nil, err
	}
	return w, nil
}

// rotate closes the current segment and starts the next one. It returns
// with every earlier segment complete.
func (w *wal) rotate() error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return err
		}
		w.f = nil
	}
	w.seq++
	f, err := os.OpenFile(filepath.Join(w.dir, segmentName(w.seq)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, 0
	return nil
}

// add encodes one record into the pending buffer.
func (w *wal) add(id string, doc []byte) {
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, 8)...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(id)))
	w.buf = append(w.buf, id...)
	w.buf = append(w.buf, doc...)
	rest := w.buf[start+8:]
	binary.LittleEndian.PutUint32(w.buf[start:], uint32(len(rest)))
	binary.LittleEndian.PutUint32(w.buf[start+4:], crc32.Checksum(rest, crcTable))
}

// commit writes the pending records and fsyncs the segment.
func (w *wal) commit() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	w.buf = w.buf[:0]
	if err != nil {
		return err
	}
	return w.f.Sync()
}

// drop removes the segments numbered below seq.
func (w *wal) drop(below uint64) error {
	seqs, err := segments(w.dir)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s >= below {
			break
		}
		if err := os.Remove(filepath.Join(w.dir, segmentName(s))); err != nil {
			return err
		}
	}
	return nil
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// readSegment calls fn with each complete record of a segment, stopping
// quietly at a torn or corrupt one.
func readSegment(path string, fn func(walRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n > maxRecord {
			return nil
		}
		rest := make([]byte, n)
		if _, err := io.ReadFull(r, rest); err != nil {
			return nil
		}
		if crc32.Checksum(rest, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return nil
		}
		idLen, k := binary.Uvarint(rest)
		if k <= 0 || idLen > uint64(len(rest)-k) {
			return nil
		}
		rec := walRecord{id: string(rest[k : k+int(idLen)]), doc: rest[k+int(idLen):]}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
