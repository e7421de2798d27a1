package intel

import (
	"fmt"
	"io"
	"strings"
)

// ParseList reads a plain list feed: one indicator per line, blank lines and
// lines starting with # or ; are skipped. The first word of a line is the
// indicator; what follows it (after a separator such as ;, # or |) becomes
// the indicator's description, as in "192.0.2.0/24 ; SBL12345". Hosts-file
// lines ("0.0.0.0 evil.example") give the name. The kind is
// opts.Kind, or guessed per line when that is KindUnknown. Bad lines are
// reported with their line numbers and skipped.
func ParseList(r io.Reader, opts ParseOptions) ([]Indicator, []error) {
	c := newCollector(opts)
	lr := newLineReader(r, c.opts)
	plain := c.context("", nil, "", zeroTime, zeroTime, zeroTime)
	conf := uint8(c.opts.Confidence)
	for {
		b, tooLong, ok := lr.next()
		if !ok {
			break
		}
		if tooLong {
			c.fail(lr.line, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, c.opts.MaxLineLen))
			continue
		}
		value, desc, ok := splitListLine(string(b))
		if !ok {
			continue
		}
		ctx := plain
		if desc != "" {
			ctx = c.context(desc, nil, "", zeroTime, zeroTime, zeroTime)
		}
		if !c.add(lr.line, c.opts.Kind, value, conf, ctx) {
			break
		}
	}
	if err := lr.failure(); err != nil {
		c.fatal(lr.line, err)
	}
	return c.result()
}

// splitListLine returns the indicator and the comment of one list line; ok
// is false for lines that hold no indicator.
func splitListLine(line string) (value, desc string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' || strings.HasPrefix(line, "//") {
		return "", "", false
	}
	value, rest := cutWord(line)
	if isSinkAddr(value) && rest != "" && rest[0] != '#' {
		// Hosts-file form: the name follows the sink address. Hosts files
		// carry entries such as "127.0.0.1 localhost" that are not
		// indicators: skip names without a dot.
		name, more := cutWord(rest)
		if strings.IndexByte(name, '.') < 0 || isSinkAddr(name) {
			return "", "", false
		}
		value, rest = name, more
	}
	desc = strings.TrimSpace(strings.TrimLeft(rest, ";#|,/ \t"))
	return value, desc, true
}

// cutWord splits s at the first blank or comma.
func cutWord(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t,")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

func isSinkAddr(s string) bool {
	switch s {
	case "0.0.0.0", "127.0.0.1", "::", "::1", "0", "255.255.255.255":
		return true
	}
	return false
}
