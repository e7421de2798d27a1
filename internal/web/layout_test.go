package web

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/store"
)

var summaryRE = regexp.MustCompile(`<span class="summary">([^<]*)</span>`)

// summaryOf returns the pager summary of a page ("" when there is none).
func summaryOf(body string) string {
	m := summaryRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestSearchPaging(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.Event
	for i := range 250 {
		at := now.Add(-time.Hour + time.Duration(i)*time.Second)
		ev := &event.Event{Time: at, Received: at}
		ev.SetString("message", fmt.Sprintf("pagetest event %03d", i))
		evs = append(evs, ev)
	}
	if err := e.db.Append(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	search := func(q string, extra url.Values) (int, string) {
		v := url.Values{"q": {q}, "range": {"24h"}}
		for k, vs := range extra {
			v[k] = vs
		}
		resp, body := c.get("/search?" + v.Encode())
		return resp.StatusCode, body
	}
	tests := []struct {
		name        string
		q           string
		offset      string
		summary     string
		first, last string // the newest and oldest event on the page
		links       []string
		noLinks     []string
	}{
		{name: "first page", q: "pagetest", summary: "1–100 of 250 events", first: "pagetest event 249", last: "pagetest event 150",
			links: []string{"Next ›", "Last »"}, noLinks: []string{"‹ Previous", "« First"}},
		{name: "second page", q: "pagetest", offset: "100", summary: "101–200 of 250 events", first: "pagetest event 149", last: "pagetest event 050",
			links: []string{"‹ Previous", "Next ›", "« First", "Last »"}},
		{name: "last page is short", q: "pagetest", offset: "200", summary: "201–250 of 250 events", first: "pagetest event 049", last: "pagetest event 000",
			links: []string{"‹ Previous", "« First"}, noLinks: []string{"Next ›", "Last »"}},
		{name: "past the end", q: "pagetest", offset: "300", summary: "No events on this page (250 in all)", links: []string{"‹ Previous"}},
		{name: "a limit pipe caps the total", q: "pagetest | limit 30", summary: "1–30 of 30 events", first: "pagetest event 249", last: "pagetest event 220",
			noLinks: []string{"Next ›"}},
		{name: "aggregate rows page too", q: "pagetest | stats count() by message", summary: "1–100 of 250 rows", links: []string{"Next ›"}},
		{name: "aggregate rows, last page", q: "pagetest | stats count() by message", offset: "200", summary: "201–250 of 250 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := url.Values{}
			if tt.offset != "" {
				extra.Set("offset", tt.offset)
			}
			code, body := search(tt.q, extra)
			if code != http.StatusOK {
				t.Fatalf("got status %d", code)
			}
			if got := summaryOf(body); got != tt.summary {
				t.Errorf("summary: got %q, want %q", got, tt.summary)
			}
			if tt.first != "" {
				i, j := strings.Index(body, tt.first), strings.Index(body, tt.last)
				if i < 0 || j < 0 || i > j {
					t.Errorf("page does not run from %q to %q", tt.first, tt.last)
				}
			}
			for _, l := range tt.links {
				if !strings.Contains(body, ">"+l+"</a>") {
					t.Errorf("no %q link", l)
				}
			}
			for _, l := range tt.noLinks {
				if strings.Contains(body, ">"+l+"</a>") {
					t.Errorf("a %q link", l)
				}
			}
		})
	}
	// The bound: a search pages through its first store.MaxLimit results.
	for _, tt := range []struct {
		offset string
		ok     bool
	}{{fmt.Sprint(maxSearchOffset), true}, {fmt.Sprint(maxSearchOffset + 1), false}, {"-1", false}, {"x", false}} {
		_, body := search("pagetest", url.Values{"offset": {tt.offset}})
		failed := strings.Contains(body, `class="flash err"`)
		if failed == tt.ok {
			t.Errorf("offset %s: got error %v, want %v", tt.offset, failed, !tt.ok)
		}
		if !tt.ok && tt.offset != "-1" && tt.offset != "x" && !strings.Contains(html.UnescapeString(body), "a search pages through its first 10,000 results") {
			t.Errorf("offset %s: the error does not say what the bound is", tt.offset)
		}
	}
}

// TestPagerCut: past the deepest page paging reaches, the pager says how
// far it reaches and what to do; no link leads past it.
func TestPagerCut(t *testing.T) {
	p := pager{Path: "/search", Params: url.Values{"q": {"x"}}, Size: 100, Shown: 100, Total: 25000, Exact: true,
		MaxOffset: maxSearchOffset, Noun: "events", Beyond: "narrow the time range."}
	if got, want := p.Summary(), "1–100 of 25,000 events"; got != want {
		t.Errorf("summary: got %q, want %q", got, want)
	}
	if got, want := p.Cut(), "Pages reach the first 10,000 of them; narrow the time range."; got != want {
		t.Errorf("cut: got %q, want %q", got, want)
	}
	if got, want := p.Last(), "/search?offset=9900&q=x"; got != want {
		t.Errorf("last: got %q, want %q", got, want)
	}
	p.Offset = maxSearchOffset
	if got := p.Next(); got != "" {
		t.Errorf("next from the deepest page: got %q, want none", got)
	}
	p = pager{Size: 100, Shown: 100, Total: store.MaxLimit, Exact: false, Noun: "rows"}
	if got, want := p.Summary(), "1–100 of at least 10,000 rows"; got != want {
		t.Errorf("summary of a cut aggregate: got %q, want %q", got, want)
	}
}

func FuzzPager(f *testing.F) {
	f.Add(0, 100, 0, int64(0), 9900)
	f.Add(9900, 100, 100, int64(25000), 9900)
	f.Add(5, 1, 1, int64(7), 0)
	f.Fuzz(func(t *testing.T, off, size, shown int, total int64, maxOff int) {
		if size <= 0 || size > 10000 || off < 0 || shown < 0 || total < 0 || maxOff < 0 || off > 1<<30 || maxOff > 1<<30 {
			return
		}
		p := pager{Path: "/x", Offset: off, Size: size, Shown: shown, Total: total, Exact: true, MaxOffset: maxOff, Noun: "items"}
		_ = p.Summary() + p.Cut()
		for _, l := range []string{p.Prev(), p.Next(), p.First(), p.Last()} {
			if l == "" {
				continue
			}
			u, err := url.Parse(l)
			if err != nil {
				t.Fatalf("link %q: %v", l, err)
			}
			n := 0
			if s := u.Query().Get("offset"); s != "" {
				fmt.Sscan(s, &n)
			}
			if n < 0 || maxOff > 0 && n > maxOff || int64(n) >= max(total, 1) && n != 0 {
				t.Errorf("pager %+v links to offset %d", p, n)
			}
		}
	})
}

func TestAlertsPaging(t *testing.T) {
	e := newEnv(t)
	e.addAlerts(t, 450)
	c := e.client(t)
	c.login("analyst")
	for _, tt := range []struct {
		q       string
		summary string
		rows    int
	}{
		{"/alerts?status=any", "1–200 of 450 alerts", 200},
		{"/alerts?status=any&offset=200", "201–400 of 450 alerts", 200},
		{"/alerts?status=any&offset=400", "401–450 of 450 alerts", 50},
		{"/alerts?status=any&limit=1000", "1–450 of 450 alerts", 450},
		{"/alerts?status=any&limit=100&offset=400", "401–450 of 450 alerts", 50},
		{"/alerts?status=any&min_level=critical", "1–90 of 90 alerts", 90},
	} {
		resp, body := c.get(tt.q)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: got status %d", tt.q, resp.StatusCode)
		}
		if got := summaryOf(body); got != tt.summary {
			t.Errorf("%s: summary %q, want %q", tt.q, got, tt.summary)
		}
		if got := strings.Count(body, `name="id" value=`); got != tt.rows {
			t.Errorf("%s: %d rows, want %d", tt.q, got, tt.rows)
		}
	}
	// Assigned alerts page as a list of their own.
	ids := e.addAlerts(t, 3)
	if _, body := c.post("/alerts/bulk", url.Values{"op": {"assign"}, "assignee": {"zoe"}, "id": ids, "return": {"/alerts"}}); strings.Contains(body, "err=") {
		t.Fatalf("assign: %s", body)
	}
	_, body := c.get("/alerts?status=any&assignee=zoe&limit=2")
	if got, want := summaryOf(body), "1–2 of 3 alerts"; got != want {
		t.Errorf("assignee: summary %q, want %q", got, want)
	}
	// The bound.
	resp, _ := c.get(fmt.Sprintf("/alerts?status=any&offset=%d", alert.MaxOffset+1))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "err=offset") {
		t.Errorf("offset past the bound: got %d to %q, want a redirect with the error", resp.StatusCode, loc)
	}
}

func TestIncidentsPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 205 {
		if _, err := e.o.Incidents.Create(t.Context(), "admin", fmt.Sprintf("incident %d", i), "low", nil); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t)
	c.login("viewer")
	_, body := c.get("/incidents?status=any")
	if got, want := summaryOf(body), "1–200 of 205 incidents"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	_, body = c.get("/incidents?status=any&offset=200")
	if got, want := summaryOf(body), "201–205 of 205 incidents"; got != want {
		t.Errorf("second page: summary %q, want %q", got, want)
	}
	if n := strings.Count(body, `<a href="/incidents/`); n != 5 {
		t.Errorf("second page: %d incidents, want 5", n)
	}
}

func TestLineChart(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	pts := func(vals ...float64) []linePoint {
		var out []linePoint
		for i, v := range vals {
			out = append(out, linePoint{T: t0.Add(time.Duration(i) * time.Minute), V: v})
		}
		return out
	}
	t.Run("one line per series, a legend, labels for the zone script", func(t *testing.T) {
		svg := string(lineChart("Timechart: span=1m count()", time.Minute, []lineSeries{
			{Name: "count", Points: pts(1, 5, 2), Additive: true},
			{Name: `<script>"x"`, Points: pts(3, 3)},
		}))
		for _, want := range []string{`<svg class="chart line"`, `<path class="s0" d="M`, `<path class="s1" d="M`,
			`data-t="2026-12-07T10:00:00Z" data-span="60">10:00</text>`, `>UTC</text>`, `<i class="k-s1"></i>&lt;script&gt;&#34;x&#34;</span>`} {
			if !strings.Contains(svg, want) {
				t.Errorf("chart lacks %q:\n%s", want, svg)
			}
		}
		if strings.Contains(svg, "<script>") {
			t.Errorf("a series name reached the page unescaped")
		}
	})
	t.Run("a gap drops an additive line to zero and breaks another", func(t *testing.T) {
		gap := []linePoint{{T: t0, V: 4}, {T: t0.Add(10 * time.Minute), V: 4}}
		svg := string(lineChart("t", time.Minute, []lineSeries{{Name: "count", Points: gap, Additive: true}, {Name: "avg", Points: gap}}))
		add := regexp.MustCompile(`<path class="s0" d="([^"]*)"`).FindStringSubmatch(svg)[1]
		avg := regexp.MustCompile(`<path class="s1" d="([^"]*)"`).FindStringSubmatch(svg)[1]
		if strings.Count(add, "M") != 1 || strings.Count(add, "L") != 3 {
			t.Errorf("additive path %q: want one stroke through two zeros", add)
		}
		if strings.Count(avg, "M") != 2 || strings.Contains(avg, "L") {
			t.Errorf("average path %q: want two separate points", avg)
		}
	})
	t.Run("past the series bound the largest are drawn and the legend says how many more", func(t *testing.T) {
		var ss []lineSeries
		for i := range maxChartSeries + 3 {
			ss = append(ss, lineSeries{Name: fmt.Sprintf("host%02d", i), Points: pts(float64(i))})
		}
		svg := string(lineChart("t", time.Minute, ss))
		if n := strings.Count(svg, "<path "); n != maxChartSeries {
			t.Errorf("%d lines, want %d", n, maxChartSeries)
		}
		if !strings.Contains(svg, "and 3 more in the table") || strings.Contains(svg, ">host00<") || !strings.Contains(svg, "host10") {
			t.Errorf("legend: want the largest series and a note of 3 more:\n%s", svg)
		}
	})
}

