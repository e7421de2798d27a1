package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// modClass groups modifiers by what they do.
type modClass uint8

const (
	modMethod    modClass = iota // selects the matching method
	modFlag                      // all, cased, neq, expand, fieldref
	modTransform                 // rewrites string values
	modReFlag                    // i, m, s (with re)
	modTime                      // minute ... year
)

type modInfo struct {
	class  modClass
	method Method
	flag   ReFlags
	time   TimePart
	canon  string // canonical name (for aliases)
}

// modifiers is the set of value modifiers of Sigma 2.1 (see the
// specification's modifier appendix), plus the long re flag names pySigma
// accepts.
var modifiers = map[string]modInfo{
	"contains":     {class: modMethod, method: MethodContains},
	"startswith":   {class: modMethod, method: MethodStartsWith},
	"endswith":     {class: modMethod, method: MethodEndsWith},
	"re":           {class: modMethod, method: MethodRegexp},
	"cidr":         {class: modMethod, method: MethodCIDR},
	"exists":       {class: modMethod, method: MethodExists},
	"lt":           {class: modMethod, method: MethodLT},
	"lte":          {class: modMethod, method: MethodLTE},
	"gt":           {class: modMethod, method: MethodGT},
	"gte":          {class: modMethod, method: MethodGTE},
	"all":          {class: modFlag},
	"cased":        {class: modFlag},
	"neq":          {class: modFlag},
	"expand":       {class: modFlag},
	"fieldref":     {class: modFlag},
	"base64":       {class: modTransform},
	"base64offset": {class: modTransform},
	"utf16le":      {class: modTransform},
	"utf16be":      {class: modTransform},
	"utf16":        {class: modTransform},
	"wide":         {class: modTransform, canon: "utf16le"},
	"windash":      {class: modTransform},
	"i":            {class: modReFlag, flag: ReIgnoreCase},
	"ignorecase":   {class: modReFlag, flag: ReIgnoreCase, canon: "i"},
	"m":            {class: modReFlag, flag: ReMultiLine},
	"multiline":    {class: modReFlag, flag: ReMultiLine, canon: "m"},
	"s":            {class: modReFlag, flag: ReDotAll},
	"dotall":       {class: modReFlag, flag: ReDotAll, canon: "s"},
	"minute":       {class: modTime, time: TimeMinute},
	"hour":         {class: modTime, time: TimeHour},
	"day":          {class: modTime, time: TimeDay},
	"week":         {class: modTime, time: TimeWeek},
	"month":        {class: modTime, time: TimeMonth},
	"year":         {class: modTime, time: TimeYear},
}

// Modifiers returns the names of all value modifiers Vigil understands.
func Modifiers() []string {
	out := make([]string, 0, len(modifiers))
	for k := range modifiers {
		out = append(out, k)
	}
	return out
}

// maxExpansions bounds the alternatives one value may expand into (windash
// permutations times placeholder values).
const maxExpansions = 4096

// modPos returns the position of the i-th modifier in a key written at pos.
func modPos(key string, pos Pos, quoted bool, idx int) Pos {
	if !pos.IsValid() {
		return pos
	}
	off := 0
	for i := 0; i <= idx; i++ {
		j := strings.IndexByte(key[off:], '|')
		if j < 0 {
			break
		}
		off += j + 1
	}
	col := pos.Col + off
	if quoted {
		col++
	}
	return Pos{Line: pos.Line, Col: col}
}

