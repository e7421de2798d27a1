package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// The authentication apps. sshd, sudo, cron and the auth.log programs
// (su, login, passwd, useradd, ...) have a Sigma service; chage and
// newusers share the account parser without one.
func init() {
	registerApp(app{programs: []string{"sshd", "sshd-session", "sshd-auth"}, service: "sshd",
		decode: func(st *state, _, msg string) bool { return st.sshd(msg) }})
	registerApp(app{programs: []string{"sudo"}, service: "sudo",
		decode: func(st *state, _, msg string) bool { return st.sudo(msg) }})
	registerApp(app{programs: []string{"su"}, serviceIsProgram: true,
		decode: func(st *state, _, msg string) bool { return st.su(msg) }})
	registerApp(app{programs: []string{"useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "passwd", "chpasswd", "gpasswd"}, serviceIsProgram: true,
		decode: (*state).accounts})
	registerApp(app{programs: []string{"chage", "newusers"}, decode: (*state).accounts})
	registerApp(app{programs: []string{"login"}, serviceIsProgram: true,
		decode: func(st *state, _, msg string) bool { return st.login(msg) }})
	registerApp(app{programs: []string{"systemd-logind"}, serviceIsProgram: true,
		decode: func(st *state, _, msg string) bool { return st.logind(msg) }})
	registerApp(app{programs: []string{"cron", "CRON", "crond"}, service: "cron",
		decode: func(st *state, _, msg string) bool { return st.cron(msg) }})
	// Services without a parser of their own: their messages go to the
	// pam_unix decoder and to their shape.
	registerApp(app{programs: []string{"anacron"}, service: "cron"})
	registerApp(app{programs: []string{"polkitd"}, serviceIsProgram: true})
	registerApp(app{programs: []string{"vsftpd"}, service: "vsftpd"})
}

// Values shared by the authentication parsers.
var (
	vAuthentication = event.String("authentication")
	vSession        = event.String("session")
	vIAM            = event.String("iam")
	vProcess        = event.String("process")
	vSuccess        = event.String("success")
	vFailure        = event.String("failure")
	vEvent          = event.String("event")
)

// authEvent sets the fields common to every authentication event.
func (st *state) authEvent(dataset, action string, outcome event.Value) {
	st.set(kCategory, vAuthentication)
	st.setStr(kAction, action)
	if outcome.Str != "" {
		st.set(kOutcome, outcome)
	}
	st.setDataset(dataset)
}

// userIPPort parses "[invalid user |authenticating user |user ]U IP port P"
// (the tail of sshd's connection messages); it sets user.name, source.ip and
// source.port and reports whether the user was invalid.
func (st *state) userIPPort(s string) (invalid bool) {
	switch {
	case strings.HasPrefix(s, "invalid user "):
		s = s[len("invalid user "):]
		invalid = true
	case strings.HasPrefix(s, "authenticating user "):
		s = s[len("authenticating user "):]
	case strings.HasPrefix(s, "user "):
		s = s[len("user "):]
	default:
		st.ipPort(s)
		return false
	}
	// The user name may contain spaces; the address is the word before
	// " port ".
	p := strings.LastIndex(s, " port ")
	if p < 0 {
		// "user U IP" without a port.
		i := strings.LastIndexByte(s, ' ')
		if i < 0 {
			return invalid
		}
		st.setStr(kUserName, s[:i])
		st.setStr(kSourceIP, s[i+1:])
		return invalid
	}
	i := strings.LastIndexByte(s[:p], ' ')
	if i < 0 {
		st.ipPort(s)
		return invalid
	}
	st.setStr(kUserName, s[:i])
	st.ipPort(s[i+1:])
	return invalid
}

// ipPort parses "IP port P[ rest]" or "IP[ rest]".
func (st *state) ipPort(s string) {
	ip, rest := word(s)
	ip = strings.TrimSuffix(ip, ":")
	if isIPLike(ip) {
		st.set(kSourceIP, event.String(ip))
	} else if ip != "" {
		return
	}
	if strings.HasPrefix(rest, "port ") {
		p, _ := word(rest[5:])
		p = strings.TrimRight(p, ":,")
		if i := strings.IndexByte(p, ':'); i >= 0 {
			p = p[:i]
		}
		st.setNum(kSourcePort, p)
	}
}

// forUserFrom parses "U from IP port P ..." or "invalid user U from IP ...".
func (st *state) forUserFrom(s string) (invalid bool) {
	if strings.HasPrefix(s, "invalid user ") {
		s = s[len("invalid user "):]
		invalid = true
	}
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		st.setStr(kUserName, strings.TrimSpace(s))
		return invalid
	}
	st.set(kUserName, event.String(s[:i]))
	st.ipPort(s[i+len(" from "):])
	return invalid
}

