package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/query"
)

// templates holds one parsed template set per page: the shared layout and
// partials plus the page's own file.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"time":     timeHTML,
	"ago":      agoHTML,
	"dur":      fmtDuration,
	"join":     strings.Join,
	"levelcls": func(l string) string { return "lvl lvl-" + template.HTMLEscapeString(l) },
	"bytes":    fmtBytes,
	"num":      fmtNum,
	"q":        url.QueryEscape,
	"filter":   addFilter,
	"entq":     entityQuery,
	"lower":    strings.ToLower,
	"add":      func(a, b int) int { return a + b },
	"title":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"truncate": truncate,
}

// truncate cuts s to at most n bytes, at a character boundary, and marks
// the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func parseTemplates() (*templates, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parsing console layout: %w", err)
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		b, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := b.ParseFS(templateFS, n); err != nil {
			return nil, fmt.Errorf("parsing console template %s: %w", n, err)
		}
		t.pages[name] = b
	}
	return t, nil
}

// render executes a page into a buffer first, so a template error never
// leaves half a page behind.
func (t *templates) render(w http.ResponseWriter, code int, name string, data any) {
	p := t.pages[name]
	if p == nil {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	entry := "layout"
	if name == "login" || name == "setup" {
		entry = "bare"
	}
	if v, ok := data.(*view); ok && v.Partial != "" {
		entry = v.Partial
	}
	var buf bytes.Buffer
	if err := p.ExecuteTemplate(&buf, entry, data); err != nil {
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// view is what every page template sees.
type view struct {
	Title    string
	Nav      string
	User     string
	Role     auth.Role
	CanWrite bool
	CanAdmin bool
	CSRF     string
	Msg      string
	Err      string
	// Partial, when set, renders only that template (htmx fragments).
	Partial string
	// Took is the server time spent on the page's data.
	Took time.Duration
	Data any
}

func (c *Console) newView(r *http.Request, s *session, nav, title string, data any) *view {
	v := &view{
		Title: title, Nav: nav, User: s.Username, Role: s.Role,
		CanWrite: s.Role.Can(auth.PermWrite), CanAdmin: s.Role.Can(auth.PermAdmin),
		CSRF: s.CSRF, Data: data,
	}
	// The messages of the redirect after a form post ride in the URL; a
	// link from another site must not be able to put words on the page.
	if site := r.Header.Get("Sec-Fetch-Site"); site == "" || site == "same-origin" {
		v.Msg, v.Err = r.URL.Query().Get("msg"), r.URL.Query().Get("err")
	}
	return v
}

func (c *Console) show(w http.ResponseWriter, r *http.Request, s *session, nav, title string, data any, start time.Time) {
	v := c.newView(r, s, nav, title, data)
	v.Took = time.Since(start)
	c.tmpl.render(w, http.StatusOK, nav, v)
}

// back redirects (303) to path after a form post, with a message. The
// message goes into the query, before any #fragment of path: after it, the
// browser would keep it out of the request and the page would never show
// it.
func back(w http.ResponseWriter, r *http.Request, p, msg string, err error) {
	u, frag, hasFrag := strings.Cut(p, "#")
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	if err != nil {
		u += sep + "err=" + url.QueryEscape(err.Error())
	} else if msg != "" {
		u += sep + "msg=" + url.QueryEscape(msg)
	}
	if hasFrag {
		u += "#" + frag
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (c *Console) fail(w http.ResponseWriter, err error) {
	c.o.Log.Error("console page", "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// audit records a console change; losing the record is logged, not fatal.
func (c *Console) audit(ctx context.Context, actor, action, target string, after any) {
	if c.o.Audit == nil {
		return
	}
	if err := c.o.Audit.Record(ctx, actor, action, target, nil, after); err != nil {
		c.o.Log.Error("audit record lost", "action", action, "target", target, "err", err)
	}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func fmtNum(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != float64(int64(x)) {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		n = int64(x)
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// addFilter returns q narrowed to events whose field equals value, keeping
// q's pipes out (the sidebar filters events).
func addFilter(q, field, value string) string {
	term := (&query.Term{Field: field, Op: query.OpEq, Value: value}).String()
	pq, err := query.Parse(q)
	if err != nil || pq.Filter == nil {
		return term
	}
	switch pq.Filter.(type) {
	case *query.Term, *query.And:
		return pq.Filter.String() + " AND " + term
	}
	return "(" + pq.Filter.String() + ") AND " + term
}

// entityQuery returns a query for the events of an entity: the ECS field
// for kinds that have one, a phrase search otherwise.
func entityQuery(kind, value string) string {
	field := map[string]string{"host": "host.name", "user": "user.name", "source.ip": "source.ip", "destination.ip": "destination.ip"}[kind]
	if field == "" {
		return (&query.Term{Op: query.OpPhrase, Value: value}).String()
	}
	return (&query.Term{Field: field, Op: query.OpEq, Value: value}).String()
}
