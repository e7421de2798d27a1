package csvsafe

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"+1+1", "'+1+1"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"\nx", "'\nx"},
		{"   =1+1", "'   =1+1"},
		{"＝1+1", "'＝1+1"},
		{"-12", "-12"},
		{"+3.5", "+3.5"},
		{"-", "'-"},
		{"-1.", "'-1."},
		{"-1e5", "'-1e5"},
		{"@timestamp", "@timestamp"},
		{"@version.x_1", "@version.x_1"},
		{"@", "'@"},
		{"@x(1)", "'@x(1)"},
		{" @timestamp", "' @timestamp"},
		{"a=b", "a=b"},
		{"   ", "   "},
	} {
		if got := Cell(tc.in); got != tc.want {
			t.Errorf("Cell(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	head := []string{"@timestamp", `=cmd|' /C calc'!A0`, "a,b", `say "hi"`, "two\nlines"}
	w.Write(head)
	w.Write([]string{"2026-01-01T00:00:00Z", "-5", "x", "", "+cmd"})
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	want := "\"@timestamp\",\"'=cmd|' /C calc'!A0\",\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n" +
		"\"2026-01-01T00:00:00Z\",\"-5\",\"x\",\"\",\"'+cmd\"\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantRecs := [][]string{
		{"@timestamp", `'=cmd|' /C calc'!A0`, "a,b", `say "hi"`, "two\nlines"},
		{"2026-01-01T00:00:00Z", "-5", "x", "", "'+cmd"},
	}
	if diff := cmp.Diff(wantRecs, recs); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterError(t *testing.T) {
	w := NewWriter(failWriter{})
	w.Write([]string{"a"})
	w.Flush()
	if err := w.Error(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Error: got %v, want disk full", err)
	}
}

// FuzzAppend checks that a record reads back with encoding/csv as its
// cells, each unchanged or with a leading ', and that no cell read back
// is one a spreadsheet would run.
func FuzzAppend(f *testing.F) {
	f.Add("@timestamp", `=cmd|' /C calc'!A0`, "a,\"b\"\nc")
	f.Add("-1", "+x", "\t\r")
	f.Add(" ＠x", "", "@a.b")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		rec := []string{a, b, c}
		out := Append(nil, rec)
		r := csv.NewReader(bytes.NewReader(out))
		got, err := r.Read()
		if err != nil {
			t.Fatalf("Append(%q) = %q does not read back: %v", rec, out, err)
		}
		if len(got) != 3 {
			t.Fatalf("Append(%q) = %q reads back as %d cells", rec, out, len(got))
		}
		for i, cell := range got {
			// encoding/csv reads \r\n inside a quoted cell as \n.
			in := strings.ReplaceAll(rec[i], "\r\n", "\n")
			if cell != in && cell != "'"+in {
				t.Fatalf("cell %d: %q reads back as %q", i, rec[i], cell)
			}
			if dangerous(cell) {
				t.Fatalf("cell %d: %q reads back as %q, still a formula", i, rec[i], cell)
			}
		}
	})
}
