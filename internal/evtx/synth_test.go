package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// readAll renders every record of an in-memory file and collects the
// errors reported.
func readAll(t testing.TB, data []byte) (recs []string, errs []error) {
	t.Helper()
	f, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	for r, err := range f.All() {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, string(r.AppendJSON(nil)))
	}
	return recs, errs
}

// dataTemplate is <Event><EventData><Data Name="v">%0</Data></EventData></Event>.
func dataTemplate(typ byte) func(x *bx) {
	return func(x *bx) {
		x.open("Event", false)
		x.closeStart()
		x.open("EventData", false)
		x.closeStart()
		x.open("Data", true)
		x.attr("Name")
		x.text("v")
		x.closeStart()
		x.subst(0, typ, false)
		x.end()
		x.end()
		x.end()
	}
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestValueTypes(t *testing.T) {
	guid := []byte{0x5f, 0x38, 0x70, 0x57, 0x2a, 0xc2, 0xe0, 0x43, 0xbf, 0x4c, 0x06, 0xf5, 0x69, 0x8f, 0xfb, 0xd9}
	sid := append([]byte{1, 4, 0, 0, 0, 0, 0, 5}, append(le32(21), append(le32(1), append(le32(2), le32(3)...)...)...)...)
	systime := append(append(append(append(le16(2021), le16(5)...), le16(3)...), le16(12)...), append(append(append(le16(9), le16(46)...), le16(6)...), le16(123)...)...)
	// 2021-05-12T09:46:06.1234567Z as FILETIME.
	ft := uint64(1620812766)*10_000_000 + filetimeEpochDelta + 1234567
	tests := []struct {
		name string
		typ  byte
		data []byte
		want string
	}{
		{"string with NUL", vString, utf16le("hello\x00"), `"hello"`},
		{"string escaped", vString, utf16le("a\"b\\c\nd\u0001é😀"), `"a\"b\\c\nd\u0001é😀"`},
		{"string trimmed", vString, utf16le("  padded \t"), `"padded"`},
		{"empty string", vString, nil, `""`},
		{"unpaired surrogate", vString, []byte{0x00, 0xd8, 'a', 0}, "\"\uFFFDa\""},
		{"ansi", vAnsi, []byte("abc\x80\x00"), `"abc€"`},
		{"int8", vInt8, []byte{0xff}, `-1`},
		{"uint8", vUint8, []byte{0xff}, `255`},
		{"int16", vInt16, le16(0xfffe), `-2`},
		{"uint16", vUint16, le16(65535), `65535`},
		{"int32", vInt32, le32(0xfffffffd), `-3`},
		{"uint32", vUint32, le32(4000000000), `4000000000`},
		{"int64", vInt64, le64(math.MaxUint64 - 4), `-5`},
		{"uint64", vUint64, le64(math.MaxUint64), `18446744073709551615`},
		{"real32", vReal32, le32(math.Float32bits(1.5)), `1.5`},
		{"real32 integral", vReal32, le32(math.Float32bits(2)), `2.0`},
		{"real64", vReal64, le64(math.Float64bits(0.1)), `0.1`},
		{"real64 tiny", vReal64, le64(math.Float64bits(1.5e-7)), `1.5e-7`},
		{"real64 NaN", vReal64, le64(math.Float64bits(math.NaN())), `null`},
		{"bool true", vBool, le32(1), `true`},
		{"bool false", vBool, le32(0), `false`},
		{"binary", vBinary, []byte{0x01, 0xab}, `"01AB"`},
		{"guid", vGUID, guid, `"5770385F-C22A-43E0-BF4C-06F5698FFBD9"`},
		{"size_t 64", vSizeT, le64(0x10), `"0x10"`},
		{"size_t 32", vSizeT, le32(0xff), `"0xff"`},
		{"filetime", vFileTime, le64(ft), `"2021-05-12T09:46:06.123456Z"`},
		{"filetime ms", vFileTime, le64(ft - 34567), `"2021-05-12T09:46:06.120Z"`},
		{"filetime whole", vFileTime, le64(ft - 1234567), `"2021-05-12T09:46:06Z"`},
		{"systime", vSysTime, systime, `"2021-05-12T09:46:06.123Z"`},
		{"sid", vSID, sid, `"S-1-5-21-1-2-3"`},
		{"hex32", vHex32, le32(0x1fffff), `"0x1fffff"`},
		{"hex64", vHex64, le64(0x8000000000000000), `"0x8000000000000000"`},
		{"string array", vString | vArray, utf16le("a\x00b\x00"), `["a","b"]`},
		{"uint16 array", vUint16 | vArray, append(le16(1), le16(2)...), `[1,2]`},
		{"guid array", vGUID | vArray, append(append([]byte{}, guid...), guid...), `["5770385F-C22A-43E0-BF4C-06F5698FFBD9","5770385F-C22A-43E0-BF4C-06F5698FFBD9"]`},
		{"null", vNull, nil, `null`},
		{"short uint32", vUint32, []byte{1, 2}, `null`},
		{"evt handle", vEvtHandle, le64(1), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := buildFile(func(x *bx) {
				x.fragment()
				x.template(dataTemplate(tt.typ), []sub{{typ: tt.typ, data: tt.data}})
				x.eof()
			})
			recs, errs := readAll(t, data)
			if len(errs) != 0 || len(recs) != 1 {
				t.Fatalf("got %d records and errors %v, want 1 record", len(recs), errs)
			}
			want := `{"Event":{"EventData":{"v":` + tt.want + `}}}`
			if recs[0] != want {
				t.Errorf("got %s, want %s", recs[0], want)
			}
		})
	}
}