// sshd parses OpenSSH server messages.
func (st *state) sshd(msg string) bool {
	st.setLogsource("linux", "", "sshd")
	switch {
	case strings.HasPrefix(msg, "Accepted "):
		method, rest := word(msg[len("Accepted "):])
		rest, ok := strings.CutPrefix(rest, "for ")
		if !ok {
			return false
		}
		st.authEvent("sshd", "ssh_login", vSuccess)
		st.setStr(kSSHMethod, method)
		st.forUserFrom(rest)
		return true
	case strings.HasPrefix(msg, "Failed "):
		method, rest := word(msg[len("Failed "):])
		rest, ok := strings.CutPrefix(rest, "for ")
		if !ok {
			return false
		}
		st.authEvent("sshd", "ssh_login", vFailure)
		st.setStr(kSSHMethod, method)
		st.forUserFrom(rest)
		return true
	case strings.HasPrefix(msg, "Invalid user "):
		st.authEvent("sshd", "ssh_invalid_user", vFailure)
		st.forUserFrom(msg[len("Invalid user "):])
		return true
	case strings.HasPrefix(msg, "Connection closed by "):
		st.authEvent("sshd", "ssh_disconnect", event.Value{})
		st.userIPPort(msg[len("Connection closed by "):])
		return true
	case strings.HasPrefix(msg, "Disconnected from "):
		st.authEvent("sshd", "ssh_disconnect", event.Value{})
		st.userIPPort(msg[len("Disconnected from "):])
		return true
	case strings.HasPrefix(msg, "Connection reset by "):
		st.authEvent("sshd", "ssh_disconnect", event.Value{})
		st.userIPPort(msg[len("Connection reset by "):])
		return true
	case strings.HasPrefix(msg, "Received disconnect from "):
		st.authEvent("sshd", "ssh_disconnect", event.Value{})
		st.ipPort(msg[len("Received disconnect from "):])
		return true
	case strings.HasPrefix(msg, "error: maximum authentication attempts exceeded for "),
		strings.HasPrefix(msg, "maximum authentication attempts exceeded for "):
		_, rest, _ := cut(msg, "exceeded for ")
		st.authEvent("sshd", "ssh_max_auth_attempts", vFailure)
		st.forUserFrom(rest)
		return true
	case strings.HasPrefix(msg, "Did not receive identification string from "):
		st.authEvent("sshd", "ssh_no_identification", vFailure)
		st.ipPort(msg[len("Did not receive identification string from "):])
		return true
	case strings.HasPrefix(msg, "Disconnecting "):
		// "Disconnecting authenticating user root 1.2.3.4 port 22: Too many
		// authentication failures [preauth]"
		rest := msg[len("Disconnecting "):]
		out := event.Value{}
		if strings.Contains(rest, "Too many authentication failures") {
			out = vFailure
		}
		st.authEvent("sshd", "ssh_disconnect", out)
		st.userIPPort(rest)
		return true
	case strings.HasPrefix(msg, "User ") && strings.Contains(msg, " not allowed because "):
		// "User root from 1.2.3.4 not allowed because not listed in AllowUsers"
		head, _, _ := cut(msg[len("User "):], " not allowed because ")
		st.authEvent("sshd", "ssh_user_not_allowed", vFailure)
		st.forUserFrom(head)
		return true
	case strings.HasPrefix(msg, "Unable to negotiate with "):
		st.authEvent("sshd", "ssh_negotiation_failed", vFailure)
		st.ipPort(msg[len("Unable to negotiate with "):])
		return true
	case strings.HasPrefix(msg, "Timeout before authentication for "):
		st.authEvent("sshd", "ssh_auth_timeout", vFailure)
		st.ipPort(msg[len("Timeout before authentication for "):])
		return true
	case strings.HasPrefix(msg, "banner exchange: Connection from "):
		st.authEvent("sshd", "ssh_bad_banner", vFailure)
		st.ipPort(msg[len("banner exchange: Connection from "):])
		return true
	case strings.HasPrefix(msg, "PAM ") && strings.Contains(msg, " more authentication failure"):
		st.authEvent("sshd", "ssh_login", vFailure)
		st.pamKV(msg[strings.IndexByte(msg, ';')+1:], "sshd", "")
		return true
	case strings.HasPrefix(msg, "pam_unix("):
		return st.pamUnix(msg, "sshd")
	}
	return false
}

