package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// kvPair is one key=value pair found by scanKV.
type kvPair struct {
	key, val string
	// quote is the quote character around val, or 0.
	quote byte
	// esc is set when val (quoted) contains backslash escapes.
	esc bool
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '.' || c == '-' || c == '@' || c == '/' || c == '[' || c == ']' || c == ':'
}

// kvScanner walks "k=v k2="quoted v" k3='v'" text. Words that are not pairs
// are counted in junk.
type kvScanner struct {
	s    string
	i    int
	junk int
	// sep is an extra separator besides space and tab (auditd's 0x1d).
	sep byte
}

func (sc *kvScanner) isSpace(c byte) bool {
	return c == ' ' || c == '\t' || (sc.sep != 0 && c == sc.sep)
}

// next returns the next pair; ok is false at the end.
func (sc *kvScanner) next() (p kvPair, ok bool) {
	s := sc.s
	for sc.i < len(s) {
		for sc.i < len(s) && sc.isSpace(s[sc.i]) {
			sc.i++
		}
		if sc.i >= len(s) {
			return p, false
		}
		start := sc.i
		j := start
		for j < len(s) && isKeyChar(s[j]) {
			j++
		}
		if j == start || j >= len(s) || s[j] != '=' {
			// Not a pair: skip the word (a quoted phrase as one word).
			sc.junk++
			sc.i = skipWord(s, j)
			continue
		}
		p.key = s[start:j]
		j++
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			q := s[j]
			k := j + 1
			for k < len(s) && s[k] != q {
				if s[k] == '\\' && k+1 < len(s) {
					p.esc = true
					k++
				}
				k++
			}
			if k >= len(s) {
				// Unterminated quote: the value runs to the end.
				p.val = s[j+1:]
				p.quote = q
				sc.i = len(s)
				return p, true
			}
			p.val = s[j+1 : k]
			p.quote = q
			sc.i = k + 1
			return p, true
		}
		k := j
		for k < len(s) && !sc.isSpace(s[k]) {
			k++
		}
		p.val = s[j:k]
		sc.i = k
		return p, true
	}
	return p, false
}

// skipWord returns the index after the word that contains s[i].
func skipWord(s string, i int) int {
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		if s[i] == '"' {
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		}
		i++
	}
	return i
}

// unescapeBackslash appends v to dst with backslash escapes resolved (\" \\
// \n \t \r; any other escaped byte stands for itself).
func unescapeBackslash(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			case 'r':
				c = '\r'
			default:
				c = v[i]
			}
		}
		dst = append(dst, c)
	}
	return dst
}

// kv decodes msg as logfmt / key=value text when it is mostly pairs (at
// least two, and no more stray words than pairs).
func (st *state) kv(msg string) bool {
	sc := kvScanner{s: msg}
	pairs := 0
	for {
		if _, ok := sc.next(); !ok {
			break
		}
		pairs++
	}
	if pairs < 2 || sc.junk > pairs {
		return false
	}
	sc = kvScanner{s: msg}
	netfilter := strings.Contains(msg, "IN=") && strings.Contains(msg, " SRC=")
	for {
		p, ok := sc.next()
		if !ok || st.full() {
			break
		}
		k := st.intern(p.key)
		st.kvField(k, p)
		if st.ev.Time.IsZero() && !p.esc && isTimeKey(p.key) {
			if t, ok := parseTimestamp(p.val, st.p.loc); ok {
				st.ev.Time = t
			} else if p.quote == 0 && plainNumber(p.val) {
				if f, ok := number(p.val); ok {
					if t, ok := epoch(f.Num); ok {
						st.ev.Time = t
					}
				}
			}
		}
		if netfilter {
			st.netfilterField(p)
		}
	}
	if netfilter {
		st.set(kCategory, vNetwork)
		st.setDataset("iptables")
	}
	return true
}

var (
	vNetwork   = event.String("network")
	kTransport = event.Intern("network.transport")
	kInIface   = event.Intern("observer.ingress.interface.name")
	kOutIface  = event.Intern("observer.egress.interface.name")
)

// netfilterField maps the keys of a netfilter (iptables, ufw, nftables
// log) line to ECS.
func (st *state) netfilterField(p kvPair) {
	switch p.key {
	case "SRC":
		st.setStr(kSourceIP, p.val)
	case "DST":
		st.setStr(kDestIP, p.val)
	case "SPT":
		st.setNum(kSourcePort, p.val)
	case "DPT":
		st.setNum(kDestPort, p.val)
	case "PROTO":
		st.setStr(kTransport, strings.ToLower(p.val))
	case "IN":
		st.setStr(kInIface, p.val)
	case "OUT":
		st.setStr(kOutIface, p.val)
	}
}

// kvField adds one pair under k: unescaped when quoted with escapes, a number
// when unquoted and numeric, else the text.
func (st *state) kvField(k event.Key, p kvPair) {
	switch {
	case p.esc:
		start := len(st.arena)
		st.arena = unescapeBackslash(st.arena, p.val)
		st.pendField(k, event.KindString, 0, start)
	case p.quote == 0:
		if v, ok := number(p.val); ok {
			st.set(k, v)
			return
		}
		st.set(k, event.String(p.val))
	default:
		st.set(k, event.String(p.val))
	}
}

// isTimeKey reports whether a key=value key names the event time.
func isTimeKey(k string) bool {
	switch k {
	case "time", "ts", "timestamp", "@timestamp", "date", "datetime":
		return true
	}
	return false
}
