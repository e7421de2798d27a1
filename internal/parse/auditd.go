package parse

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

var (
	kAuditSeq    = event.Intern("auditd.sequence")
	kAuditType   = event.Intern("auditd.message_type")
	kAuditUID    = event.Intern("user.audit.id")
	kEffectiveID = event.Intern("user.effective.id")
	kGroupEff    = event.Intern("group.effective.id")
)

// The audit daemons' programs carry the auditd service; their records
// are told by their shape (content), whatever the program.
func init() {
	registerApp(app{programs: []string{"auditd", "audispd", "audisp-syslog", "audit"}, service: "auditd"})
}

// auditHexKeys are the keys whose values auditd writes hex-encoded (without
// quotes) when they contain spaces, quotes or control characters.
var auditHexKeys = map[string]bool{
	"proctitle": true, "name": true, "cwd": true, "exe": true, "comm": true,
	"ocomm": true, "cmd": true, "data": true, "acct": true, "path": true,
	"key": true, "old-path": true, "new-path": true, "root_dir": true,
}

// auditd decodes one Linux audit record: "type=T msg=audit(SEC.MS:SEQ):
// k=v ...", optionally after "node=N ", with the enriched part after 0x1d.
// Every key is kept as-is (Sigma linux/auditd rules use them), values that
// auditd hex-encoded are decoded in place, and ECS names are added.
func (st *state) auditd(msg string) bool {
	// "msg=audit(...)" from auditd; the kernel's own log writes
	// "audit(...)" without msg=.
	i := strings.Index(msg, "audit(")
	if i < 0 || (i > 0 && msg[i-1] != ' ' && msg[i-1] != '=') {
		return false
	}
	head := strings.TrimSuffix(msg[:i], "msg=")
	rest := msg[i+len("audit("):]
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return false
	}
	stamp := rest[:end]
	rest = rest[end+1:]
	rest = strings.TrimPrefix(rest, ":")
	secs, seq, _ := cut(stamp, ":")
	if t, ok := auditTime(secs); ok {
		st.ev.Time = t
	}
	st.kind()
	st.setNum(kAuditSeq, seq)
	st.setLogsource("linux", "", "auditd")
	typ := ""
	sc := kvScanner{s: head}
	for {
		p, ok := sc.next()
		if !ok {
			break
		}
		if p.key == "type" {
			typ = p.val
			st.set(kAuditType, event.String(p.val))
		}
		if p.key == "node" && !st.ev.Has(kHostName) {
			st.setStr(kHostName, p.val)
		}
		st.auditField(typ, p)
	}
	st.auditPairs(typ, rest)
	st.setDataset("auditd")
	return true
}

// auditPairs adds the pairs of s; a msg='...' value (user-space records)
// is parsed for its own pairs.
func (st *state) auditPairs(typ, s string) {
	sc := kvScanner{s: s, sep: 0x1d}
	var args []string
	for {
		p, ok := sc.next()
		if !ok {
			break
		}
		if p.key == "msg" && p.quote == '\'' {
			st.auditPairs(typ, p.val)
			continue
		}
		if st.full() {
			break
		}
		v := st.auditField(typ, p)
		if typ == "EXECVE" && isArgKey(p.key) && len(args) < 256 {
			args = append(args, v)
		}
	}
	if len(args) > 0 && !st.ev.Has(kProcCmdLine) {
		st.set(kProcCmdLine, event.String(strings.Join(args, " ")))
	}
}

// isArgKey reports whether k is a0, a1, ... (an EXECVE argument).
func isArgKey(k string) bool {
	if len(k) < 2 || k[0] != 'a' {
		return false
	}
	_, ok := atoi(k[1:])
	return ok
}

// auditField adds one audit pair under its own name and its ECS name, and
// returns the (decoded) value.
func (st *state) auditField(typ string, p kvPair) string {
	v := p.val
	if p.quote == 0 && (auditHexKeys[p.key] || typ == "EXECVE" && isArgKey(p.key)) && isHexString(v) {
		v = decodeAuditHex(v, p.key == "proctitle")
	}
	k := st.intern(p.key)
	if p.quote == 0 && v == p.val {
		st.setNum(k, v)
	} else {
		st.setStr(k, v)
	}
	switch p.key {
	case "exe":
		st.setStr(kProcExe, v)
	case "comm":
		// The audited process replaces the syslog program (kernel,
		// audispd) that logged the record; log.syslog.appname keeps that.
		if v != "" {
			st.replace(kProcName, event.String(v))
		}
	case "pid":
		if n, ok := number(v); ok {
			st.replace(kProcPID, n)
		}
	case "ppid":
		st.setNum(kProcPPID, v)
	case "uid":
		st.setStr(kUserID, v)
	case "auid":
		st.setStr(kAuditUID, v)
	case "euid":
		st.setStr(kEffectiveID, v)
	case "egid":
		st.setStr(kGroupEff, v)
	case "gid":
		st.setStr(kGroupID, v)
	case "cwd":
		st.setStr(kProcCwd, v)
	case "proctitle":
		st.setStr(kProcTitle, v)
	case "acct", "UID":
		// acct names the account of user-space records; UID is the
		// enriched (name) form of uid.
		st.setStr(kUserName, v)
	case "addr":
		if isIPLike(v) {
			st.setStr(kSourceIP, v)
		}
	case "hostname":
		if v != "?" {
			st.setStr(kSourceIP, v)
		}
	case "success":
		switch v {
		case "yes":
			st.set(kOutcome, vSuccess)
		case "no":
			st.set(kOutcome, vFailure)
		}
	case "res":
		switch v {
		case "success", "1":
			st.set(kOutcome, vSuccess)
		case "failed", "0":
			st.set(kOutcome, vFailure)
		}
	}
	return v
}

func isHexString(s string) bool {
	if len(s) < 2 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c < 'A' || c > 'F') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeAuditHex decodes a hex value; for proctitle the NULs that separate
// arguments become spaces, as ausearch -i shows them.
func decodeAuditHex(s string, nulToSpace bool) string {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
		if nulToSpace && b[i] == 0 {
			b[i] = ' '
		}
	}
	if nulToSpace {
		return strings.TrimRight(string(b), " ")
	}
	return string(b)
}

// auditTime parses "1700000000.123".
func auditTime(s string) (time.Time, bool) {
	sec, frac, _ := cut(s, ".")
	if len(sec) == 0 || len(sec) > 12 {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(sec); i++ {
		if !isDigit(sec[i]) {
			return time.Time{}, false
		}
		n = n*10 + int64(sec[i]-'0')
	}
	ns, j := parseFraction(frac, 0)
	if j != len(frac) {
		return time.Time{}, false
	}
	return time.Unix(n, int64(ns)).UTC(), true
}
