package evtx

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// BinXML value types (MS-EVEN6 2.2.18). vArray is OR-ed onto a scalar type
// for an array of it.
const (
	vNull      = 0x00
	vString    = 0x01
	vAnsi      = 0x02
	vInt8      = 0x03
	vUint8     = 0x04
	vInt16     = 0x05
	vUint16    = 0x06
	vInt32     = 0x07
	vUint32    = 0x08
	vInt64     = 0x09
	vUint64    = 0x0a
	vReal32    = 0x0b
	vReal64    = 0x0c
	vBool      = 0x0d
	vBinary    = 0x0e
	vGUID      = 0x0f
	vSizeT     = 0x10
	vFileTime  = 0x11
	vSysTime   = 0x12
	vSID       = 0x13
	vHex32     = 0x14
	vHex64     = 0x15
	vEvtHandle = 0x20
	vBinXML    = 0x21
	vEvtXML    = 0x23
	vArray     = 0x80

	// Internal pseudo-types for character and entity references.
	vCharRef   = 0x70
	vEntityRef = 0x71
)

// val is one typed value: its BinXML type and raw bytes (for entity
// references, the entity's name).
type val struct {
	typ  byte
	data []byte
	name string
}

// fixedSize returns the byte size of a scalar type, or 0 when the size is
// variable.
func fixedSize(t byte) int {
	switch t {
	case vInt8, vUint8:
		return 1
	case vInt16, vUint16:
		return 2
	case vInt32, vUint32, vReal32, vBool, vHex32:
		return 4
	case vInt64, vUint64, vReal64, vFileTime, vHex64, vSizeT:
		return 8
	case vGUID, vSysTime:
		return 16
	}
	return 0
}

// valueKind classifies how a value renders in JSON.
func isNumberType(t byte) bool {
	switch t {
	case vInt8, vUint8, vInt16, vUint16, vInt32, vUint32, vInt64, vUint64, vReal32, vReal64:
		return true
	}
	return false
}

// isNullValue reports whether a value piece renders as JSON null.
func isNullValue(n *val) bool {
	switch n.typ {
	case vNull, vEvtHandle, vEvtXML, vBinXML:
		return true
	case vCharRef, vEntityRef, vString, vAnsi, vBinary:
		return false
	}
	if n.typ&vArray != 0 {
		return false
	}
	if sz := fixedSize(n.typ); sz != 0 && len(n.data) < sz {
		// A truncated scalar (only when the declared size is smaller than
		// the type) renders as null.
		return !(n.typ == vSizeT && len(n.data) == 4) && !(n.typ == vBool && len(n.data) >= 1)
	}
	return n.typ == vSID && len(n.data) < 8
}

// appendValueJSON appends the JSON rendering of one value piece.
func appendValueJSON(dst []byte, n *val) []byte {
	if isNullValue(n) {
		return append(dst, "null"...)
	}
	t := n.typ
	if t&vArray != 0 {
		return appendArrayJSON(dst, t&^vArray, n.data)
	}
	switch {
	case isNumberType(t), t == vBool:
		return appendScalar(dst, t, n.data)
	}
	dst = append(dst, '"')
	dst = appendValueText(dst, n, true)
	return append(dst, '"')
}

// appendValueText appends the text form of a value piece; with esc set,
// JSON string escaping is applied.
func appendValueText(dst []byte, n *val, esc bool) []byte {
	t := n.typ
	d := n.data
	switch t {
	case vString:
		return appendUTF16Str(dst, d, esc)
	case vAnsi:
		return appendAnsi(dst, d, esc)
	case vCharRef:
		r := rune(binary.LittleEndian.Uint16(d))
		var tmp [4]byte
		return appendEsc(dst, utf8.AppendRune(tmp[:0], r), esc)
	case vEntityRef:
		return appendEsc(dst, entity(n.name), esc)
	}
	if isNullValue(n) {
		return dst
	}
	if t&vArray != 0 {
		// Text form of an array (only used when an array is concatenated
		// with other text): elements separated by commas.
		return appendArrayText(dst, t&^vArray, d, esc)
	}
	return appendScalar(dst, t, d)
}

func entity(name string) string {
	switch name {
	case "amp":
		return "&"
	case "lt":
		return "<"
	case "gt":
		return ">"
	case "quot":
		return `"`
	case "apos":
		return "'"
	}
	return "&" + name + ";"
}

