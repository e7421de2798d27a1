package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Dropbear, the small SSH server of routers and embedded Linux (OpenWrt,
// BusyBox systems), logs its logins in its own words; there is no Sigma
// service for it, so its events are told by event.dataset dropbear and the
// same actions as sshd's (ssh_login, ssh_invalid_user,
// ssh_max_auth_attempts).
func init() {
	registerApp(app{programs: []string{"dropbear"}, decode: func(st *state, _, msg string) bool { return st.dropbear(msg) }})
}

// dropbear parses Dropbear's authentication messages:
//
//	Bad password attempt for 'root' from 203.0.113.45:41022
//	Password auth succeeded for 'root' from 192.0.2.10:52144
//	Pubkey auth succeeded for 'alice' with ssh-ed25519 key SHA256:... from 192.0.2.10:52144
//	Login attempt for nonexistent user from 203.0.113.45:41022
//	Exit before auth from <203.0.113.45:41022>: (user 'root', 10 fails): Max auth tries reached - user 'root'
//
// Versions before 2013 write the first two in lower case and name the
// nonexistent user ("... nonexistent user 'admin' from ...").
func (st *state) dropbear(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "Bad password attempt for "), strings.HasPrefix(msg, "bad password attempt for "):
		return st.dropbearLogin(msg[len("Bad password attempt for "):], "password", vFailure)
	case strings.HasPrefix(msg, "Password auth succeeded for "), strings.HasPrefix(msg, "password auth succeeded for "):
		return st.dropbearLogin(msg[len("Password auth succeeded for "):], "password", vSuccess)
	case strings.HasPrefix(msg, "Pubkey auth succeeded for "):
		return st.dropbearLogin(msg[len("Pubkey auth succeeded for "):], "publickey", vSuccess)
	case strings.HasPrefix(msg, "Login attempt for nonexistent user "):
		rest := msg[len("Login attempt for nonexistent user "):]
		if !strings.HasPrefix(rest, "from ") && !st.dropbearUser(rest) {
			return false
		}
		st.authEvent("dropbear", "ssh_invalid_user", vFailure)
		return st.dropbearFrom(rest)
	case strings.HasPrefix(msg, "Exit before auth from <") && strings.Contains(msg, "Max auth tries reached - user '"):
		addr, rest, ok := cut(msg[len("Exit before auth from <"):], ">")
		if !ok {
			return false
		}
		st.authEvent("dropbear", "ssh_max_auth_attempts", vFailure)
		st.dropbearAddr(addr)
		// The user is named last; "is invalid" stands for an unknown one.
		if i := strings.LastIndex(rest, "Max auth tries reached - user '"); i >= 0 {
			if u := strings.TrimSuffix(rest[i+len("Max auth tries reached - user '"):], "'"); u != "is invalid" {
				st.setStr(kUserName, u)
			}
		}
		return true
	}
	return false
}

// dropbearLogin parses "'USER' [with ...] from ADDR" of a login message.
func (st *state) dropbearLogin(s, method string, outcome event.Value) bool {
	if !st.dropbearUser(s) {
		return false
	}
	st.authEvent("dropbear", "ssh_login", outcome)
	st.setStr(kSSHMethod, method)
	return st.dropbearFrom(s)
}

// dropbearUser sets user.name from a quoted "'USER' ..." and reports
// whether s had one. The name is the text up to the last "' " (a name
// may hold a quote).
func (st *state) dropbearUser(s string) bool {
	if !strings.HasPrefix(s, "'") {
		return false
	}
	i := strings.LastIndex(s, "' ")
	if i < 1 {
		return false
	}
	st.setStr(kUserName, s[1:i])
	return true
}

// dropbearFrom sets source.ip and source.port from the " from ADDR" at the
// end of s.
func (st *state) dropbearFrom(s string) bool {
	i := strings.LastIndex(s, "from ")
	if i < 0 {
		return true // the event stands without its address
	}
	st.dropbearAddr(s[i+len("from "):])
	return true
}

// dropbearAddr parses Dropbear's "IP:PORT": an IPv6 address is not
// bracketed, so the port is after the last colon.
func (st *state) dropbearAddr(s string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return
	}
	ip := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
	if !isIPLike(ip) {
		return
	}
	st.setStr(kSourceIP, ip)
	st.setNum(kSourcePort, s[i+1:])
}