// TestTimechartPage: a timechart query shows a chart above its table;
// other aggregates show only the table.
func TestTimechartPage(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Minute)
	var evs []*event.Event
	for i := range 30 {
		at := now.Add(-time.Duration(i) * 20 * time.Second)
		ev := &event.Event{Time: at, Received: at}
		ev.SetString("message", "chartme")
		ev.SetString("host.name", fmt.Sprintf("web%d", i%3))
		evs = append(evs, ev)
	}
	if err := e.db.Append(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	for _, tt := range []struct {
		q      string
		charts int
		lines  int
	}{
		{"chartme | timechart span=1m count()", 1, 1},
		{"chartme | timechart span=1m count() by host.name", 1, 3},
		{"chartme | timechart span=1m count(), dc(host.name)", 1, 2},
		{"chartme | stats count() by host.name", 0, 0},
	} {
		_, body := c.get("/search?" + url.Values{"q": {tt.q}, "range": {"24h"}}.Encode())
		if got := strings.Count(body, `<figure class="timechart"`); got != tt.charts {
			t.Errorf("%s: %d charts, want %d", tt.q, got, tt.charts)
		}
		if got := strings.Count(body, `<path class="s`); got != tt.lines {
			t.Errorf("%s: %d lines, want %d", tt.q, got, tt.lines)
		}
		if !strings.Contains(body, `<table class="list">`) {
			t.Errorf("%s: no table", tt.q)
		}
	}
}