// appendScalar appends the text of a fixed-size or special scalar; d holds
// at least its size (isNullValue guards).
func appendScalar(dst []byte, t byte, d []byte) []byte {
	le := binary.LittleEndian
	switch t {
	case vInt8:
		return strconv.AppendInt(dst, int64(int8(d[0])), 10)
	case vUint8:
		return strconv.AppendUint(dst, uint64(d[0]), 10)
	case vInt16:
		return strconv.AppendInt(dst, int64(int16(le.Uint16(d))), 10)
	case vUint16:
		return strconv.AppendUint(dst, uint64(le.Uint16(d)), 10)
	case vInt32:
		return strconv.AppendInt(dst, int64(int32(le.Uint32(d))), 10)
	case vUint32:
		return strconv.AppendUint(dst, uint64(le.Uint32(d)), 10)
	case vInt64:
		return strconv.AppendInt(dst, int64(le.Uint64(d)), 10)
	case vUint64:
		return strconv.AppendUint(dst, le.Uint64(d), 10)
	case vReal32:
		return appendFloat(dst, float64(math.Float32frombits(le.Uint32(d))), 32)
	case vReal64:
		return appendFloat(dst, math.Float64frombits(le.Uint64(d)), 64)
	case vBool:
		v := uint32(d[0])
		if len(d) >= 4 {
			v = le.Uint32(d)
		}
		if v != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case vBinary:
		const hexUpper = "0123456789ABCDEF"
		for _, c := range d {
			dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
		}
		return dst
	case vGUID:
		return appendGUID(dst, d)
	case vSizeT:
		if len(d) == 4 {
			return appendHex(dst, uint64(le.Uint32(d)))
		}
		return appendHex(dst, le.Uint64(d))
	case vHex32:
		return appendHex(dst, uint64(le.Uint32(d)))
	case vHex64:
		return appendHex(dst, le.Uint64(d))
	case vFileTime:
		return appendFileTime(dst, le.Uint64(d))
	case vSysTime:
		return appendSysTime(dst, d)
	case vSID:
		return appendSID(dst, d)
	}
	return dst
}

// appendFloat formats like serde_json (ryu): shortest round-trip digits,
// a ".0" on integral values, exponent form for very large or small ones.
// NaN and infinities have no JSON form; they render as null by the caller
// checking isFinite.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-5 || abs >= 1e16) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'e', -1, bits)
		// ryu writes 1e16 and 1.5e-7, Go writes 1e+16 and 1.5e-07.
		out := dst[start:]
		for i := 0; i < len(out); i++ {
			if out[i] == 'e' {
				j := i + 1
				neg := out[j] == '-'
				k := j + 1
				for k < len(out)-1 && out[k] == '0' {
					k++
				}
				exp := append([]byte(nil), out[k:]...)
				dst = dst[:start+j]
				if neg {
					dst = append(dst, '-')
				}
				return append(dst, exp...)
			}
		}
		return dst
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, bits)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

func appendHex(dst []byte, v uint64) []byte {
	dst = append(dst, '0', 'x')
	return strconv.AppendUint(dst, v, 16)
}

func appendGUID(dst []byte, d []byte) []byte {
	const hexUpper = "0123456789ABCDEF"
	// Data1, Data2 and Data3 are little-endian; Data4 is bytes in order.
	var out [36]byte
	order := [16]byte{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	j := 0
	for i, k := range order {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		c := d[k]
		out[j], out[j+1] = hexUpper[c>>4], hexUpper[c&15]
		j += 2
	}
	return append(dst, out[:]...)
}

func appendSID(dst []byte, d []byte) []byte {
	rev := d[0]
	n := int(d[1])
	var auth uint64
	for _, c := range d[2:8] {
		auth = auth<<8 | uint64(c)
	}
	dst = append(dst, 'S', '-')
	dst = strconv.AppendUint(dst, uint64(rev), 10)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, auth, 10)
	for i := 0; i < n && 8+4*i+4 <= len(d); i++ {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d[8+4*i:])), 10)
	}
	return dst
}

// appendFileTime renders a FILETIME as evtx_dump does: microsecond
// precision (the 100 ns remainder is truncated), RFC 3339 in UTC with the
// fraction omitted when zero and shortened to milliseconds when it is a
// whole number of them.
func appendFileTime(dst []byte, ft uint64) []byte {
	micros := ft / 10
	secs := int64(micros/1_000_000) - filetimeEpochDelta/10_000_000
	t := time.Unix(secs, 0).UTC()
	return appendRFC3339(dst, t, uint32(micros%1_000_000)*1000)
}

