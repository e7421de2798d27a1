package parse

import (
	"strconv"
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
	kAuditName   = event.Intern("user.audit.name")
	kEffName     = event.Intern("user.effective.name")
	kProcArgs    = event.Intern("process.args")
	kProcArgc    = event.Intern("process.args_count")
)

// maxExecArgs bounds the EXECVE arguments (and AUOMS command-line words)
// gathered into process.args and process.command_line; the a<N> fields
// themselves are bounded by the event's field limit.
const maxExecArgs = 256

// The audit daemons' programs carry the auditd service; their records
// are told by their shape (content), whatever the program.
func init() {
	// auoms is the Azure Monitor agent's audit plugin (OMS-Auditd-Plugin):
	// its syslog output is auditd's record format.
	registerApp(app{programs: []string{"auditd", "audispd", "audisp-syslog", "audit", "auoms"}, service: "auditd"})
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
	if typ == "AUOMS_EXECVE" {
		st.auomsExecve(rest)
	} else {
		st.auditPairs(typ, rest)
	}
	st.setDataset("auditd")
	return true
}

// auditPairs adds the pairs of s; a msg='...' value (user-space records)
// is parsed for its own pairs.
func (st *state) auditPairs(typ, s string) {
	sc := kvScanner{s: s, sep: 0x1d}
	var ex execArgs
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
		if typ == "EXECVE" {
			if n, part, ok := argPartKey(p.key); ok {
				// a1[0]=... a1[1]=...: one argument the kernel split
				// (after a1_len=N); its pieces are joined into a1.
				ex.addPart(n, part, auditArgValue(p))
				continue
			}
		}
		v := st.auditField(typ, p)
		if typ == "EXECVE" {
			if n, ok := argKey(p.key); ok {
				ex.set(n, v)
			}
		}
	}
	if typ == "EXECVE" {
		st.execve(&ex)
	}
}

// execArgs gathers the arguments of an EXECVE record by position.
type execArgs struct {
	args []string
	// split marks the arguments that came in pieces (a<N>[<i>]).
	split []bool
}

func (ex *execArgs) grow(n int) bool {
	if n >= maxExecArgs {
		return false
	}
	for len(ex.args) <= n {
		ex.args = append(ex.args, "")
		ex.split = append(ex.split, false)
	}
	return true
}

func (ex *execArgs) set(n int, v string) {
	if ex.grow(n) {
		ex.args[n] = v
	}
}

// addPart appends piece part of argument n. Pieces arrive in order; one
// out of order (or repeated) is ignored rather than guessed at.
func (ex *execArgs) addPart(n, part int, v string) {
	if !ex.grow(n) {
		return
	}
	if !ex.split[n] {
		if part != 0 {
			return
		}
		ex.split[n] = true
		ex.args[n] = ""
	}
	ex.args[n] += v
}

// execve adds the ECS fields of an EXECVE record: process.args (each
// argument), process.args_count, process.command_line (the arguments
// joined by spaces, as ausearch -i shows them) and process.executable when
// argv[0] is an absolute path. Split arguments get their a<N> field here.
func (st *state) execve(ex *execArgs) {
	if len(ex.args) == 0 {
		return
	}
	for n, v := range ex.args {
		if ex.split[n] && !st.full() {
			st.set(st.intern("a"+strconv.Itoa(n)), event.String(v))
		}
	}
	if !st.ev.Has(kProcCmdLine) {
		st.set(kProcCmdLine, event.String(strings.Join(ex.args, " ")))
	}
	st.setArgs(ex.args)
	if a0 := ex.args[0]; strings.HasPrefix(a0, "/") && !st.ev.Has(kProcExe) {
		st.set(kProcExe, event.String(a0))
	}
}

// setArgs adds process.args (one value per argument) and
// process.args_count, unless an earlier record part set them.
func (st *state) setArgs(args []string) {
	if st.ev.Has(kProcArgs) {
		return
	}
	for _, a := range args {
		st.set(kProcArgs, event.String(a))
	}
	st.set(kProcArgc, event.Int(int64(len(args))))
}

// argKey returns N of an EXECVE argument key aN.
func argKey(k string) (int, bool) {
	if len(k) < 2 || k[0] != 'a' {
		return 0, false
	}
	return atoi(k[1:])
}

// isArgKey reports whether k is a0, a1, ... (an EXECVE argument).
func isArgKey(k string) bool {
	_, ok := argKey(k)
	return ok
}

// argPartKey returns N and I of a split EXECVE argument key aN[I].
func argPartKey(k string) (n, part int, ok bool) {
	if len(k) < 5 || k[0] != 'a' || k[len(k)-1] != ']' {
		return 0, 0, false
	}
	num, idx, found := strings.Cut(k[1:len(k)-1], "[")
	if !found {
		return 0, 0, false
	}
	if n, ok = atoi(num); !ok {
		return 0, 0, false
	}
	part, ok = atoi(idx)
	return n, part, ok
}

// auditArgValue decodes an EXECVE argument (or piece of one): quoted as
// it is, else hex-encoded.
func auditArgValue(p kvPair) string {
	if p.quote == 0 && isHexString(p.val) {
		return decodeAuditHex(p.val, false)
	}
	return p.val
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
	case "AUID", "audit_user":
		// The enriched form of auid (auditd) and its AUOMS name.
		st.setStr(kAuditName, v)
	case "EUID", "effective_user":
		st.setStr(kEffName, v)
	case "GID":
		st.setStr(kGroupName, v)
	case "user":
		// AUOMS names the uid "user" (and the gid "group").
		if strings.HasPrefix(typ, "AUOMS_") {
			st.setStr(kUserName, v)
		}
	case "group":
		if strings.HasPrefix(typ, "AUOMS_") {
			st.setStr(kGroupName, v)
		}
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
