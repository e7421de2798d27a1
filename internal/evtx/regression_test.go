package evtx

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sharedDir finds the shared/ directory beside the repository root by
// walking up from the package directory.
func sharedDir(t testing.TB) string { return sharedtest.Dir(t) }

// sampleFiles returns the .evtx files of the SigmaHQ regression data.
func sampleFiles(t testing.TB) []string {
	t.Helper()
	root := filepath.Join(sharedDir(t), "sigma", "regression_data")
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".evtx") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	if len(files) == 0 {
		t.Skipf("no .evtx files under %s", root)
	}
	sort.Strings(files)
	return files
}

// decodeAll decodes a stream of JSON values (concatenated objects, or one
// array of them).
func decodeAll(t *testing.T, data []byte) []any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []any
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding expected JSON: %v", err)
		}
		if arr, ok := v.([]any); ok {
			out = append(out, arr...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

func decodeOne(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding our JSON %s: %v", data, err)
	}
	if dec.More() {
		t.Fatalf("our JSON has trailing data: %s", data)
	}
	return v
}

// numbersEqual compares json.Number values numerically, so that 1.0 and 1
// are the same value.
var numbersEqual = cmp.Comparer(func(a, b json.Number) bool {
	if a == b {
		return true
	}
	fa, errA := a.Float64()
	fb, errB := b.Float64()
	return errA == nil && errB == nil && fa == fb
})

// knownDifference is a place where a shipped JSON rendering disagrees with
// the bytes of its .evtx file (see testdata/known_differences.json).
type knownDifference struct {
	File    string   `json:"file"`
	Record  int      `json:"record"`
	Path    []string `json:"path"`
	Shipped string   `json:"shipped"`
	EVTX    string   `json:"evtx"`
	Reason  string   `json:"reason"`
}

func loadKnownDifferences(t *testing.T) []knownDifference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "known_differences.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kd []knownDifference
	if err := json.Unmarshal(data, &kd); err != nil {
		t.Fatalf("testdata/known_differences.json: %v", err)
	}
	return kd
}

// applyKnownDifference checks that the shipped value is the documented one
// and replaces it with what the .evtx file holds.
func applyKnownDifference(t *testing.T, want []any, kd knownDifference) {
	t.Helper()
	if kd.Record >= len(want) {
		t.Fatalf("known difference %v: record %d out of range", kd.Path, kd.Record)
	}
	m, _ := want[kd.Record].(map[string]any)
	for _, k := range kd.Path[:len(kd.Path)-1] {
		m, _ = m[k].(map[string]any)
	}
	last := kd.Path[len(kd.Path)-1]
	if got, _ := m[last].(string); got != kd.Shipped {
		t.Fatalf("known difference %v: shipped JSON has %q, want %q; update testdata/known_differences.json", kd.Path, got, kd.Shipped)
	}
	m[last] = kd.EVTX
}

func TestRegressionCorpus(t *testing.T) {
	files := sampleFiles(t)
	root := filepath.Join(sharedDir(t), "sigma", "regression_data")
	known := loadKnownDifferences(t)
	total := 0
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		name := strings.TrimPrefix(path, filepath.Dir(filepath.Dir(filepath.Dir(path)))+"/")
		t.Run(name, func(t *testing.T) {
			wantData, err := os.ReadFile(strings.TrimSuffix(path, ".evtx") + ".json")
			if err != nil {
				t.Skipf("no JSON rendering beside %s: %v", path, err)
			}
			want := decodeAll(t, wantData)
			for _, kd := range known {
				if kd.File == rel {
					applyKnownDifference(t, want, kd)
				}
			}
			f, err := Open(path)
			if err != nil {
				t.Fatalf("Open(%s): %v", path, err)
			}
			defer f.Close()
			var got []any
			err = f.Records(func(r *Record) error {
				got = append(got, decodeOne(t, r.AppendJSON(nil)))
				return nil
			})
			if err != nil {
				t.Errorf("Records: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for i := range got {
				if diff := cmp.Diff(want[i], got[i], numbersEqual); diff != "" {
					t.Errorf("record %d mismatch (-want +got):\n%s", i, diff)
				}
			}
			total += len(got)
		})
	}
	t.Logf("compared %d records in %d files", total, len(files))
}