// sudo parses sudo's command log and its failures.
func (st *state) sudo(msg string) bool {
	st.setLogsource("linux", "", "sudo")
	if strings.HasPrefix(msg, "pam_unix(") {
		return st.pamUnix(msg, "sudo")
	}
	m := strings.TrimLeft(msg, " ")
	user, rest, ok := cut(m, " : ")
	if !ok || user == "" || strings.IndexByte(user, ' ') >= 0 {
		return false
	}
	outcome, action := vSuccess, "sudo"
	failure := ""
	// Parts separated by " ; "; the first may be a failure reason.
	for part := range strings.SplitSeq(rest, " ; ") {
		k, v, isKV := cut(part, "=")
		if !isKV || strings.IndexByte(k, ' ') >= 0 {
			failure = part
			continue
		}
		// sudo's own names are kept too: Sigma linux/sudo rules use them.
		switch k {
		case "TTY":
			st.setStr(kSudoTTY, v)
			st.setStr(kTTY, v)
		case "PWD":
			st.setStr(kSudoPWD, v)
			st.setStr(kProcCwd, v)
		case "USER":
			st.setStr(kSudoUSER, v)
			st.setStr(kTargetUser, v)
		case "GROUP":
			st.setStr(kSudoGROUP, v)
			st.setStr(kGroupName, v)
		case "COMMAND":
			st.setStr(kSudoCOMMAND, v)
			st.setStr(kProcCmdLine, v)
		}
	}
	if failure != "" {
		outcome = vFailure
		switch {
		case strings.Contains(failure, "incorrect password"):
			action = "sudo_auth_failure"
		case strings.Contains(failure, "NOT in sudoers"):
			action = "sudo_not_in_sudoers"
		case strings.Contains(failure, "not allowed"):
			action = "sudo_command_not_allowed"
		default:
			action = "sudo_failure"
		}
		st.setStr(kErrMessage, failure)
		st.set(kCategory, vAuthentication)
	} else {
		st.set(kCategory, vProcess)
	}
	st.set(kUserName, event.String(user))
	st.setStr(kAction, action)
	st.set(kOutcome, outcome)
	st.setDataset("sudo")
	return true
}

// su parses su's messages (shadow-utils and util-linux forms).
func (st *state) su(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "pam_unix("):
		return st.pamUnix(msg, "su")
	case strings.HasPrefix(msg, "Successful su for "), strings.HasPrefix(msg, "FAILED su for "):
		ok := msg[0] == 'S'
		_, rest, _ := cut(msg, "su for ")
		target, by, _ := cut(rest, " by ")
		out := vSuccess
		if !ok {
			out = vFailure
		}
		st.authEvent("su", "su", out)
		st.setStr(kUserName, by)
		st.setStr(kTargetUser, target)
		return true
	case strings.HasPrefix(msg, "(to "):
		// "(to root) alice on pts/0"
		target, rest, ok := cut(msg[len("(to "):], ") ")
		if !ok {
			return false
		}
		user, tty, _ := cut(rest, " on ")
		st.authEvent("su", "su", vSuccess)
		st.setStr(kUserName, user)
		st.setStr(kTargetUser, target)
		st.setStr(kTTY, tty)
		return true
	case len(msg) > 2 && (msg[0] == '+' || msg[0] == '-') && msg[1] == ' ':
		// "+ pts/0 alice:root"
		tty, pair := word(msg[2:])
		user, target, ok := cut(pair, ":")
		if !ok {
			return false
		}
		out := vSuccess
		if msg[0] == '-' {
			out = vFailure
		}
		st.authEvent("su", "su", out)
		st.setStr(kUserName, user)
		st.setStr(kTargetUser, target)
		st.setStr(kTTY, tty)
		return true
	}
	return false
}

// pamUnix parses pam_unix(service:type) messages logged by any program.
func (st *state) pamUnix(msg, prog string) bool {
	rest, ok := strings.CutPrefix(msg, "pam_unix(")
	if !ok {
		return false
	}
	svcType, rest, ok := cut(rest, "): ")
	if !ok {
		return false
	}
	svc, typ, _ := cut(svcType, ":")
	dataset := svc
	if dataset == "" {
		dataset = prog
	}
	switch {
	case strings.HasPrefix(rest, "session opened for user "):
		user, by := userBy(rest[len("session opened for user "):])
		st.set(kCategory, vSession)
		st.setStr(kAction, "session-opened")
		st.set(kOutcome, vSuccess)
		st.setStr(kUserName, by)
		st.setStr(kTargetUser, user)
		if by == "" {
			st.replaceUser(user)
		}
		st.setDataset(dataset)
	case strings.HasPrefix(rest, "session closed for user "):
		user, _ := userBy(rest[len("session closed for user "):])
		st.set(kCategory, vSession)
		st.setStr(kAction, "session-closed")
		st.setStr(kUserName, user)
		st.setDataset(dataset)
	case strings.HasPrefix(rest, "authentication failure;"):
		st.authEvent(dataset, "authentication-failure", vFailure)
		st.pamKV(rest[len("authentication failure;"):], prog, svc)
	case strings.HasPrefix(rest, "password changed for "):
		st.set(kCategory, vIAM)
		st.setStr(kAction, "password-changed")
		st.set(kOutcome, vSuccess)
		st.setStr(kUserName, strings.TrimSpace(rest[len("password changed for "):]))
		st.setDataset(dataset)
	case strings.HasPrefix(rest, "check pass; user unknown"):
		st.authEvent(dataset, "user-unknown", vFailure)
	default:
		return false
	}
	if typ != "" {
		st.set(kPAMType, event.String(typ))
	}
	return true
}

