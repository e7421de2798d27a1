package evtx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the reader: it must not panic or
// hang, every record it returns must render as valid JSON, and it cannot
// return more records than the input could hold.
func FuzzReader(f *testing.F) {
	// Seeds: a few real sample files cut after their last record (the rest
	// of the chunk is unused), and synthetic files covering every token.
	if dir, ok := findShared(); ok {
		root := filepath.Join(dir, "sigma", "regression_data")
		seeds := 0
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".evtx" || seeds >= 4 {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil || len(data) < fileHeaderSize+chunkHdrSize {
				return err
			}
			free := int(binary.LittleEndian.Uint32(data[fileHeaderSize+48:]))
			if free > chunkHdrSize && free <= chunkSize {
				f.Add(data[:fileHeaderSize+free])
				seeds++
			}
			return nil
		})
	}
	f.Add(buildFile(func(x *bx) {
		x.fragment()
		x.template(dataTemplate(vString), []sub{{typ: vString, data: utf16le("seed")}})
		x.eof()
	}, func(x *bx) {
		x.open("E", true)
		x.attr("a")
		x.text("1")
		x.closeStart()
		x.cdata("c")
		x.charRef('x')
		x.entityRef("amp")
		x.end()
	})[:fileHeaderSize+1024])

	f.Add(sysmonLikeFile(3))
	// Elements outside templates, without and with a dependency id.
	f.Add(buildFile(capi2Body, func(x *bx) { x.depOutside = true; capi2Body(x) })[:fileHeaderSize+2048])

	f.Fuzz(func(t *testing.T, data []byte) {
		// Both reading paths, and walking templates with or without
		// compiling them, must return the same records and errors.
		var outs [3][]string
		defer func() { compileTemplates = true }()
		for i := range 3 {
			var r *File
			var err error
			compileTemplates = i != 2
			if i == 1 {
				r, err = FromBytes(data)
			} else {
				r, err = NewReader(bytes.NewReader(data), int64(len(data)))
			}
			if err != nil {
				return
			}
			n := 0
			for rec, err := range r.All() {
				if err != nil {
					if err.Error() == "" {
						t.Fatal("empty error message")
					}
					outs[i] = append(outs[i], "error: "+err.Error())
					continue
				}
				n++
				out := rec.AppendJSON(nil)
				if !json.Valid(out) {
					t.Fatalf("record %d: invalid JSON %q", rec.ID, out)
				}
				rec.AppendXML(nil)
				nf := 0
				rec.Fields(func(name string, v Value) {
					nf++
					v.AppendText(nil)
					v.Int()
					v.Float()
				})
				outs[i] = append(outs[i], string(out)+"/"+strconv.Itoa(nf))
			}
			if max := len(data)/(recordHdrSize+4) + 1; n > max {
				t.Fatalf("got %d records from %d bytes", n, len(data))
			}
		}
		for k := 1; k < 3; k++ {
			if len(outs[0]) != len(outs[k]) {
				t.Fatalf("path %d gave %d results, path 0 %d", k, len(outs[k]), len(outs[0]))
			}
			for i := range outs[0] {
				if outs[0][i] != outs[k][i] {
					t.Fatalf("result %d: path 0 gave %q, path %d %q", i, outs[0][i], k, outs[k][i])
				}
			}
		}
	})
}

// findShared is sharedDir without a testing.TB, for fuzz seeding.
func findShared() (string, bool) {
	s := sharedtest.Find()
	return s, s != ""
}
