package incident

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"strings"
	"text/template"
	"time"
)

// reportData is what the report templates see.
type reportData struct {
	*Incident
	Generated time.Time
	TimeToAck string
	TimeToFix string
}

func newReportData(inc *Incident, now time.Time) reportData {
	d := reportData{Incident: inc, Generated: now.UTC(), TimeToAck: "—", TimeToFix: "—"}
	if !inc.AcknowledgedAt.IsZero() {
		d.TimeToAck = inc.AcknowledgedAt.Sub(inc.Created).Round(time.Second).String()
	}
	if !inc.ResolvedAt.IsZero() {
		d.TimeToFix = inc.ResolvedAt.Sub(inc.Created).Round(time.Second).String()
	}
	return d
}

var funcs = map[string]any{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"or": func(s, def string) string {
		if strings.TrimSpace(s) == "" {
			return def
		}
		return s
	},
	"join": strings.Join,
	// md escapes text for a Markdown table cell or a line: one line, no
	// Markdown or HTML.
	"md": mdInline,
	// mdText escapes text written by a person (a summary, a root cause)
	// as Markdown paragraphs, or gives def when there is none.
	"mdText": func(s, def string) string {
		if strings.TrimSpace(s) == "" {
			return def
		}
		return mdBlock(s)
	},
}

// mdInline escapes s for one line of Markdown (a table cell, a list
// item): line breaks become spaces, then mdBlock.
func mdInline(s string) string {
	return mdBlock(strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s))
}

