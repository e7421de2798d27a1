package evtx

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"
)

type sampleRecord struct {
	id         uint64
	start, end int64
	json       string
}

// largestSamples returns the sample files with the most records, read
// into memory, with their records.
func largestSamples(t *testing.T, n int) (datas [][]byte, recs [][]sampleRecord) {
	t.Helper()
	type sample struct {
		data []byte
		recs []sampleRecord
	}
	var all []sample
	for _, path := range sampleFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var rs []sampleRecord
		if err := f.Records(func(r *Record) error {
			rs = append(rs, sampleRecord{r.ID, r.Offset, r.Offset + int64(r.Size), string(r.AppendJSON(nil))})
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		all = append(all, sample{data, rs})
	}
	for range n {
		best := 0
		for i := range all {
			if len(all[i].recs) > len(all[best].recs) {
				best = i
			}
		}
		datas = append(datas, all[best].data)
		recs = append(recs, all[best].recs)
		all = append(all[:best], all[best+1:]...)
	}
	return datas, recs
}

// TestTruncated cuts sample files at random offsets: every record that
// ends before the cut must still be read, identical, and a cut inside the
// used part of a chunk must be reported.
func TestTruncated(t *testing.T) {
	datas, recs := largestSamples(t, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	for fi, data := range datas {
		used := recs[fi][len(recs[fi])-1].end
		cuts := []int64{0, 7, 8, 100, fileHeaderSize, fileHeaderSize + 100, fileHeaderSize + chunkHdrSize, used - 1, used, int64(len(data)) - 1}
		for range 40 {
			cuts = append(cuts, rng.Int64N(used+1))
		}
		for _, cut := range cuts {
			f, err := NewReader(bytes.NewReader(data[:cut]), cut)
			if cut%2 == 1 {
				f, err = FromBytes(data[:cut]) // both reading paths
			}
			if cut < 8 {
				if err == nil {
					t.Errorf("file %d cut at %d: got no error from NewReader, want one", fi, cut)
				}
				continue
			}
			if err != nil {
				t.Fatalf("file %d cut at %d: NewReader: %v", fi, cut, err)
			}
			got := map[uint64]string{}
			nerr := 0
			for r, err := range f.All() {
				if err != nil {
					nerr++
					continue
				}
				got[r.ID] = string(r.AppendJSON(nil))
			}
			for _, r := range recs[fi] {
				if r.end <= cut && got[r.id] != r.json {
					t.Errorf("file %d cut at %d: record %d (ends at %d) got %q, want %q", fi, cut, r.id, r.end, got[r.id], r.json)
				}
			}
			if cut < used && nerr == 0 {
				t.Errorf("file %d cut at %d (records end at %d): got no error, want one", fi, cut, used)
			}
		}
	}
}

// TestBitFlips flips random bytes of sample files: the reader must not
// panic or hang, and any flip in a checksummed region must be reported.
func TestBitFlips(t *testing.T) {
	datas, recs := largestSamples(t, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	for fi, orig := range datas {
		free := int64(binary.LittleEndian.Uint32(orig[fileHeaderSize+48:]))
		for i := range 300 {
			data := bytes.Clone(orig)
			nflips := 1 + rng.IntN(4)
			checked := false
			for range nflips {
				var at int64
				if i%4 == 0 {
					at = rng.Int64N(int64(len(data)))
				} else {
					at = fileHeaderSize + rng.Int64N(free)
				}
				data[at] ^= byte(1 + rng.IntN(255))
				// The flags (offset 120 of the file and chunk headers) are
				// the only bytes no checksum covers.
				checked = checked || at < 120 || (at >= 124 && at < 128) ||
					(at >= fileHeaderSize && at < fileHeaderSize+free && (at-fileHeaderSize < 120 || at-fileHeaderSize >= 124))
			}
			f, err := NewReader(bytes.NewReader(data), int64(len(data)))
			if i%2 == 1 {
				f, err = FromBytes(data) // both reading paths
			}
			if err != nil {
				continue // the magic was hit
			}
			nrec, nerr := 0, 0
			for r, err := range f.All() {
				if err != nil {
					nerr++
					continue
				}
				nrec++
				r.AppendJSON(nil)
			}
			if checked && nerr == 0 {
				t.Errorf("file %d flip set %d: a checksummed byte changed but no error was reported", fi, i)
			}
			if nrec > len(recs[fi])+64 {
				t.Errorf("file %d flip set %d: got %d records from a file of %d", fi, i, nrec, len(recs[fi]))
			}
		}
	}
}

func TestNotEVTX(t *testing.T) {
	for _, in := range []string{"", "ElfFil", "not an evtx file at all"} {
		if _, err := NewReader(bytes.NewReader([]byte(in)), int64(len(in))); err == nil {
			t.Errorf("NewReader(%q): got no error, want one", in)
		}
	}
}
