package fim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// baselineMagic starts a baseline file (version 1).
const baselineMagic = "VIGILFIM1\n"

// maxStoredPath bounds a path read back from the baseline file (Linux's
// PATH_MAX is 4,096).
const maxStoredPath = 64 << 10

// errCorrupt is returned for a baseline file that fails its checks.
var errCorrupt = errors.New("baseline file corrupt")

// baseline is the known state of the watched files, and the watched
// paths it was built for (a path added later is baselined silently).
type baseline struct {
	roots []string
	files map[string]*entry
}

// encode writes the baseline compactly: the magic, the roots, the
// entries sorted by path (varints, the 32-byte hash only when there is
// one), and a SHA-256 of all of it.
func (b *baseline) encode() []byte {
	var buf bytes.Buffer
	buf.Grow(len(baselineMagic) + 96*len(b.files))
	buf.WriteString(baselineMagic)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(v uint64) { buf.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	sv := func(v int64) { buf.Write(tmp[:binary.PutVarint(tmp[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); buf.WriteString(s) }
	uv(uint64(len(b.roots)))
	for _, r := range b.roots {
		str(r)
	}
	paths := make([]string, 0, len(b.files))
	for p := range b.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	uv(uint64(len(paths)))
	for _, p := range paths {
		e := b.files[p]
		str(p)
		buf.WriteByte(e.kind)
		buf.WriteByte(e.omit)
		uv(uint64(e.mode))
		uv(uint64(e.uid))
		uv(uint64(e.gid))
		sv(e.size)
		sv(e.mtime)
		sv(e.ctime)
		uv(e.inode)
		if e.omit == omitNone {
			buf.Write(e.hash[:])
		}
		str(e.target)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes()
}

// decodeBaseline reads what encode wrote, checking its sum and bounds.
func decodeBaseline(data []byte) (*baseline, error) {
	if len(data) < len(baselineMagic)+sha256.Size || string(data[:len(baselineMagic)]) != baselineMagic {
		return nil, fmt.Errorf("%w: no header", errCorrupt)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	r := &reader{b: body[len(baselineMagic):]}
	b := &baseline{}
	n := r.uv()
	if n > MaxPaths {
		return nil, fmt.Errorf("%w: %d roots", errCorrupt, n)
	}
	for range n {
		b.roots = append(b.roots, r.str())
	}
	n = r.uv()
	// Each entry takes at least 12 bytes.
	if n > uint64(len(r.b))/12+1 {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errCorrupt, n, len(r.b))
	}
	b.files = make(map[string]*entry, n)
	for range n {
		p := r.str()
		e := &entry{kind: r.byte(), omit: r.byte()}
		e.mode, e.uid, e.gid = uint32(r.uv()), uint32(r.uv()), uint32(r.uv())
		e.size, e.mtime, e.ctime = r.sv(), r.sv(), r.sv()
		e.inode = r.uv()
		if e.omit == omitNone {
			copy(e.hash[:], r.take(32))
		}
		e.target = r.str()
		if r.err != nil {
			break
		}
		if e.kind > kindSymlink || int(e.omit) >= len(omitNames) {
			return nil, fmt.Errorf("%w: entry %q", errCorrupt, p)
		}
		b.files[p] = e
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the entries", errCorrupt, len(r.b))
	}
	return b, nil
}

// reader decodes the baseline's varints and strings, remembering the
// first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	r.b = nil
}

func (r *reader) uv() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) sv() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() uint8 {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) str() string {
	n := r.uv()
	if n > maxStoredPath {
		r.fail()
		return ""
	}
	return string(r.take(int(n)))
}

// loadBaseline reads the baseline file (nil, nil when there is none).
func loadBaseline(path string) (*baseline, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the fim baseline: %w", err)
	}
	b, err := decodeBaseline(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// save writes the baseline file whole or not at all.
func (b *baseline) save(path string) error {
	if err := atomicfile.Write(path, b.encode(), 0o600); err != nil {
		return fmt.Errorf("saving the fim baseline: %w", err)
	}
	return nil
}
