package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// serviceOf maps a syslog program to the Sigma linux service its messages
// belong to, or "".
func serviceOf(prog string) string {
	switch prog {
	case "sshd", "sshd-session", "sshd-auth":
		return "sshd"
	case "sudo":
		return "sudo"
	case "cron", "CRON", "crond", "anacron":
		return "cron"
	case "auditd", "audispd", "audisp-syslog", "audit":
		return "auditd"
	case "vsftpd":
		return "vsftpd"
	// The auth.log programs: the logsource mapping gathers them into
	// linux/auth.
	case "su", "login", "passwd", "useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "chpasswd", "gpasswd", "polkitd", "systemd-logind":
		return prog
	}
	return ""
}

// body decodes a message text: first by the program that logged it, then by
// its shape (CEF, LEEF, JSON, auditd, web logs, key=value). hint is a file
// path or other context naming the source, used to tell nginx from Apache.
func (st *state) body(msg, prog, hint string) {
	if msg == "" {
		return
	}
	switch prog {
	case "":
	case "sshd", "sshd-session", "sshd-auth":
		if st.sshd(msg) {
			return
		}
	case "sudo":
		if st.sudo(msg) {
			return
		}
	case "su":
		if st.su(msg) {
			return
		}
	case "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel", "passwd", "chpasswd", "gpasswd", "chage", "newusers":
		if st.accounts(prog, msg) {
			return
		}
	case "login":
		if st.login(msg) {
			return
		}
	case "systemd-logind":
		if st.logind(msg) {
			return
		}
	case "cron", "CRON", "crond":
		if st.cron(msg) {
			return
		}
	case "nginx":
		if st.web(msg, "nginx") {
			return
		}
	case "apache", "apache2", "httpd":
		if st.web(msg, "apache") {
			return
		}
	default:
		if strings.HasPrefix(msg, "pam_unix(") && st.pamUnix(msg, prog) {
			return
		}
	}
	st.content(msg, hint)
}

// content decodes msg by its shape alone.
func (st *state) content(msg, hint string) {
	switch {
	case strings.HasPrefix(msg, "CEF:"):
		st.cef(msg)
	case strings.HasPrefix(msg, "LEEF:"):
		st.leef(msg)
	case strings.HasPrefix(msg, "<Event"):
		if !st.eventXML(msg) {
			st.kv(msg)
		}
	case msg[0] == '{':
		st.embeddedJSON(msg)
	case strings.HasPrefix(msg, "type=") || strings.HasPrefix(msg, "node="):
		if !st.auditd(msg) {
			st.kv(msg)
		}
	case strings.HasPrefix(msg, "audit: type=") || strings.HasPrefix(msg, "audit("):
		st.auditd(strings.TrimPrefix(msg, "audit: "))
	default:
		if st.web(msg, webProductFromHint(hint)) {
			return
		}
		st.kv(msg)
	}
}

// webProductFromHint names the web server of a path such as
// /var/log/nginx/access.log, or "".
func webProductFromHint(hint string) string {
	switch {
	case hint == "":
		return ""
	case strings.Contains(hint, "nginx"):
		return "nginx"
	case strings.Contains(hint, "apache"), strings.Contains(hint, "httpd"):
		return "apache"
	}
	return ""
}

// setDataset sets event.dataset and the logsource service of an app parser.
func (st *state) setDataset(dataset string) {
	st.set(kDataset, event.String(dataset))
}