// parseItem builds a FieldItem from a "field|mods" key and its YAML value.
func (b *builder) parseItem(key ykey, keyword bool) (*FieldItem, error) {
	parts := strings.Split(key.name, "|")
	it := &FieldItem{Field: parts[0], Pos: key.pos}
	if len(parts) > 1 {
		it.Modifiers = parts[1:]
	}
	if it.Field == "" && len(parts) == 1 && !keyword {
		return nil, b.errorf(key.pos, "empty field name")
	}
	isKeyword := it.Field == ""
	var transforms []string
	seen := map[string]bool{}
	methodSet := false
	for i, m := range it.Modifiers {
		mp := modPos(key.name, key.pos, key.quoted, i)
		info, ok := modifiers[m]
		if !ok {
			if m == "" {
				return nil, b.wrapf(mp, ErrUnknownModifier, "empty modifier in %q", key.name)
			}
			return nil, b.wrapf(mp, ErrUnknownModifier, "unknown modifier %q", m)
		}
		canon := m
		if info.canon != "" {
			canon = info.canon
		}
		if seen[canon] && info.class != modTransform {
			return nil, b.wrapf(mp, ErrInvalidModifiers, "modifier %q given twice", m)
		}
		seen[canon] = true
		switch info.class {
		case modMethod:
			if methodSet {
				return nil, b.wrapf(mp, ErrInvalidModifiers, "modifier %q conflicts with %q", m, it.Method)
			}
			methodSet = true
			it.Method = info.method
		case modFlag:
			switch m {
			case "all":
				it.All = true
			case "cased":
				it.Cased = true
			case "neq":
				it.Negate = true
			case "expand":
				it.Expand = true
			case "fieldref":
				it.FieldRef = true
			}
		case modTransform:
			transforms = append(transforms, canon)
		case modReFlag:
			it.ReFlags |= info.flag
		case modTime:
			if it.TimePart != TimeNone {
				return nil, b.wrapf(mp, ErrInvalidModifiers, "modifier %q conflicts with %q", m, it.TimePart)
			}
			it.TimePart = info.time
		}
	}
	if isKeyword && !methodSet {
		it.Method = MethodContains
	}
	bad := func(format string, args ...any) error {
		return b.wrapf(key.pos, ErrInvalidModifiers, "%s: %s", key.name, fmt.Sprintf(format, args...))
	}
	isString := it.Method <= MethodEndsWith
	switch {
	case it.ReFlags != 0 && it.Method != MethodRegexp:
		return nil, bad("regular expression flags (i, m, s) need the re modifier")
	case len(transforms) > 0 && !isString:
		return nil, bad("%s applies to string values, not with %s", transforms[0], it.Method)
	case len(transforms) > 0 && it.FieldRef:
		return nil, bad("%s cannot be combined with fieldref", transforms[0])
	case it.Cased && !isString:
		return nil, bad("cased applies to string matching, not with %s", it.Method)
	case it.FieldRef && (!isString || it.Expand || it.TimePart != TimeNone):
		return nil, bad("fieldref can only be combined with contains, startswith, endswith, cased and neq")
	case it.TimePart != TimeNone && !(it.Method == MethodEquals || (it.Method >= MethodLT && it.Method <= MethodGTE)):
		return nil, bad("time modifier %s can only be combined with lt, lte, gt, gte or neq", it.TimePart)
	case it.Method == MethodExists && (it.All || it.Negate || it.Expand):
		return nil, bad("exists takes no other modifiers")
	case it.Expand && !isString:
		return nil, bad("expand applies to string values, not with %s", it.Method)
	case isKeyword && (it.FieldRef || it.TimePart != TimeNone || it.Method == MethodExists || it.Method == MethodCIDR || (it.Method >= MethodLT && it.Method <= MethodGTE)):
		return nil, bad("keyword searches (no field name) only support string and re matching")
	}
	it.transforms = transforms

	// Values.
	var vnodes []*ynode
	switch key.val.kind {
	case yMap:
		return nil, b.errorf(key.val.pos, "%s: value must be a scalar or a list of scalars, not a map", key.name)
	case ySeq:
		if len(key.val.items) == 0 {
			return nil, b.errorf(key.val.pos, "%s: empty list of values", key.name)
		}
		vnodes = key.val.items
	default:
		vnodes = []*ynode{key.val}
	}
	for _, vn := range vnodes {
		if vn.kind == yMap || vn.kind == ySeq {
			return nil, b.errorf(vn.pos, "%s: value must be a scalar, not %s", key.name, vn.describe())
		}
		if vn.kind == yNull && len(vnodes) > 1 {
			return nil, b.errorf(vn.pos, "%s: null cannot be part of a list of values (use a separate search)", key.name)
		}
		v, err := b.parseValue(it, vn, key.name)
		if err != nil {
			return nil, err
		}
		it.Values = append(it.Values, v)
	}
	if it.Method == MethodExists && len(it.Values) != 1 {
		return nil, bad("exists takes a single true or false")
	}
	return it, nil
}

