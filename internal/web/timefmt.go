package web

import (
	"html/template"
	"time"
)

// Times are rendered as <time datetime="..."> elements holding the UTC
// time labelled "UTC"; console.js shows them in the zone the user chose
// (the browser's by default, see docs/console.md) with that zone's label.
// Without script a page still says which zone its times are in.

// timeLayout is how the console writes a time: to the second, without the
// "T", with the zone's label after it.
const timeLayout = "2006-01-02 15:04:05"

// timeHTML renders t as a <time> element ("—" for the zero time).
func timeHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(`<time datetime="` + u.Format(time.RFC3339Nano) + `">` + u.Format(timeLayout) + ` UTC</time>`)
}

// agoHTML renders how long ago t was, as a <time> element whose title is
// the time itself (in the user's zone once console.js ran).
func agoHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	s := u.Format(timeLayout) + " UTC"
	return template.HTML(`<time class="ago" datetime="` + u.Format(time.RFC3339Nano) + `" title="` + s + `">` + template.HTMLEscapeString(ago(t)) + `</time>`)
}
