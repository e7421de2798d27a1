package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// body decodes a message text: first by the app registered for the
// program that logged it (see registerApp), then by its shape (CEF, LEEF,
// JSON, auditd, web logs, key=value). A program without an app of its own
// (or with a service only) gets the pam_unix decoder first. hint is a file
// path or other context naming the source, used to tell nginx from Apache.
// a is the app registered for prog (apps[prog]), looked up by the caller.
func (st *state) body(msg, prog string, a *app, hint string) {
	if msg == "" {
		return
	}
	if prog != "" {
		if a != nil && a.decode != nil {
			if a.decode(st, prog, msg) {
				return
			}
		} else if strings.HasPrefix(msg, "pam_unix(") && st.pamUnix(msg, prog) {
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