// appendSysTime renders a SYSTEMTIME (year, month, weekday, day, hour,
// minute, second, milliseconds as uint16).
func appendSysTime(dst []byte, d []byte) []byte {
	le := binary.LittleEndian
	y, mo, da := int(le.Uint16(d)), int(le.Uint16(d[2:])), int(le.Uint16(d[6:]))
	h, mi, s, ms := int(le.Uint16(d[8:])), int(le.Uint16(d[10:])), int(le.Uint16(d[12:])), int(le.Uint16(d[14:]))
	t := time.Date(y, time.Month(mo), da, h, mi, s, 0, time.UTC)
	return appendRFC3339(dst, t, uint32(ms%1000)*1_000_000)
}

func appendRFC3339(dst []byte, t time.Time, nanos uint32) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y >= 0 && y <= 9999 {
		dst = append2(dst, y/100)
		dst = append2(dst, y%100)
	} else {
		dst = strconv.AppendInt(dst, int64(y), 10)
	}
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	switch {
	case nanos == 0:
	case nanos%1_000_000 == 0:
		dst = append(dst, '.')
		dst = appendDigits(dst, nanos/1_000_000, 3)
	case nanos%1000 == 0:
		dst = append(dst, '.')
		dst = appendDigits(dst, nanos/1000, 6)
	default:
		dst = append(dst, '.')
		dst = appendDigits(dst, nanos, 9)
	}
	return append(dst, 'Z')
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

func appendDigits(dst []byte, v uint32, n int) []byte {
	var tmp [9]byte
	for i := n - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, tmp[:n]...)
}

// plainASCII marks the ASCII bytes that JSON strings carry unescaped.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendUTF16Str appends a UTF-16LE string without its trailing NULs,
// escaped for JSON when esc is set (serde_json's escaping: quote,
// backslash and control characters only).
func appendUTF16Str(dst, b []byte, esc bool) []byte {
	n := len(b) &^ 1
	for n >= 2 && b[n-2] == 0 && b[n-1] == 0 {
		n -= 2
	}
	b = b[:n]
	// One code unit (2 bytes) becomes at most 6 bytes (an escape), and a
	// surrogate pair (4 bytes) 4: growing by 3n once lets the loop write
	// by index.
	dst = slices.Grow(dst, 3*n)
	out := dst[:cap(dst)]
	j := len(dst)
	const lanes = 0x0001000100010001
	for i := 0; i < n; {
		// Four code units at a time while they are plain ASCII: every high
		// byte zero, every low byte in 0x20..0x7f and neither '"' nor '\\'.
		if esc && i+8 <= n {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&0xff80ff80ff80ff80 == 0 && (w-0x20*lanes)&(0x8000*lanes) == 0 {
				if !hasZeroLane(w^('"'*lanes)) && !hasZeroLane(w^('\\'*lanes)) {
					o := out[j : j+4]
					o[0], o[1], o[2], o[3] = byte(w), byte(w>>16), byte(w>>32), byte(w>>48)
					j += 4
					i += 8
					continue
				}
				// Printable ASCII with a quote or backslash (Windows
				// paths): escape those in place.
				for k := range 4 {
					c := byte(w >> (16 * k))
					if c == '"' || c == '\\' {
						out[j] = '\\'
						j++
					}
					out[j] = c
					j++
				}
				i += 8
				continue
			}
		}
		lo, hi := b[i], b[i+1]
		i += 2
		if hi == 0 && lo < utf8.RuneSelf {
			if !esc || plainASCII[lo] {
				out[j] = lo
				j++
			} else {
				j += copy(out[j:], escapeSeq(lo))
			}
			continue
		}
		c := rune(lo) | rune(hi)<<8
		if utf16.IsSurrogate(c) {
			r := utf8.RuneError
			if c < 0xdc00 && i+2 <= n {
				if r2 := utf16.DecodeRune(c, rune(b[i])|rune(b[i+1])<<8); r2 != utf8.RuneError {
					r = r2
					i += 2
				}
			}
			c = r
		}
		j += utf8.EncodeRune(out[j:], c)
	}
	return out[:j]
}

// escapeSeq returns the JSON escape of an ASCII byte that needs one.
func escapeSeq(c byte) []byte {
	return escapes[c][1 : 1+escapes[c][0]]
}

// escapes holds, for each ASCII byte, its JSON escape prefixed by its
// length (zero for bytes that need none).
var escapes = func() (t [128][7]byte) {
	for c := range 128 {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		e := appendEscByte(nil, byte(c))
		t[c][0] = byte(len(e))
		copy(t[c][1:], e)
	}
	return t
}()

