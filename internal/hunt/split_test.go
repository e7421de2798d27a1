package hunt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
)

// splitAll runs readJSON over r and returns the records and the error.
func splitAll(r io.Reader) ([]string, error) {
	var got []string
	err := readJSON(bufio.NewReaderSize(r, 16), func(recs []ingest.Raw) bool {
		for _, rec := range recs {
			got = append(got, string(rec.Data))
		}
		return true
	})
	return got, err
}

// refSplit is the plain byte-at-a-time definition the splitter must agree
// with: track strings, escapes and depth; between objects allow white
// space and array punctuation.
func refSplit(in []byte) ([]string, error) {
	var (
		out            []string
		start, depth   int
		inStr, escaped bool
	)
	for i, c := range in {
		if depth == 0 {
			switch c {
			case '{':
				depth, start = 1, i
			case '[', ']', ',', ' ', '\t', '\r', '\n':
			default:
				return out, fmt.Errorf("unexpected %q between JSON objects", c)
			}
			continue
		}
		switch {
		case inStr:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				out = append(out, string(in[start:i+1]))
			}
		}
	}
	if depth != 0 {
		return out, errors.New("truncated JSON object at end of file")
	}
	return out, nil
}

func TestSplitJSON(t *testing.T) {
	long := `{"CommandLine":"` + strings.Repeat(`C:\\Windows\\`, 200_000) + `"}`
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "one object", in: `{"a":1}`, want: []string{`{"a":1}`}},
		{name: "array", in: "[\n {\"a\":1},\n {\"b\":[1,{\"c\":2}]}\n]\n", want: []string{`{"a":1}`, `{"b":[1,{"c":2}]}`}},
		{name: "lines", in: "{\"a\":1}\r\n{\"a\":2}\n\n{\"a\":3}", want: []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}},
		{name: "concatenated", in: `{"a":1}{"a":2} {"a":3}`, want: []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}},
		{name: "pretty", in: "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n", want: []string{"{\n  \"a\": {\n    \"b\": 1\n  }\n}"}},
		{name: "braces in strings", in: `{"x":"}{]["}{"y":"\"}"}`, want: []string{`{"x":"}{]["}`, `{"y":"\"}"}`}},
		{name: "escaped backslash before quote", in: `{"p":"C:\\"}{"q":"\\\"}\\"}`, want: []string{`{"p":"C:\\"}`, `{"q":"\\\"}\\"}`}},
		{name: "record larger than the buffer", in: long + "\n" + `{"z":0}`, want: []string{long, `{"z":0}`}},
		{name: "empty", in: " \n", want: nil},
		{name: "garbage between", in: `{"a":1} x {"a":2}`, want: []string{`{"a":1}`}, err: `unexpected 'x' between JSON objects`},
		{name: "truncated", in: `{"a":1}{"a":"}`, want: []string{`{"a":1}`}, err: "truncated JSON object at end of file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return strings.NewReader(tc.in) },
				"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tc.in)) },
			}
			for rn, r := range readers {
				if rn == "one byte" && len(tc.in) > 1<<16 {
					continue // the same boundaries, just slower
				}
				got, err := splitAll(r())
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s: records (-want +got):\n%.3000s", rn, diff)
				}
				if msg := fmt.Sprint(err); (tc.err == "" && err != nil) || (tc.err != "" && msg != tc.err) {
					t.Errorf("%s: err = %v, want %q", rn, err, tc.err)
				}
			}
		})
	}
}

func TestSplitJSONTooLarge(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"a":"`), &repeatReader{b: 'x', n: maxRecord + 1})
	_, err := splitAll(r)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

// FuzzSplitJSON checks the splitter against the byte-at-a-time
// definition, reading whole and one byte at a time.
func FuzzSplitJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "[{\"a\":\"}\"},{\"b\":[{}]}]", `{"a":"\\"}{"b":"\""}`, "{\"a\":1}\n{", `{}{}x`, `]]{"a":[}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := refSplit(in)
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			got, err := splitAll(r)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("records differ from the reference (-want +got):\n%s", diff)
			}
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("err = %v, reference %v", err, wantErr)
			}
		}
	})
}

func BenchmarkSplitJSON(b *testing.B) {
	var buf bytes.Buffer
	rec := `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1"},"EventData":{"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c \"whoami /all\"","ParentImage":"C:\\Windows\\explorer.exe","User":"CORP\\alice","Hashes":"SHA256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}}}` + "\n"
	for buf.Len() < 8<<20 {
		buf.WriteString(rec)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := readJSON(bufio.NewReader(bytes.NewReader(data)), func(recs []ingest.Raw) bool { n += len(recs); return true })
		if err != nil || n == 0 {
			b.Fatal(err, n)
		}
	}
}
