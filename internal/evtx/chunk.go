package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Record is one event record. It is valid only until the reader moves on
// (the next iteration of File.All or the return of the Records callback);
// render what you keep with AppendJSON.
type Record struct {
	// ID is the event record identifier from the record header.
	ID uint64
	// Time is the record's written time from the record header.
	Time time.Time
	// Chunk is the index of the chunk holding the record (0-based).
	Chunk int
	// Offset is the record's offset in the file.
	Offset int64
	// Size is the record's size in bytes, header included.
	Size int

	p    *parser
	root int32
}

// chunkHeader holds the fields of a chunk header that the reader uses.
type chunkHeader struct {
	firstNum, lastNum uint64
	firstID, lastID   uint64
	headerSize        uint32
	lastRecOff        uint32
	freeOff           uint32
	recordsCRC        uint32
	flags             uint32
	headerCRC         uint32
}

// chunkBuf returns the parser's own chunk buffer (p.buf may instead point
// at a chunk in place, for FromBytes).
func (p *parser) chunkBuf() []byte {
	if p.own == nil {
		p.own = make([]byte, chunkSize)
	}
	return p.own
}

// readChunk parses the chunk in buf (index ci, at file offset off) and
// yields its records and errors. It returns false when the consumer stopped.
func (p *parser) readChunk(ci int, off int64, buf []byte, yield func(*Record, error) bool) bool {
	if !bytes.Equal(buf[:8], chunkMagic) {
		if allZero(buf) {
			return true // an unused, preallocated chunk
		}
		return yield(nil, &CorruptError{Chunk: ci, Offset: off, Err: fmt.Errorf("bad chunk magic %q", buf[:8])})
	}
	le := binary.LittleEndian
	h := chunkHeader{
		firstNum:   le.Uint64(buf[8:]),
		lastNum:    le.Uint64(buf[16:]),
		firstID:    le.Uint64(buf[24:]),
		lastID:     le.Uint64(buf[32:]),
		headerSize: le.Uint32(buf[40:]),
		lastRecOff: le.Uint32(buf[44:]),
		freeOff:    le.Uint32(buf[48:]),
		recordsCRC: le.Uint32(buf[52:]),
		flags:      le.Uint32(buf[120:]),
		headerCRC:  le.Uint32(buf[124:]),
	}
	crc := crc32.Update(crc32.ChecksumIEEE(buf[:120]), crc32.IEEETable, buf[128:chunkHdrSize])
	headerOK := crc == h.headerCRC
	if !headerOK {
		if !yield(nil, &CorruptError{Chunk: ci, Offset: off + 124, Err: fmt.Errorf("chunk header %w: stored %#08x, computed %#08x", ErrChecksum, h.headerCRC, crc)}) {
			return false
		}
	}
	end := len(buf)
	freeOK := h.freeOff >= chunkHdrSize && int(h.freeOff) <= len(buf)
	if freeOK {
		end = int(h.freeOff)
		if crc := crc32.ChecksumIEEE(buf[chunkHdrSize:end]); crc != h.recordsCRC {
			if !yield(nil, &CorruptError{Chunk: ci, Offset: off + 52, Err: fmt.Errorf("chunk records %w: stored %#08x, computed %#08x", ErrChecksum, h.recordsCRC, crc)}) {
				return false
			}
		}
	} else if !yield(nil, &CorruptError{Chunk: ci, Offset: off + 48, Err: fmt.Errorf("free space offset %#x out of range, scanning the whole chunk", h.freeOff)}) {
		return false
	}

	// Bounds checks use len(p.buf): nothing past the records is addressable.
	p.resetChunk(buf[:end])
	rec := &p.rec
	pos := chunkHdrSize
	for pos+recordHdrSize <= end {
		if !bytes.Equal(buf[pos:pos+4], recordMagic) {
			if !freeOK && allZero(buf[pos:min(pos+recordHdrSize, end)]) {
				return true // end of the records in a chunk with a bad header
			}
			next := resync(buf, pos+1, end)
			err := fmt.Errorf("bad record magic %#x, skipped %d bytes", buf[pos:pos+4], next-pos)
			if !yield(nil, &CorruptError{Chunk: ci, Offset: off + int64(pos), Err: err}) {
				return false
			}
			pos = next
			continue
		}
		size := int(le.Uint32(buf[pos+4:]))
		id := le.Uint64(buf[pos+8:])
		if size < recordHdrSize+4 || size > end-pos || int(le.Uint32(buf[pos+size-4:])) != size {
			next := resync(buf, pos+1, end)
			err := fmt.Errorf("bad record size %d, skipped %d bytes", size, next-pos)
			if !yield(nil, &CorruptError{Chunk: ci, Record: id, Offset: off + int64(pos), Err: err}) {
				return false
			}
			pos = next
			continue
		}
		*rec = Record{
			ID:     id,
			Time:   filetimeToTime(le.Uint64(buf[pos+16:])),
			Chunk:  ci,
			Offset: off + int64(pos),
			Size:   size,
			p:      p,
		}
		root, err := p.parseRecord(pos+recordHdrSize, pos+size-4)
		if err != nil {
			if !yield(nil, &CorruptError{Chunk: ci, Record: id, Offset: off + int64(pos), Err: err}) {
				return false
			}
		} else {
			rec.root = root
			if !yield(rec, nil) {
				return false
			}
		}
		pos += size
	}
	return true
}

// resync finds the next plausible record start at or after from, or
// returns end.
func resync(buf []byte, from, end int) int {
	for from+recordHdrSize <= end {
		i := bytes.Index(buf[from:end], recordMagic)
		if i < 0 {
			return end
		}
		pos := from + i
		if pos+recordHdrSize > end {
			return end
		}
		size := int(binary.LittleEndian.Uint32(buf[pos+4:]))
		if size >= recordHdrSize+4 && size <= end-pos && int(binary.LittleEndian.Uint32(buf[pos+size-4:])) == size {
			return pos
		}
		from = pos + 1
	}
	return end
}

// errRecordTooComplex is returned for records whose expansion exceeds the
// reader's limits (hostile nesting or repetition of templates).
var errRecordTooComplex = errors.New("record too complex")

// errChunkTooComplex is returned for the records of a chunk after its
// records together exceeded the reader's work limit.
var errChunkTooComplex = errors.New("chunk too complex, record skipped")
