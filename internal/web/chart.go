package web

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
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
				writeTimeLabel(&b, x, start.Add(time.Duration(i)*span), span)
			}
		}
	}
	writeZoneLabel(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// writeTimeLabel writes an x-axis label: the UTC time, with the instant
// and its granularity in data attributes for console.js to show it in the
// user's zone.
func writeTimeLabel(b *strings.Builder, x float64, t time.Time, span time.Duration) {
	if x > chartW-40 {
		return // it would run off the chart's right edge
	}
	fmt.Fprintf(b, `<text class="axis" x="%.1f" y="%g" data-t="%s" data-span="%d">%s</text>`,
		x, chartH-4, t.UTC().Format(time.RFC3339), int64(span/time.Second), bucketLabel(t, span))
}

// writeZoneLabel writes the zone the x axis is in, left of its first
// label, under the y axis.
func writeZoneLabel(b *strings.Builder) {
	fmt.Fprintf(b, `<text class="axis tz" x="%g" y="%g" text-anchor="end">UTC</text>`, padL-4, chartH-4)
}

// Line charts draw a timechart's result: one line per aggregate, or per
// value of its by field.

// maxChartSeries bounds the lines of a chart; the table below the chart
// has every row.
const maxChartSeries = 8

// linePoint is one bucket's value.
type linePoint struct {
	T time.Time
	V float64
}

// lineSeries is one line of a chart, its points in time order.
type lineSeries struct {
	Name string
	// Points are the buckets that have a value.
	Points []linePoint
	// Additive says a missing bucket is zero (count, sum, dc: no event, no
	// value) rather than unknown (min, max, avg: a gap in the line).
	Additive bool
}

// lineChart draws series of buckets span wide over the time they cover,
// with a legend; past maxChartSeries the lines with the largest values
// are drawn and the legend says how many more the table holds.
func lineChart(title string, span time.Duration, ss []lineSeries) template.HTML {
	if span <= 0 {
		span = time.Minute
	}
	more := 0
	if len(ss) > maxChartSeries {
		weight := func(s lineSeries) float64 {
			var w float64
			for _, p := range s.Points {
				w += math.Abs(p.V)
			}
			return w
		}
		ss = slices.Clone(ss)
		slices.SortStableFunc(ss, func(a, b lineSeries) int { return cmp.Compare(weight(b), weight(a)) })
		more = len(ss) - maxChartSeries
		ss = ss[:maxChartSeries]
	}
	var t0, t1 time.Time
	lo, hi := 0.0, 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			if t0.IsZero() || p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			lo, hi = min(lo, p.V), max(hi, p.V)
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	t1 = t1.Add(span) // the last bucket's width
	plotH := chartH - padB - 4
	total := t1.Sub(t0)
	if total <= 0 {
		total = span
	}
	xOf := func(t time.Time) float64 {
		return padL + (chartW-padL)*float64(t.Sub(t0))/float64(total)
	}
	yOf := func(v float64) float64 { return 4 + plotH*(hi-v)/(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart line" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	for _, f := range []float64{0, 0.5, 1} {
		v := lo + (hi-lo)*f
		y := yOf(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, chartW, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`, padL-4, y+3, fmtNum(roundNice(v)))
	}
	// Eight labels at most, on bucket starts.
	buckets := int64(total / span)
	every := max(1, buckets/8)
	for i := int64(0); i < buckets; i += every {
		t := t0.Add(time.Duration(i) * span)
		writeTimeLabel(&b, xOf(t), t, span)
	}
	writeZoneLabel(&b)
	mid := span / 2
	for i, s := range ss {
		pts := s.Points
		var path strings.Builder
		pen := false
		for j, p := range pts {
			gap := j > 0 && p.T.Sub(pts[j-1].T) > span
			if gap && s.Additive {
				// Down to zero after the last bucket with events, and up
				// from zero before the next.
				fmt.Fprintf(&path, " L%.1f,%.1f L%.1f,%.1f", xOf(pts[j-1].T.Add(span+mid)), yOf(0), xOf(p.T.Add(-span+mid)), yOf(0))
			} else if gap {
				pen = false
			}
			cmd := " L"
			if !pen {
				cmd, pen = " M", true
			}
			fmt.Fprintf(&path, "%s%.1f,%.1f", cmd, xOf(p.T.Add(mid)), yOf(p.V))
		}
		fmt.Fprintf(&b, `<path class="s%d" d="%s"/>`, i, strings.TrimSpace(path.String()))
		if len(pts) <= 120 {
			for _, p := range pts {
				fmt.Fprintf(&b, `<circle class="s%d" cx="%.1f" cy="%.1f" r="2.5"><title>%s %s: %s</title></circle>`,
					i, xOf(p.T.Add(mid)), yOf(p.V), template.HTMLEscapeString(s.Name), p.T.UTC().Format("2006-01-02 15:04:05")+" UTC", fmtNum(p.V))
			}
		}
	}
	b.WriteString(`</svg><div class="legend">`)
	for i, s := range ss {
		fmt.Fprintf(&b, `<span><i class="k-s%d"></i>%s</span>`, i, template.HTMLEscapeString(s.Name))
	}
	if more > 0 {
		fmt.Fprintf(&b, `<span class="muted">and %d more in the table</span>`, more)
	}
	b.WriteString(`</div>`)
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