func (b *builder) parseValue(it *FieldItem, vn *ynode, key string) (*Value, error) {
	v := &Value{Raw: vn.str, Pos: vn.pos}
	if !v.Pos.IsValid() {
		v.Pos = it.Pos
	}
	switch {
	case vn.kind == yNull:
		v.Kind = ValueNull
		v.Raw = ""
	case vn.stype == sInt || vn.stype == sFloat:
		v.Kind, v.Number = ValueNumber, vn.num
	case vn.stype == sBool:
		v.Kind, v.Bool = ValueBool, vn.b
	default:
		v.Kind = ValueString
	}
	vbad := func(format string, args ...any) error {
		return b.wrapf(v.Pos, ErrInvalidModifiers, "%s: %s", key, fmt.Sprintf(format, args...))
	}
	if v.Kind == ValueNull {
		if it.Method != MethodEquals || len(it.transforms) > 0 || it.FieldRef || it.TimePart != TimeNone || it.Expand || it.Field == "" {
			return nil, vbad("null cannot be used with modifiers or as a keyword")
		}
		return v, nil
	}
	switch {
	case it.Method == MethodExists:
		switch {
		case v.Kind == ValueBool:
		case v.Kind == ValueString && (strings.EqualFold(v.Raw, "true") || strings.EqualFold(v.Raw, "false")):
			v.Bool = strings.EqualFold(v.Raw, "true")
		default:
			return nil, vbad("exists needs true or false, got %q", v.Raw)
		}
		return v, nil
	case it.FieldRef:
		if v.Kind != ValueString || v.Raw == "" {
			return nil, vbad("fieldref needs a field name, got %q", v.Raw)
		}
		v.Ref = v.Raw
		return v, nil
	case it.TimePart != TimeNone || (it.Method >= MethodLT && it.Method <= MethodGTE):
		if v.Kind != ValueNumber {
			f, err := strconv.ParseFloat(strings.TrimSpace(v.Raw), 64)
			if err != nil || v.Kind != ValueString {
				return nil, vbad("%s needs a number, got %q", it.Method, v.Raw)
			}
			v.Number = f
		}
		if math.IsNaN(v.Number) {
			return nil, vbad("%s needs a number, got NaN", it.Method)
		}
		return v, nil
	case it.Method == MethodCIDR:
		s := strings.TrimSpace(v.Raw)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, vbad("invalid CIDR network %q", v.Raw)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		v.Prefix = pfx.Masked()
		return v, nil
	case it.Method == MethodRegexp:
		re := v.Raw
		if it.ReFlags != 0 {
			var f strings.Builder
			f.WriteString("(?")
			if it.ReFlags&ReIgnoreCase != 0 {
				f.WriteByte('i')
			}
			if it.ReFlags&ReMultiLine != 0 {
				f.WriteByte('m')
			}
			if it.ReFlags&ReDotAll != 0 {
				f.WriteByte('s')
			}
			f.WriteByte(')')
			re = f.String() + re
		}
		if _, err := regexp.Compile(re); err != nil {
			return nil, b.wrapf(v.Pos, err, "%s: invalid regular expression %q: %v", key, v.Raw, err)
		}
		v.Regexp = re
		return v, nil
	}
	// String methods.
	var base Pattern
	if v.Kind == ValueString {
		base = parsePattern(v.Raw, it.Expand)
	} else {
		base = LiteralPattern(v.Raw)
	}
	v.bases = []Pattern{base}
	pats, err := applyTransforms([]Pattern{base}, it.transforms)
	if err != nil {
		return nil, vbad("%v", err)
	}
	v.Patterns = pats
	return v, nil
}

// applyTransforms applies the transformation modifiers, in order, to each
// pattern, returning all resulting alternatives.
func applyTransforms(pats []Pattern, transforms []string) ([]Pattern, error) {
	for _, t := range transforms {
		var out []Pattern
		for _, p := range pats {
			var err error
			switch t {
			case "windash":
				out, err = windash(out, p)
			case "utf16le":
				out = append(out, encodeParts(p, utf16LE, ""))
			case "utf16be":
				out = append(out, encodeParts(p, utf16BE, ""))
			case "utf16":
				out = append(out, encodeParts(p, utf16LE, "\xff\xfe"))
			case "base64":
				if !p.IsLiteral() {
					return nil, fmt.Errorf("base64 cannot encode wildcards or placeholders in %q", p.String())
				}
				out = append(out, LiteralPattern(base64.StdEncoding.EncodeToString([]byte(p.Literal()))))
			case "base64offset":
				if !p.IsLiteral() {
					return nil, fmt.Errorf("base64offset cannot encode wildcards or placeholders in %q", p.String())
				}
				vs := Base64Offsets(p.Literal())
				if len(vs) == 0 {
					return nil, fmt.Errorf("base64offset: value %q too short to encode", p.Literal())
				}
				for _, s := range vs {
					out = append(out, LiteralPattern(s))
				}
			default:
				return nil, fmt.Errorf("unknown transformation %q", t)
			}
			if err != nil {
				return nil, err
			}
			if len(out) > maxExpansions {
				return nil, fmt.Errorf("%s: more than %d alternatives", t, maxExpansions)
			}
		}
		pats = dedupPatterns(out)
	}
	return pats, nil
}

