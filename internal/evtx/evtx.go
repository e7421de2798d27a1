// Package evtx reads Windows XML Event Log (EVTX) files: the file header,
// the 64 KiB chunks with their string and template tables, the event
// records, and the binary XML (BinXML, MS-EVEN6) that encodes each event,
// including template instances, substitutions and nested BinXML. Records are
// rendered as JSON exactly as the evtx_dump tool does, so that rules and
// regression data written against that rendering apply unchanged.
//
// The reader is written for untrusted input: every offset and size read from
// the file is checked against the bounds of the chunk it lives in, recursion
// and expansion are bounded, and a corrupt record or chunk is skipped and
// reported (with its chunk number, record id and file offset) while the
// reader continues with the next one.
package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"os"
	"sync"
	"time"
)

const (
	fileHeaderSize = 4096
	chunkSize      = 65536
	chunkHdrSize   = 512
	recordHdrSize  = 24
)

var (
	fileMagic   = []byte("ElfFile\x00")
	chunkMagic  = []byte("ElfChnk\x00")
	recordMagic = []byte{0x2a, 0x2a, 0, 0}
)

// ErrNotEVTX is returned by Open and NewReader when the input does not start
// with an EVTX file header.
var ErrNotEVTX = errors.New("not an evtx file")

// ErrChecksum is wrapped by the errors that report a checksum mismatch.
// Checksum mismatches are reported but not fatal: the data is parsed anyway.
var ErrChecksum = errors.New("checksum mismatch")

// FileHeader is the 4 KiB header at the start of an EVTX file.
type FileHeader struct {
	FirstChunk   uint64
	LastChunk    uint64
	NextRecordID uint64
	HeaderSize   uint32
	MinorVersion uint16
	MajorVersion uint16
	BlockSize    uint16
	// ChunkCount is the number of chunks the header declares. The reader
	// does not trust it: it reads every chunk the file holds.
	ChunkCount uint16
	// Flags: 0x1 dirty, 0x2 full.
	Flags uint32
	// Checksum is the stored CRC32 of the first 120 bytes.
	Checksum uint32
	// ChecksumOK reports whether Checksum matches the header bytes.
	ChecksumOK bool
}

// Dirty reports whether the file was not closed cleanly.
func (h FileHeader) Dirty() bool { return h.Flags&1 != 0 }

// CorruptError describes a part of the file that could not be read and was
// skipped (or, for checksum mismatches, read with a warning).
type CorruptError struct {
	// Chunk is the chunk's index in the file (0-based), or -1 for the file
	// header.
	Chunk int
	// Record is the record's id when known, else 0.
	Record uint64
	// Offset is the offset in the file where the problem was found.
	Offset int64
	// Err says what was wrong.
	Err error
}

// Error says where the problem is and what it is.
func (e *CorruptError) Error() string {
	switch {
	case e.Chunk < 0:
		return fmt.Sprintf("file header at offset %#x: %v", e.Offset, e.Err)
	case e.Record != 0:
		return fmt.Sprintf("chunk %d record %d at offset %#x: %v", e.Chunk, e.Record, e.Offset, e.Err)
	default:
		return fmt.Sprintf("chunk %d at offset %#x: %v", e.Chunk, e.Offset, e.Err)
	}
}

// Unwrap returns the underlying error (for example one wrapping
// ErrChecksum).
func (e *CorruptError) Unwrap() error { return e.Err }

// File is an EVTX file opened for reading. A File is not safe for
// concurrent use; open one per goroutine.
type File struct {
	r      io.ReaderAt
	data   []byte // the whole file, when made by FromBytes
	hdr    [128]byte
	size   int64
	closer io.Closer
	// Header is the file header as read. When the header is damaged the
	// reader still scans the chunks that follow it.
	Header FileHeader
	// HeaderErr is the problem found in the file header, if any (for
	// example a checksum mismatch). It is reported again by Records.
	HeaderErr error
	// MaxErrors caps how many errors Records collects (0 means 1000); the
	// rest are counted in the final error.
	MaxErrors int
}

// Open opens the EVTX file at path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening evtx file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening evtx file %q: %w", path, err)
	}
	ef, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening evtx file %q: %w", path, err)
	}
	ef.closer = f
	return ef, nil
}

// NewReader reads an EVTX file of the given size from r.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	if size < int64(len(fileMagic)) {
		return nil, fmt.Errorf("reading file header: %w (file is %d bytes)", ErrNotEVTX, size)
	}
	// The header is read into the File, which is allocated anyway.
	f := &File{r: r, size: size}
	hdr := f.hdr[:]
	n, err := r.ReadAt(hdr, 0)
	if n < len(fileMagic) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading file header: %w", err)
	}
	if string(hdr[:8]) != string(fileMagic) {
		return nil, fmt.Errorf("reading file header: %w (magic %q)", ErrNotEVTX, hdr[:8])
	}
	if size < fileHeaderSize {
		f.HeaderErr = &CorruptError{Chunk: -1, Offset: size, Err: fmt.Errorf("truncated file header (%d of %d bytes)", size, fileHeaderSize)}
	}
	if n < len(hdr) {
		f.HeaderErr = &CorruptError{Chunk: -1, Offset: int64(n), Err: fmt.Errorf("truncated file header (%d bytes)", n)}
		return f, nil
	}
	le := binary.LittleEndian
	h := &f.Header
	h.FirstChunk = le.Uint64(hdr[8:])
	h.LastChunk = le.Uint64(hdr[16:])
	h.NextRecordID = le.Uint64(hdr[24:])
	h.HeaderSize = le.Uint32(hdr[32:])
	h.MinorVersion = le.Uint16(hdr[36:])
	h.MajorVersion = le.Uint16(hdr[38:])
	h.BlockSize = le.Uint16(hdr[40:])
	h.ChunkCount = le.Uint16(hdr[42:])
	h.Flags = le.Uint32(hdr[120:])
	h.Checksum = le.Uint32(hdr[124:])
	h.ChecksumOK = crc32.ChecksumIEEE(hdr[:120]) == h.Checksum
	if !h.ChecksumOK && f.HeaderErr == nil {
		f.HeaderErr = &CorruptError{Chunk: -1, Offset: 124, Err: fmt.Errorf("header %w: stored %#08x, computed %#08x",
			ErrChecksum, h.Checksum, crc32.ChecksumIEEE(hdr[:120]))}
	}
	return f, nil
}

