package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Charts are drawn on the server as SVG: no chart script to load, nothing
// for the CSP to allow, and colours come from the stylesheet (classes, not
// inline styles).

// series is one stacked layer of a bar chart.
type series struct {
	Class  string
	Values []float64
}

const (
	chartW, chartH = 720.0, 160.0
	padL, padB     = 40.0, 18.0
)

// barChart draws stacked bars over time buckets starting at start, span
// apart. labels names the buckets on the x axis every few bars.
func barChart(title string, start time.Time, span time.Duration, ss []series) template.HTML {
	n := 0
	for _, s := range ss {
		n = max(n, len(s.Values))
	}
	var top float64
	for i := 0; i < n; i++ {
		var sum float64
		for _, s := range ss {
			if i < len(s.Values) {
				sum += s.Values[i]
			}
		}
		top = max(top, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	plotH := chartH - padB - 4
	if top == 0 {
		top = 1
	}
	for _, f := range []float64{0, 0.5, 1} {
		y := 4 + plotH*(1-f)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, chartW, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`, padL-4, y+3, fmtNum(roundNice(top*f)))
	}
	if n > 0 {
		bw := (chartW - padL) / float64(n)
		every := max(1, n/8)
		for i := 0; i < n; i++ {
			x := padL + float64(i)*bw
			y := 4 + plotH
			for _, s := range ss {
				if i >= len(s.Values) || s.Values[i] == 0 {
					continue
				}
				h := plotH * s.Values[i] / top
				y -= h
				fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
					s.Class, x+0.5, y, max(bw-1, 0.5), h, bucketLabel(start.Add(time.Duration(i)*span), span), fmtNum(s.Values[i]))
			}
			if i%every == 0 {
				fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g">%s</text>`, x, chartH-4, bucketLabel(start.Add(time.Duration(i)*span), span))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func roundNice(v float64) float64 {
	if v >= 10 {
		return float64(int64(v + 0.5))
	}
	return float64(int64(v*10+0.5)) / 10
}

func bucketLabel(t time.Time, span time.Duration) string {
	t = t.UTC()
	switch {
	case span >= 24*time.Hour:
		return t.Format("01-02")
	case span >= time.Minute:
		return t.Format("15:04")
	}
	return t.Format("15:04:05")
}