func dedupPatterns(pats []Pattern) []Pattern {
	if len(pats) < 2 {
		return pats
	}
	seen := make(map[string]bool, len(pats))
	out := pats[:0]
	for _, p := range pats {
		k := patternKey(p)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}

func patternKey(p Pattern) string {
	var b strings.Builder
	for _, part := range p.Parts {
		b.WriteByte(byte('0' + part.Kind))
		b.WriteString(strconv.Itoa(len(part.Text)))
		b.WriteByte(':')
		b.WriteString(part.Text)
	}
	return b.String()
}

// Base64Offsets returns the base64offset forms of s: the parts of the
// base64 encoding of s that do not depend on the bytes around it, for s
// starting at an offset of 0, 1 and 2 bytes (mod 3) in the encoded data.
// Whatever precedes and follows s, the encoding of the whole contains the
// form for s's offset. Empty forms (s too short) are left out.
func Base64Offsets(s string) []string {
	starts := [3]int{0, 2, 3}
	ends := [3]int{0, -3, -2} // 0 means the end
	out := make([]string, 0, 3)
	for i := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		end := len(enc)
		if e := ends[(len(s)+i)%3]; e != 0 {
			end += e
		}
		start := starts[i]
		if start >= end {
			continue
		}
		out = append(out, enc[start:end])
	}
	return out
}

func utf16LE(dst []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		dst = binary.LittleEndian.AppendUint16(dst, u)
	}
	return dst
}

func utf16BE(dst []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		dst = binary.BigEndian.AppendUint16(dst, u)
	}
	return dst
}

// encodeParts encodes the literal parts of p, keeping wildcards and
// placeholders, with an optional byte order mark in front.
func encodeParts(p Pattern, enc func([]byte, string) []byte, bom string) Pattern {
	var b patternBuilder
	b.literal(bom)
	for _, part := range p.Parts {
		if part.Kind == PartLiteral {
			b.literal(string(enc(nil, part.Text)))
		} else {
			b.add(part)
		}
	}
	return b.pattern()
}

// windashChars are the characters windash makes interchangeable.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

func isWindash(r rune) bool {
	return r == '-' || r == '/' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// windash appends to out every permutation of p in which each dash that
// starts a command-line flag (one not preceded by a word character and
// followed by one, as pySigma's \B[-/]\b) is replaced by each of -, /, en
// dash, em dash and horizontal bar.
func windash(out []Pattern, p Pattern) ([]Pattern, error) {
	type site struct{ part, off, size int }
	var sites []site
	for pi, part := range p.Parts {
		if part.Kind != PartLiteral {
			continue
		}
		s := part.Text
		prev := rune(-1)
		for off := 0; off < len(s); {
			r, size := utf8.DecodeRuneInString(s[off:])
			if isWindash(r) && (prev < 0 || !isWordRune(prev)) {
				next, _ := utf8.DecodeRuneInString(s[off+size:])
				if off+size < len(s) && isWordRune(next) {
					sites = append(sites, site{pi, off, size})
				}
			}
			prev = r
			off += size
		}
	}
	if len(sites) == 0 {
		return append(out, p), nil
	}
	total := 1
	for range sites {
		total *= len(windashChars)
		if total > maxExpansions {
			return nil, fmt.Errorf("windash: %q has too many dashes (%d)", p.String(), len(sites))
		}
	}
	choice := make([]int, len(sites))
	for range total {
		var b patternBuilder
		si := 0
		for pi, part := range p.Parts {
			if part.Kind != PartLiteral {
				b.add(part)
				continue
			}
			var sb strings.Builder
			last := 0
			for si < len(sites) && sites[si].part == pi {
				st := sites[si]
				sb.WriteString(part.Text[last:st.off])
				sb.WriteString(windashChars[choice[si]])
				last = st.off + st.size
				si++
			}
			sb.WriteString(part.Text[last:])
			b.literal(sb.String())
		}
		out = append(out, b.pattern())
		// Next combination (odometer).
		for i := len(choice) - 1; i >= 0; i-- {
			choice[i]++
			if choice[i] < len(windashChars) {
				break
			}
			choice[i] = 0
		}
	}
	return out, nil
}