// FromBytes reads an EVTX file held in memory. Records refer to data
// directly instead of copying chunks; data must not change while the File
// is in use.
func FromBytes(data []byte) (*File, error) {
	f, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	f.data = data
	return f, nil
}

// Close closes the underlying file when the File was made by Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Size returns the size of the input in bytes.
func (f *File) Size() int64 { return f.size }

// ChunkCount returns the number of 64 KiB chunk slots the file holds after
// its header, including a partial last one.
func (f *File) ChunkCount() int {
	if f.size <= fileHeaderSize {
		return 0
	}
	return int((f.size - fileHeaderSize + chunkSize - 1) / chunkSize)
}

// All iterates over the records of the file in file order. For a part of
// the file that cannot be read it yields a nil record and a *CorruptError,
// then continues with what follows. The *Record is valid only until the next
// iteration; copy what you keep (AppendJSON into your own buffer).
func (f *File) All() iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if f.HeaderErr != nil {
			if !yield(nil, f.HeaderErr) {
				return
			}
		}
		if f.HeaderErr == nil && int(f.Header.ChunkCount) > f.ChunkCount() {
			err := fmt.Errorf("file truncated: header declares %d chunks, file holds %d", f.Header.ChunkCount, f.ChunkCount())
			if !yield(nil, &CorruptError{Chunk: -1, Offset: f.size, Err: err}) {
				return
			}
		}
		p := parserPool.Get().(*parser)
		defer func() {
			p.buf = nil // do not keep the caller's data alive
			parserPool.Put(p)
		}()
		for ci := 0; ci < f.ChunkCount(); ci++ {
			off := int64(fileHeaderSize) + int64(ci)*chunkSize
			buf := p.chunkBuf()
			var n int
			var err error
			if f.data != nil {
				// In memory: use the chunk in place.
				buf = f.data[off:min(off+chunkSize, f.size):min(off+chunkSize, f.size)]
				n = len(buf)
				if n < chunkSize {
					err = io.ErrUnexpectedEOF
				}
			} else {
				n, err = f.readChunk(buf, off)
			}
			if n < chunkSize {
				if n == 0 && err == io.EOF {
					return
				}
				if allZero(buf[:n]) {
					return
				}
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				if !yield(nil, &CorruptError{Chunk: ci, Offset: off + int64(n), Err: fmt.Errorf("truncated chunk (%d of %d bytes): %w", n, chunkSize, err)}) {
					return
				}
				if n < chunkHdrSize {
					return
				}
			}
			if !p.readChunk(ci, off, buf[:n], yield) {
				return
			}
		}
	}
}

// readChunk reads the chunk at off into buf: the header, then the bytes
// up to the chunk's free space offset (the rest of a chunk is unused). It
// returns how many bytes of the chunk are valid in buf: chunkSize when the
// whole chunk is present, even if the unused tail was not read.
func (f *File) readChunk(buf []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(buf[:chunkHdrSize], off)
	if n < chunkHdrSize {
		if err == io.EOF && off+chunkSize <= f.size {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	want := chunkSize
	if free := int(binary.LittleEndian.Uint32(buf[48:])); bytes.Equal(buf[:8], chunkMagic) && free >= chunkHdrSize && free <= chunkSize && off+chunkSize <= f.size {
		want = free
	}
	m, err := f.r.ReadAt(buf[chunkHdrSize:want], off+chunkHdrSize)
	n += m
	if n < want {
		return n, err
	}
	if want < chunkSize {
		return chunkSize, nil
	}
	return n, nil
}

// Records calls fn for every readable record in file order. Parts of the
// file that cannot be read are skipped; Records then returns them joined
// as *CorruptError values (at most MaxErrors of them, then a count). If fn
// returns an error, Records stops and returns that error. The *Record is
// valid only during the call.
func (f *File) Records(fn func(*Record) error) error {
	max := f.MaxErrors
	if max <= 0 {
		max = 1000
	}
	var errs []error
	dropped := 0
	var fnErr error
	for rec, err := range f.All() {
		if err != nil {
			if len(errs) < max {
				errs = append(errs, err)
			} else {
				dropped++
			}
			continue
		}
		if fnErr = fn(rec); fnErr != nil {
			return fnErr
		}
	}
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("%d more errors not shown", dropped))
	}
	return errors.Join(errs...)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parserPool recycles parsers (and their chunk buffer and arenas) between
// files, so that reading many small files does not allocate per file.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

// filetimeEpochDelta is the number of 100 ns intervals between 1601-01-01
// and 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// filetimeToTime converts a FILETIME (100 ns intervals since 1601) to UTC.
func filetimeToTime(ft uint64) time.Time {
	secs := int64(ft/10_000_000) - filetimeEpochDelta/10_000_000
	nsec := int64(ft%10_000_000) * 100
	return time.Unix(secs, nsec).UTC()
}