func TestStructure(t *testing.T) {
	var defOff int
	tests := []struct {
		name  string
		build func(x *bx)
		want  string
	}{
		{
			name: "attributes and text",
			build: func(x *bx) {
				x.open("Event", false)
				x.closeStart()
				x.open("A", true)
				x.attr("x")
				x.text("1")
				x.closeStart()
				x.text("t")
				x.end()
				x.open("B", false)
				x.closeEmpty()
				x.end()
			},
			want: `{"Event":{"A":{"#attributes":{"x":"1"},"#text":"t"},"B":null}}`,
		},
		{
			name: "text pieces are concatenated",
			build: func(x *bx) {
				x.open("Event", false)
				x.closeStart()
				x.text("a")
				x.entityRef("amp")
				x.charRef('b')
				x.cdata("<c>")
				x.end()
			},
			want: `{"Event":"a&b<c>"}`,
		},
		{
			name: "unnamed Data elements",
			build: func(x *bx) {
				x.open("EventData", false)
				x.closeStart()
				for _, s := range []string{"a", "b"} {
					x.open("Data", false)
					x.closeStart()
					x.text(s)
					x.end()
				}
				x.open("Binary", false)
				x.closeStart()
				x.text("00")
				x.end()
				x.end()
			},
			want: `{"EventData":{"Data":{"#text":["a","b"]},"Binary":"00"}}`,
		},
		{
			name: "names needing escapes",
			build: func(x *bx) {
				x.open("E\"1", true)
				x.attr("a\\b")
				x.text("v")
				x.closeStart()
				x.open("tab\tname", false)
				x.closeEmpty()
				x.end()
			},
			want: `{"E\"1":{"#attributes":{"a\\b":"v"},"tab\tname":null}}`,
		},
		{
			name: "repeated names",
			build: func(x *bx) {
				x.open("E", false)
				x.closeStart()
				for _, s := range []string{"a", "b", "c"} {
					x.open("X", false)
					x.closeStart()
					x.text(s)
					x.end()
				}
				x.end()
			},
			want: `{"E":{"X":"a","X_1":"b","X_2":"c"}}`,
		},
		{
			name: "optional null substitution drops the attribute",
			build: func(x *bx) {
				x.fragment()
				x.template(func(x *bx) {
					x.open("Correlation", true)
					x.attr("ActivityID")
					x.subst(0, vGUID, true)
					x.attr("Other")
					x.subst(1, vUint8, true)
					x.closeEmpty()
				}, []sub{{typ: vNull}, {typ: vUint8, data: []byte{7}}})
				x.eof()
			},
			want: `{"Correlation":{"#attributes":{"Other":7}}}`,
		},
		{
			name: "nested binxml",
			build: func(x *bx) {
				x.fragment()
				x.template(func(x *bx) {
					x.open("Event", false)
					x.closeStart()
					x.open("UserData", false)
					x.closeStart()
					x.subst(0, vBinXML, false)
					x.end()
					x.end()
				}, []sub{{nested: func(x *bx) {
					x.fragment()
					x.template(func(x *bx) {
						x.open("Op", true)
						x.attr("xmlns")
						x.text("urn:x")
						x.closeStart()
						x.open("N", false)
						x.closeStart()
						x.subst(0, vUint32, false)
						x.end()
						x.end()
					}, []sub{{typ: vUint32, data: le32(42)}})
					x.eof()
				}}})
				x.eof()
			},
			want: `{"Event":{"UserData":{"Op":{"#attributes":{"xmlns":"urn:x"},"N":42}}}}`,
		},
		{
			name: "template defined once, used by reference",
			build: func(x *bx) {
				x.fragment()
				defOff = x.pos() + 10
				x.template(dataTemplate(vUint16), []sub{{typ: vUint16, data: le16(1)}})
				x.eof()
				x.fragment()
				x.templateRef(defOff, []sub{{typ: vUint16, data: le16(2)}})
				x.eof()
			},
			want: `{"Event":{"EventData":{"v":1}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := readAll(t, buildFile(tt.build))
			if len(errs) != 0 || len(recs) != 1 {
				t.Fatalf("got %d records and errors %v, want 1 record", len(recs), errs)
			}
			if recs[0] != tt.want {
				t.Errorf("got %s, want %s", recs[0], tt.want)
			}
		})
	}
}

func TestTemplateReuseAcrossRecords(t *testing.T) {
	var defOff int
	data := buildFile(func(x *bx) {
		x.fragment()
		defOff = x.pos() + 10
		x.template(dataTemplate(vUint16), []sub{{typ: vUint16, data: le16(1)}})
		x.eof()
	}, func(x *bx) {
		x.fragment()
		x.templateRef(defOff, []sub{{typ: vUint16, data: le16(2)}})
		x.eof()
	})
	recs, errs := readAll(t, data)
	want := []string{`{"Event":{"EventData":{"v":1}}}`, `{"Event":{"EventData":{"v":2}}}`}
	if len(errs) != 0 || strings.Join(recs, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q (errors %v), want %q", recs, errs, want)
	}
}

// TestHostile checks that crafted records fail cleanly (an error for the
// record, the next record still read) instead of hanging or exhausting
// memory.
func TestHostile(t *testing.T) {
	good := func(x *bx) {
		x.fragment()
		x.template(dataTemplate(vUint8), []sub{{typ: vUint8, data: []byte{1}}})
		x.eof()
	}
	// A template that uses its BinXML value 200 times, nested 6 deep:
	// 200^6 elements if expanded.
	bomb := func(x *bx) {
		body := func(x *bx) {
			x.open("E", false)
			x.closeStart()
			for range 200 {
				x.subst(0, vBinXML, false)
			}
			x.end()
		}
		var level func(x *bx, d int)
		level = func(x *bx, d int) {
			x.fragment()
			if d == 0 {
				x.open("L", false)
				x.closeEmpty()
			} else {
				x.template(body, []sub{{nested: func(x *bx) { level(x, d-1) }}})
			}
			x.eof()
		}
		level(x, 6)
	}
	tests := []struct {
		name  string
		build func(x *bx)
		want  error
	}{
		{"expansion bomb", bomb, errRecordTooComplex},
		{"name offset out of chunk", func(x *bx) {
			x.u8(tokOpenStart)
			x.u16(0xffff)
			x.u32(0)
			x.u32(0x7fffffff)
		}, nil},
		{"huge substitution count", func(x *bx) {
			x.fragment()
			x.template(dataTemplate(vUint8), nil)
			x.b = x.b[:len(x.b)-4]
			x.u32(0x7fffffff)
		}, nil},
		{"template offset out of chunk", func(x *bx) {
			x.fragment()
			x.templateRef(0xfffff0, nil)
		}, nil},
		{"substitution outside template", func(x *bx) { x.subst(0, vString, false) }, errBadToken},
		{"end without start", func(x *bx) { x.end() }, errBadToken},
		{"unknown token", func(x *bx) { x.u8(0x3f) }, errBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := readAll(t, buildFile(tt.build, good))
			if len(recs) != 1 {
				t.Errorf("got %d records, want 1 (the good one after the bad one)", len(recs))
			}
			if len(errs) != 1 {
				t.Fatalf("got errors %v, want 1", errs)
			}
			var ce *CorruptError
			if !errors.As(errs[0], &ce) || ce.Record != 1 || ce.Chunk != 0 {
				t.Errorf("got error %v, want a CorruptError for chunk 0 record 1", errs[0])
			}
			if tt.want != nil && !errors.Is(errs[0], tt.want) {
				t.Errorf("got error %v, want %v", errs[0], tt.want)
			}
			if !strings.Contains(errs[0].Error(), "chunk 0 record 1 at offset 0x1200") {
				t.Errorf("error %q does not say where", errs[0])
			}
		})
	}
}

// TestAppendUTF16Str checks the word-at-a-time fast path against a plain
// reference on random strings.
func TestAppendUTF16Str(t *testing.T) {
	alphabet := []rune{'a', 'Z', '0', ' ', '~', 0x7f, '"', '\\', '\n', '\t', 0x01, 0x1f, 'é', '€', '😀', 0xfffd}
	ref := func(s string) string {
		var b []byte
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				b = append(b, '\\', byte(r))
			case r < 0x20:
				b = appendEscByte(b, byte(r))
			default:
				b = utf8.AppendRune(b, r)
			}
		}
		return string(b)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		var sb strings.Builder
		for range rng.IntN(40) {
			if rng.IntN(3) == 0 {
				sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteByte(byte('a' + rng.IntN(26)))
			}
		}
		s := sb.String()
		got := string(appendUTF16Str(nil, utf16le(s), true))
		if want := ref(s); got != want {
			t.Fatalf("case %d: appendUTF16Str(%q) = %q, want %q", i, s, got, want)
		}
	}
}

// TestCompiledTemplates checks that replaying compiled templates builds
// the same records as walking their tokens.
func TestCompiledTemplates(t *testing.T) {
	data := sysmonLikeFile(24)
	render := func() []string {
		var out []string
		f, err := FromBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		for r, err := range f.All() {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(r.AppendJSON(nil))+string(r.AppendXML(nil)))
		}
		return out
	}
	compiled := render()
	compileTemplates = false
	defer func() { compileTemplates = true }()
	walked := render()
	if len(compiled) != 24 {
		t.Fatalf("got %d records, want 24", len(compiled))
	}
	for i := range walked {
		if compiled[i] != walked[i] {
			t.Errorf("record %d: compiled template gave\n%s\nwalking it gave\n%s", i, compiled[i], walked[i])
		}
	}
}
