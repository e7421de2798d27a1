package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var pagerSummary = regexp.MustCompile(`<span class="summary">([^<]*)</span>`)

func summaryOfPage(page string) string {
	m := pagerSummary.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestConsoleLists: against the real server, the console pages through
// more events than a page holds and says how many there are, a
// correlation alert links to a search of exactly the events that made it
// (the first included, one second before the second), a timechart draws
// a chart, and /favicon.ico answers without a session. The browser side
// (columns, widths, zones) is e2e/layout.test.mjs.
func TestConsoleLists(t *testing.T) {
	s := startServer(t, serverOpts{})
	s.sendJSON("POST", "/api/v1/users", map[string]any{"username": "lists", "password": "lists password 123", "role": "viewer"}, nil, 201)

	// 250 events, a second apart, numbered oldest first.
	now := time.Now().UTC().Truncate(time.Second)
	var nd bytes.Buffer
	for i := range 250 {
		fmt.Fprintf(&nd, `{"@timestamp":%q,"message":"listpage event %03d","host.name":"lists01"}`+"\n", now.Add(time.Duration(i-300)*time.Second).Format(time.RFC3339), i)
	}
	if resp, b := s.request("POST", "/api/v1/ingest", testToken, &nd); resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, b)
	}
	// A brute force of 30 failures a second apart: the correlation fires
	// at the 10th, 20th and 30th.
	ip := "203.0.113.91"
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i := range 30 {
		ts := now.Add(time.Duration(i-40) * time.Second).Format(time.Stamp)
		fmt.Fprintf(&buf, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n", ts, 3000+i, ip, 41000+i)
	}
	conn.Write(buf.Bytes())
	conn.Close()
	if r := s.waitTotal("listpage", 250, 20*time.Second); r.Total != 250 {
		t.Fatalf("got %d events stored, want 250", r.Total)
	}
	var bf alertJSON
	deadline := time.Now().Add(20 * time.Second)
	for bf.Count < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no brute-force alert counting 3 (got %+v)", bf)
		}
		var alerts struct{ Alerts []alertJSON }
		s.getJSON("/api/v1/alerts?limit=100", &alerts)
		for _, a := range alerts.Alerts {
			if a.RuleTitle == "SSH brute force from one source" {
				bf = a
			}
		}
		time.Sleep(100 * time.Millisecond) // the server's pipeline and recorder, a real process
	}

	b := newConsoleBrowser(t, s.http, "layout-test")
	b.login("lists", "lists password 123")
	for _, tt := range []struct {
		path, summary, has string
	}{
		{"/search?" + url.Values{"q": {"listpage"}, "range": {"24h"}}.Encode(), "1–100 of 250 events", "listpage event 249"},
		{"/search?" + url.Values{"q": {"listpage"}, "range": {"24h"}, "offset": {"200"}}.Encode(), "201–250 of 250 events", "listpage event 000"},
		{"/alerts?status=any", "1–1 of 1 alerts", "SSH brute force from one source"},
		{"/incidents?status=any", "", ""},
	} {
		resp, page := b.do("GET", tt.path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d", tt.path, resp.StatusCode)
		}
		if got := summaryOfPage(page); tt.summary != "" && got != tt.summary {
			t.Errorf("%s: summary %q, want %q", tt.path, got, tt.summary)
		}
		if !strings.Contains(page, tt.has) {
			t.Errorf("%s: the page lacks %q", tt.path, tt.has)
		}
	}

	_, page := b.do("GET", "/alerts/"+bf.ID, nil)
	m := regexp.MustCompile(`<a class="button" href="([^"]+)">Search the contributing events</a>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the brute-force alert's page has no link to its events:\n%.2000s", page)
	}
	if !strings.Contains(page, "It fired 3 times") {
		t.Errorf("the page does not say the correlation fired 3 times")
	}
	link := html.UnescapeString(m[1])
	_, found := b.do("GET", link, nil)
	if got, want := summaryOfPage(found), "1–30 of 30 events"; got != want {
		t.Errorf("the search of its events (%s): summary %q, want %q", link, got, want)
	}
	if n := strings.Count(found, "Failed password for root from "+ip); n < 30 {
		t.Errorf("the search lists %d of the failures, want 30", n)
	}
	// The same query through the API: the count the page showed.
	u, _ := url.Parse(link)
	v := u.Query()
	api := url.Values{"q": {v.Get("q")}, "from": {v.Get("from")}, "to": {v.Get("to")}, "limit": {"1"}}
	resp, body := s.request("GET", "/api/v1/search?"+api.Encode(), testToken, nil)
	var res struct{ Total int }
	json.Unmarshal(body, &res)
	if resp.StatusCode != 200 || res.Total != 30 {
		t.Errorf("API search of %s: HTTP %d, total %d, want 30", api.Encode(), resp.StatusCode, res.Total)
	}

	_, page = b.do("GET", "/search?"+url.Values{"q": {"listpage | timechart span=1m count()"}, "range": {"24h"}}.Encode(), nil)
	if !strings.Contains(page, `<figure class="timechart"`) || !strings.Contains(page, `<svg class="chart line"`) {
		t.Errorf("a timechart query draws no chart")
	}

	fav, err := http.Get("http://" + s.http + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	fav.Body.Close()
	if fav.StatusCode != 200 || fav.Header.Get("Content-Type") != "image/x-icon" {
		t.Errorf("/favicon.ico: HTTP %d %q, want 200 image/x-icon", fav.StatusCode, fav.Header.Get("Content-Type"))
	}
}