// replaceUser sets user.name when it is not set yet.
func (st *state) replaceUser(u string) {
	if u != "" && !st.ev.Has(kUserName) {
		st.set(kUserName, event.String(u))
	}
}

// userBy parses "U(uid=N) by V(uid=M)" or "U by (uid=0)" into U and V.
func userBy(s string) (user, by string) {
	user, by, _ = cut(s, " by ")
	if i := strings.IndexByte(user, '('); i >= 0 {
		user = user[:i]
	}
	if i := strings.IndexByte(by, '('); i >= 0 {
		by = by[:i]
	}
	return strings.TrimSpace(user), strings.TrimSpace(by)
}

// accounts parses shadow-utils account management messages.
func (st *state) accounts(prog, msg string) bool {
	if strings.HasPrefix(msg, "pam_unix(") {
		return st.pamUnix(msg, prog)
	}
	action := ""
	switch {
	case strings.HasPrefix(msg, "new user: "):
		action = "user-created"
		st.accountKV(msg[len("new user: "):], kUserName)
	case strings.HasPrefix(msg, "new group: "):
		action = "group-created"
		st.accountKV(msg[len("new group: "):], kGroupName)
	case strings.HasPrefix(msg, "group added to "):
		_, rest, _ := cut(msg, ": ")
		action = "group-created"
		st.accountKV(rest, kGroupName)
	case strings.HasPrefix(msg, "add '"), strings.HasPrefix(msg, "delete '"):
		// "add 'bob' to group 'sudo'", "add 'bob' to shadow group 'sudo'",
		// "delete 'bob' from group 'sudo'"
		user, group := quoted2(msg)
		if user == "" {
			return false
		}
		action = "added-to-group"
		if msg[0] == 'd' {
			action = "removed-from-group"
		}
		st.setStr(kUserName, user)
		st.setStr(kGroupName, group)
	case strings.HasPrefix(msg, "delete user '"):
		action = "user-deleted"
		u, _ := quoted2(msg)
		st.setStr(kUserName, u)
	case strings.HasPrefix(msg, "removed group '"), strings.HasPrefix(msg, "group '"):
		g, _ := quoted2(msg)
		if strings.HasPrefix(msg, "group '") && !strings.Contains(msg, "removed") {
			action = "group-modified"
		} else {
			action = "group-deleted"
		}
		st.setStr(kGroupName, g)
	case strings.HasPrefix(msg, "change user '"), strings.HasPrefix(msg, "lock user '"), strings.HasPrefix(msg, "unlock user '"):
		action = "user-modified"
		u, _ := quoted2(msg)
		st.setStr(kUserName, u)
	case strings.HasPrefix(msg, "password for '") || strings.HasPrefix(msg, "password changed for "):
		action = "password-changed"
		if u, _ := quoted2(msg); u != "" {
			st.setStr(kUserName, u)
		} else {
			st.setStr(kUserName, strings.TrimSpace(msg[len("password changed for "):]))
		}
	case strings.HasPrefix(msg, "failed adding user '"):
		action = "user-created"
		u, _ := quoted2(msg)
		st.setStr(kUserName, u)
		st.set(kOutcome, vFailure)
	default:
		return false
	}
	st.set(kCategory, vIAM)
	st.setStr(kAction, action)
	if !st.ev.Has(kOutcome) {
		st.set(kOutcome, vSuccess)
	}
	st.setDataset(prog)
	return true
}

// accountKV parses "name=bob, UID=1001, GID=1001, home=/home/bob, ...".
func (st *state) accountKV(s string, nameKey event.Key) {
	for part := range strings.SplitSeq(s, ", ") {
		k, v, ok := cut(part, "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			st.setStr(nameKey, v)
		case "UID":
			st.setNum(kUserID, v)
		case "GID":
			st.setNum(kGroupID, v)
		case "home":
			st.setStr(kUserHome, v)
		case "shell":
			st.setStr(kUserShell, v)
		}
	}
}