// appendAnsi appends an ANSI (Windows-1252) string without trailing NULs.
func appendAnsi(dst, b []byte, esc bool) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	for _, c := range b {
		switch {
		case c < utf8.RuneSelf:
			if esc && (c < 0x20 || c == '"' || c == '\\') {
				dst = appendEscByte(dst, c)
			} else {
				dst = append(dst, c)
			}
		case c >= 0x80 && c < 0xa0:
			dst = utf8.AppendRune(dst, cp1252[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

// cp1252 maps 0x80..0x9f of Windows-1252; undefined positions map to the
// C1 control of the same value, as the WHATWG encoding does.
var cp1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
}

// appendEsc appends UTF-8 text, escaped for JSON when esc is set.
func appendEsc[T string | []byte](dst []byte, s T, esc bool) []byte {
	if !esc {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' {
			dst = appendEscByte(dst, c)
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

func appendEscByte(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
}

// arrayElems calls fn for each element of an array value of element type
// t stored in d.
func arrayElems(t byte, d []byte, fn func(n *val)) {
	var el val
	el.typ = t
	switch t {
	case vString:
		// NUL-separated UTF-16 strings.
		start := 0
		for i := 0; i+1 < len(d); i += 2 {
			if d[i] == 0 && d[i+1] == 0 {
				el.data = d[start:i]
				fn(&el)
				start = i + 2
			}
		}
		if start < len(d)-1 {
			el.data = d[start:]
			fn(&el)
		}
		return
	case vAnsi:
		start := 0
		for i := 0; i < len(d); i++ {
			if d[i] == 0 {
				el.data = d[start:i]
				fn(&el)
				start = i + 1
			}
		}
		if start < len(d) {
			el.data = d[start:]
			fn(&el)
		}
		return
	case vSID:
		for len(d) >= 8 {
			sz := 8 + 4*int(d[1])
			if sz > len(d) {
				sz = len(d)
			}
			el.data = d[:sz]
			fn(&el)
			d = d[sz:]
		}
		return
	}
	sz := fixedSize(t)
	if sz == 0 {
		return
	}
	for len(d) >= sz {
		el.data = d[:sz]
		fn(&el)
		d = d[sz:]
	}
}

func appendArrayJSON(dst []byte, t byte, d []byte) []byte {
	dst = append(dst, '[')
	first := true
	arrayElems(t, d, func(el *val) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendValueJSON(dst, el)
	})
	return append(dst, ']')
}

func appendArrayText(dst []byte, t byte, d []byte, esc bool) []byte {
	first := true
	arrayElems(t, d, func(el *val) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendValueText(dst, el, esc)
	})
	return dst
}

// isSpace16 reports whether the UTF-16 code unit c is white space (the
// Unicode White_Space property, all of which is in the BMP).
func isSpace16(c uint16) bool {
	switch {
	case c == ' ', c >= '\t' && c <= '\r':
		return true
	case c < 0x85:
		return false
	}
	return unicode.IsSpace(rune(c))
}

// trimUTF16 strips trailing NULs and then white space at both ends of a
// UTF-16LE string.
func trimUTF16(b []byte) []byte {
	n := len(b) &^ 1
	for n >= 2 && b[n-2] == 0 && b[n-1] == 0 {
		n -= 2
	}
	for n >= 2 && isSpace16(uint16(b[n-2])|uint16(b[n-1])<<8) {
		n -= 2
	}
	s := 0
	for s < n && isSpace16(uint16(b[s])|uint16(b[s+1])<<8) {
		s += 2
	}
	return b[s:n]
}

// appendTextValueJSON renders one piece of element text: like
// appendValueJSON, but string text has its surrounding white space
// trimmed, as the evtx_dump renderings in the regression data show.
func appendTextValueJSON(dst []byte, n *val) []byte {
	switch n.typ {
	case vString:
		dst = append(dst, '"')
		dst = appendUTF16Str(dst, trimUTF16(n.data), true)
		return append(dst, '"')
	case vAnsi:
		d := n.data
		for len(d) > 0 && d[len(d)-1] == 0 {
			d = d[:len(d)-1]
		}
		d = bytes.TrimFunc(d, func(r rune) bool { return r < 0x80 && unicode.IsSpace(r) })
		dst = append(dst, '"')
		dst = appendAnsi(dst, d, true)
		return append(dst, '"')
	}
	return appendValueJSON(dst, n)
}

// hasZeroLane reports whether a 16-bit lane of w is zero (for lanes below
// 0x8000, as the callers guarantee).
func hasZeroLane(w uint64) bool {
	const lanes = 0x0001000100010001
	return (w-lanes)&^w&(0x8000*lanes) != 0
}