func TestFavicon(t *testing.T) {
	e := newEnv(t)
	// No session: a browser asks for the icon before anyone signs in.
	resp, err := http.Get(e.srv.URL + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	b := buf.Bytes()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/x-icon" {
		t.Fatalf("got %d %q, want 200 image/x-icon", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(b) < 6 || binary.LittleEndian.Uint16(b[2:]) != 1 {
		t.Fatalf("not an ICO file: % x", b[:min(len(b), 16)])
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	var sizes []int
	for i := range n {
		ent := b[6+16*i:]
		size, off := int(binary.LittleEndian.Uint32(ent[8:])), int(binary.LittleEndian.Uint32(ent[12:]))
		img, err := png.Decode(bytes.NewReader(b[off : off+size]))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if w := img.Bounds().Dx(); w != int(ent[0]) {
			t.Errorf("image %d is %d px wide, the directory says %d", i, w, ent[0])
		}
		sizes = append(sizes, img.Bounds().Dx())
	}
	if fmt.Sprint(sizes) != "[16 32]" {
		t.Errorf("sizes %v, want [16 32]", sizes)
	}
	c := e.client(t)
	c.login("viewer")
	if _, body := c.get("/alerts"); !strings.Contains(body, `<link rel="icon" href="/favicon.ico"`) {
		t.Errorf("pages do not link the icon")
	}
}

func TestTimeHTML(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	at := time.Date(2026, 12, 7, 11, 31, 5, 250_000_000, berlin)
	for _, tt := range []struct {
		got, want string
	}{
		{string(timeHTML(at)), `<time datetime="2026-12-07T10:31:05.25Z">2026-12-07 10:31:05 UTC</time>`},
		{string(timeHTML(time.Time{})), "—"},
		{string(agoHTML(time.Time{})), "—"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	if got := string(agoHTML(at)); !strings.HasPrefix(got, `<time class="ago" datetime="2026-12-07T10:31:05.25Z" title="2026-12-07 10:31:05 UTC">`) {
		t.Errorf("ago: got %s", got)
	}
}

// TestAlertPageLinksEvents: an alert's page links to the search of its
// events, and the search lists them.
func TestAlertPageLinksEvents(t *testing.T) {
	e := newEnv(t)
	l := builtinRules(t)
	evs := corpus(t, sshLines(10, "203.0.113.7"))
	if err := e.db.Append(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, ev := range evs {
		for _, d := range l.Engine.MatchAll(ev) {
			if d.Rule.Title != "SSH brute force from one source" {
				continue
			}
			id = ids.New()
			// Stored as the recorder stores it (the recorder's own tests
			// cover how it gets there).
			_, err := e.db.Meta().ExecContext(t.Context(), `INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, grp, event, incident_id, status, dedup_key)
				VALUES (?, ?, ?, 'high', 3, '[]', 1, ?, ?, '{"source.ip":["203.0.113.7"]}', '{"source.ip":"203.0.113.7"}', ?, '', 'open', ?)`,
				id, d.Rule.ID, d.Rule.Title, d.First.UnixNano(), d.Time.UnixNano(), string(d.Event.AppendJSON(nil)), id)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if id == "" {
		t.Fatal("no brute-force detection")
	}
	c := e.client(t)
	c.login("viewer")
	_, page := c.get("/alerts/" + id)
	m := regexp.MustCompile(`<a class="button" href="([^"]+)">Search the contributing events</a>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the alert page has no link to its events:\n%s", page)
	}
	if !strings.Contains(page, "It fired 1 time between") {
		t.Errorf("the page does not say how often the correlation fired")
	}
	_, body := c.get(html.UnescapeString(m[1]))
	if got, want := summaryOf(body), "1–10 of 10 events"; got != want {
		t.Errorf("the search of its events: summary %q, want %q", got, want)
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789…"},
		{"aé", 2, "a…"}, // é is two bytes: not cut in half
		{"日本語", 4, "日…"},
		{"日本語", 0, "…"},
	} {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d): got %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
