package jsonscan

import (
	"errors"
	"strings"
	"testing"
)

// refEnd is the plain byte-at-a-time definition End must agree with:
// track strings, escapes and depth.
func refEnd(b []byte, maxDepth int) (int, error) {
	depth, inStr, escaped := 0, false, false
	for i, c := range b {
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
			if maxDepth > 0 && depth > maxDepth {
				return 0, ErrTooDeep
			}
		case c == '}' || c == ']':
			depth--
			if depth <= 0 {
				return i + 1, nil
			}
		}
	}
	return 0, nil
}

func TestEnd(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     int
		wantErr  error
	}{
		{"empty object", `{}`, 0, 2, nil},
		{"empty array", `[] trailing`, 0, 2, nil},
		{"object", `{"a":1,"b":[1,2,{"c":null}]}{"next":1}`, 0, 28, nil},
		{"brackets in strings", `{"a":"}]{[","b":"x"}`, 0, 20, nil},
		{"escaped quote", `{"a":"say \"}\""}`, 0, 17, nil},
		{"escaped backslash before quote", `{"a":"C:\\"}x`, 0, 12, nil},
		{"three backslashes", `{"a":"\\\"}"} `, 0, 13, nil},
		{"unicode escape", `{"a":"\u0022}"}`, 0, 15, nil},
		{"unterminated object", `{"a":[1,2]`, 0, 0, nil},
		{"unterminated string", `{"a":"}`, 0, 0, nil},
		{"mismatched brackets close", `{"a":[1}]`, 0, 9, nil},
		{"depth at the bound", `[[[1]]]`, 3, 7, nil},
		{"depth past the bound", `[[[[1]]]]`, 3, 0, ErrTooDeep},
		{"no bound", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), 0, 20000, nil},
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\xfe\"}", 0, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := Scanner{MaxDepth: tt.max}
			got, err := sc.End([]byte(tt.in))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("End(%q): got %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if rg, rerr := refEnd([]byte(tt.in), tt.max); rg != got || !errors.Is(err, rerr) {
				t.Errorf("End(%q) = %d, %v, but the reference gives %d, %v", tt.in, got, err, rg, rerr)
			}
			// Fed a byte at a time, the scan goes on where it stopped.
			var inc Scanner
			inc.MaxDepth = tt.max
			got = 0
			err = nil
			for n := 1; n <= len(tt.in) && got == 0 && err == nil; n++ {
				got, err = inc.End([]byte(tt.in[:n]))
			}
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("End fed byte by byte: got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestEndResets(t *testing.T) {
	sc := Scanner{MaxDepth: 2}
	if _, err := sc.End([]byte(`[[["deep`)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("got %v, want ErrTooDeep", err)
	}
	if n, err := sc.End([]byte(`{"a":"b"}`)); n != 9 || err != nil {
		t.Errorf("after an error: got %d, %v; want 9, nil", n, err)
	}
	if n, _ := sc.End([]byte(`{"a":"`)); n != 0 || sc.Scanned() != 6 {
		t.Fatalf("partial value: got %d, scanned %d; want 0, 6", n, sc.Scanned())
	}
	sc.Reset()
	if n, err := sc.End([]byte(`[1]`)); n != 3 || err != nil || sc.Scanned() != 0 {
		t.Errorf("after Reset: got %d, %v, scanned %d; want 3, nil, 0", n, err, sc.Scanned())
	}
}

func TestStringEnd(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{`"abc" x`, 5, true},
		{`""`, 2, true},
		{`"a\"b"`, 6, true},
		{`"a\\"b"`, 5, true},
		{`"a\\\"b"`, 8, true},
		{`"abc`, 0, false},
		{`"abc\"`, 0, false},
	}
	for _, tt := range tests {
		got, ok := StringEnd([]byte(tt.in), 0)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("StringEnd(%q): got %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
	if got, ok := StringEnd([]byte(`x\"ab"`), 2); got != 6 || !ok {
		t.Errorf("StringEnd from an offset after backslashes: got %d, %v; want 6, true", got, ok)
	}
}

func FuzzEnd(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"}\"{"}`, `[[["x"]],{"\\":1}]`, `{"a":"\\\\"}`, `{"unterminated`, `[[[[[[1]]]]]]`} {
		f.Add([]byte(s), uint8(3), uint8(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk, maxDepth uint8) {
		if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
			return
		}
		want, wantErr := refEnd(data, int(maxDepth))
		sc := Scanner{MaxDepth: int(maxDepth)}
		got, err := sc.End(data)
		if got != want || !errors.Is(err, wantErr) {
			t.Fatalf("End(%q): got %d, %v; reference %d, %v", data, got, err, want, wantErr)
		}
		// In pieces of chunk bytes, the result is the same.
		step := int(chunk)%16 + 1
		inc := Scanner{MaxDepth: int(maxDepth)}
		got, err = 0, nil
		for n := step; got == 0 && err == nil; n += step {
			got, err = inc.End(data[:min(n, len(data))])
			if n >= len(data) {
				break
			}
		}
		if got != want || !errors.Is(err, wantErr) {
			t.Fatalf("End(%q) in pieces of %d: got %d, %v; reference %d, %v", data, step, got, err, want, wantErr)
		}
	})
}

func BenchmarkEnd(b *testing.B) {
	rec := []byte(`{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Computer":"ws1"},"EventData":{"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c \"whoami /all\"","User":"CORP\\alice"}}}`)
	b.SetBytes(int64(len(rec)))
	var sc Scanner
	for b.Loop() {
		if n, _ := sc.End(rec); n != len(rec) {
			b.Fatal(n)
		}
	}
}