// quoted2 returns the first two 'single-quoted' strings of s.
func quoted2(s string) (a, b string) {
	_, rest, ok := cut(s, "'")
	if !ok {
		return "", ""
	}
	a, rest, ok = cut(rest, "'")
	if !ok {
		return "", ""
	}
	if _, rest, ok = cut(rest, "'"); ok {
		b, _, _ = cut(rest, "'")
	}
	return a, b
}

// logind parses systemd-logind session messages.
func (st *state) logind(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "New session "):
		// "New session 42 of user alice."
		id, rest := word(msg[len("New session "):])
		user, ok := strings.CutPrefix(rest, "of user ")
		if !ok {
			return false
		}
		st.set(kCategory, vSession)
		st.setStr(kAction, "session-created")
		st.setStr(kSessionID, id)
		st.setStr(kUserName, strings.TrimSuffix(user, "."))
	case strings.HasPrefix(msg, "Removed session "):
		id := strings.TrimSuffix(msg[len("Removed session "):], ".")
		st.set(kCategory, vSession)
		st.setStr(kAction, "session-removed")
		st.setStr(kSessionID, id)
	case strings.HasPrefix(msg, "Session ") && strings.Contains(msg, " logged out"):
		id, _ := word(msg[len("Session "):])
		st.set(kCategory, vSession)
		st.setStr(kAction, "session-logged-out")
		st.setStr(kSessionID, id)
	default:
		return false
	}
	st.setDataset("systemd-logind")
	return true
}

// cron parses cron's command log: "(root) CMD (command)".
func (st *state) cron(msg string) bool {
	st.setLogsource("linux", "", "cron")
	if strings.HasPrefix(msg, "pam_unix(") {
		return st.pamUnix(msg, "cron")
	}
	if msg[0] != '(' {
		return false
	}
	user, rest, ok := cut(msg[1:], ") ")
	if !ok {
		return false
	}
	verb, rest := word(rest)
	st.setStr(kUserName, user)
	if verb == "CMD" {
		st.set(kCategory, vProcess)
		st.setStr(kAction, "cron-command")
		cmd := strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")")
		st.setStr(kProcCmdLine, cmd)
	} else {
		st.setStr(kAction, "cron-"+strings.ToLower(verb))
	}
	st.setDataset("cron")
	return true
}

// login parses login(1)'s messages: "FAILED LOGIN (1) on '/dev/tty1' FOR
// 'root', Authentication failure" and "ROOT LOGIN  on '/dev/tty1'".
func (st *state) login(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "pam_unix("):
		return st.pamUnix(msg, "login")
	case strings.HasPrefix(msg, "FAILED LOGIN "):
		_, rest, ok := cut(msg, " FOR '")
		if !ok {
			return false
		}
		user, reason, _ := cut(rest, "'")
		st.authEvent("login", "login", vFailure)
		st.setStr(kUserName, user)
		st.setStr(kErrMessage, strings.TrimPrefix(reason, ", "))
		if tty, _ := quoted2(msg); tty != "" {
			st.setStr(kTTY, tty)
		}
		return true
	case strings.HasPrefix(msg, "ROOT LOGIN "):
		st.authEvent("login", "login", vSuccess)
		st.set(kUserName, event.String("root"))
		if tty, _ := quoted2(msg); tty != "" {
			st.setStr(kTTY, tty)
		}
		return true
	}
	return false
}

// pamKV parses the "logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4
// user=root" tail of PAM failure messages.
func (st *state) pamKV(kvs, prog, svc string) {
	var user, ruser, rhost, logname string
	for kvs != "" {
		var f string
		kvs = strings.TrimLeft(kvs, " ")
		f, kvs = word(kvs)
		k, v, _ := cut(f, "=")
		switch k {
		case "user":
			user = v
		case "ruser":
			ruser = v
		case "rhost":
			rhost = v
		case "logname":
			logname = v
		case "tty":
			st.setStr(kTTY, v)
		}
	}
	if prog == "su" || svc == "su" || svc == "sudo" {
		// The acting user is ruser (or logname); user is the target.
		actor := ruser
		if actor == "" {
			actor = logname
		}
		st.setStr(kUserName, actor)
		st.setStr(kTargetUser, user)
	} else {
		st.setStr(kUserName, user)
	}
	if isIPLike(rhost) {
		st.setStr(kSourceIP, rhost)
	}
}