// mdBlock escapes text from analysts and logs so that Markdown renders it
// as the same text: no links, images, emphasis, code, tables, headings,
// lists or raw HTML. <, > and & become entities (no tag, autolink or
// entity survives); the other characters that are active anywhere in a
// line are backslash-escaped (CommonMark lets any ASCII punctuation be
// escaped); and those active only at the start of a line (#, +, -, =, and
// the . or ) after a number) are escaped there. Line breaks stay, with
// \r\n and \r read as \n. A bare http(s) URL may still be shown as a link
// by renderers that autolink (GitHub): its text is the URL itself.
func mdBlock(s string) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	lineStart, digits := true, false
	rs := []rune(s)
	for i, r := range rs {
		switch r {
		case '_':
			// Inside a word (block_ip, user_name) an underscore never
			// opens or closes emphasis: keep it readable there.
			if i == 0 || i == len(rs)-1 || !alnum(rs[i-1]) || !alnum(rs[i+1]) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '[', ']', '(', ')', '!', '|', '~', '$', '{', '}', '^':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '#', '+', '-', '=':
			if lineStart {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '.':
			if digits {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		switch {
		case r == '\n':
			lineStart, digits = true, false
		case lineStart && (r == ' ' || r == '\t'):
			// still at the start: indentation
		case (lineStart || digits) && '0' <= r && r <= '9':
			lineStart, digits = false, true
		default:
			lineStart, digits = false, false
		}
	}
	return b.String()
}

func alnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

var mdReport = template.Must(template.New("md").Funcs(funcs).Parse(`# Incident report: {{md .Title}}

| | |
|---|---|
| Incident | {{md .ID}} |
| Status | {{.Status}} |
| Severity | {{md .Severity}} |
| Assignee | {{md (or .Assignee "unassigned")}} |
| Opened | {{ts .Created}} |
| Acknowledged | {{ts .AcknowledgedAt}} (after {{.TimeToAck}}) |
| Contained | {{ts .ContainedAt}} |
| Resolved | {{ts .ResolvedAt}} (after {{.TimeToFix}}) |
| Alerts | {{len .Alerts}} |

## Summary

{{mdText .Summary "_No summary written._"}}

## Timeline

| Time | Kind | Who | What |
|---|---|---|---|
{{range .Timeline}}| {{ts .Time}} | {{md .Kind}} | {{md .Actor}} | {{md .Text}} |
{{end}}
## Alerts

| Level | Rule | Count | First seen | Last seen |
|---|---|---|---|---|
{{range .Alerts}}| {{md .Level}} | {{md .RuleTitle}} | {{.Count}} | {{ts .FirstSeen}} | {{ts .LastSeen}} |
{{end}}
## Observables

| Kind | Value | IOC |
|---|---|---|
{{range .Observables}}| {{md .Kind}} | {{md .Value}} | {{if .IOC}}yes{{else}}no{{end}} |
{{end}}
## Actions taken

{{if .Actions}}| Time | Action | Target | Result | By |
|---|---|---|---|---|
{{range .Actions}}| {{ts .Time}} | {{md .Name}} | {{md .Target}} | {{md .Status}}{{if .Result}}: {{md .Result}}{{end}} | {{md .Actor}}{{if .Playbook}} (playbook {{md .Playbook}}){{end}} |
{{end}}{{else}}_None._
{{end}}
## Root cause

{{mdText .RootCause "_Not yet determined._"}}

## Impact

{{mdText .Impact "_Not yet assessed._"}}

## Lessons learned

{{mdText .LessonsLearned "_None recorded._"}}

## Tasks

{{range .Tasks}}- [{{if .Done}}x{{else}} {{end}}] {{md .Title}}
{{else}}_None._
{{end}}
---
Generated by Vigil on {{ts .Generated}}.
`))

var htmlReport = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Incident report: {{.Title}}</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}.muted{color:#57606a}
</style></head><body>
<h1>Incident report: {{.Title}}</h1>
<table>
<tr><th>Incident</th><td>{{.ID}}</td></tr>
<tr><th>Status</th><td>{{.Status}}</td></tr>
<tr><th>Severity</th><td>{{.Severity}}</td></tr>
<tr><th>Assignee</th><td>{{or .Assignee "unassigned"}}</td></tr>
<tr><th>Opened</th><td>{{ts .Created}}</td></tr>
<tr><th>Acknowledged</th><td>{{ts .AcknowledgedAt}} (after {{.TimeToAck}})</td></tr>
<tr><th>Contained</th><td>{{ts .ContainedAt}}</td></tr>
<tr><th>Resolved</th><td>{{ts .ResolvedAt}} (after {{.TimeToFix}})</td></tr>
<tr><th>Alerts</th><td>{{len .Alerts}}</td></tr>
</table>
<h2>Summary</h2><p>{{or .Summary "No summary written."}}</p>
<h2>Timeline</h2>
<table><tr><th>Time</th><th>Kind</th><th>Who</th><th>What</th></tr>
{{range .Timeline}}<tr><td>{{ts .Time}}</td><td>{{.Kind}}</td><td>{{.Actor}}</td><td>{{.Text}}</td></tr>
{{end}}</table>
<h2>Alerts</h2>
<table><tr><th>Level</th><th>Rule</th><th>Count</th><th>First seen</th><th>Last seen</th></tr>
{{range .Alerts}}<tr><td>{{.Level}}</td><td>{{.RuleTitle}}</td><td>{{.Count}}</td><td>{{ts .FirstSeen}}</td><td>{{ts .LastSeen}}</td></tr>
{{end}}</table>
<h2>Observables</h2>
<table><tr><th>Kind</th><th>Value</th><th>IOC</th></tr>
{{range .Observables}}<tr><td>{{.Kind}}</td><td>{{.Value}}</td><td>{{if .IOC}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>
<h2>Actions taken</h2>
{{if .Actions}}<table><tr><th>Time</th><th>Action</th><th>Target</th><th>Result</th><th>By</th></tr>
{{range .Actions}}<tr><td>{{ts .Time}}</td><td>{{.Name}}</td><td>{{.Target}}</td><td>{{.Status}}{{if .Result}}: {{.Result}}{{end}}</td><td>{{.Actor}}{{if .Playbook}} (playbook {{.Playbook}}){{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}
<h2>Root cause</h2><p>{{or .RootCause "Not yet determined."}}</p>
<h2>Impact</h2><p>{{or .Impact "Not yet assessed."}}</p>
<h2>Lessons learned</h2><p>{{or .LessonsLearned "None recorded."}}</p>
<h2>Tasks</h2><ul>{{range .Tasks}}<li>{{if .Done}}☑{{else}}☐{{end}} {{.Title}}</li>{{else}}<li class="muted">None.</li>{{end}}</ul>
<p class="muted">Generated by Vigil on {{ts .Generated}}.</p>
</body></html>
`))

// Report renders the postmortem report of a full incident (from Get) as
// "md" (Markdown) or "html".
func Report(inc *Incident, format string, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	d := newReportData(inc, now)
	var err error
	switch format {
	case "md", "markdown":
		err = mdReport.Execute(&buf, d)
	case "html":
		err = htmlReport.Execute(&buf, d)
	default:
		return nil, fmt.Errorf("report format %q: want md or html", format)
	}
	return buf.Bytes(), err
}

// ServeReport answers a request for inc's report, for the API and the
// console alike: ?format=md (the default, also markdown) or html, as an
// attachment named incident-ID.md or .html. The HTML report carries its
// own inline styles and no script, and its Content-Security-Policy allows
// nothing else (nor framing). When the report cannot be made (an unknown
// format) ServeReport writes nothing and returns the error, for the caller
// to answer 400 in its own error shape.
func ServeReport(w http.ResponseWriter, r *http.Request, inc *Incident, now time.Time) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "md"
	}
	body, err := Report(inc, format, now)
	if err != nil {
		return err
	}
	ext, ctype := "md", "text/markdown; charset=utf-8"
	if format == "html" {
		ext, ctype = "html", "text/html; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `attachment; filename="incident-`+inc.ID+`.`+ext+`"`)
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Write(body)
	return nil
}
