package detect

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

func mustRules(t testing.TB, text string) []*sigma.Rule {
	t.Helper()
	rules, err := sigma.Parse([]byte(text), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

const corrRules = `
title: failed
id: failed
logsource: {product: test}
detection:
  sel:
    Outcome: failure
  condition: sel
---
title: brute force
id: bf
correlation:
  type: event_count
  rules: [failed]
  group-by: [User, Host]
  timespan: 1m
  condition:
    gte: 3
`

func testEvent(sec int, fields ...string) *event.Event {
	ev := &event.Event{Logsource: event.Logsource{Product: "test"}, Time: confBase.Add(time.Duration(sec) * time.Second)}
	for i := 0; i+1 < len(fields); i += 2 {
		ev.Set(fields[i], event.String(fields[i+1]))
	}
	return ev
}

func TestCorrelationDetection(t *testing.T) {
	eng, skipped, err := Compile(mustRules(t, corrRules), Options{MaxEventsPerDetection: 2})
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Compile: %v %v", err, skipped)
	}
	var got []Detection
	for i := 0; i < 3; i++ {
		got = append(got, eng.MatchAll(testEvent(i*10, "Outcome", "failure", "User", "bob", "Host", "h1"))...)
	}
	if len(got) != 1 {
		t.Fatalf("got %d detections, want 1", len(got))
	}
	d := got[0]
	if d.Rule.ID != "bf" || d.Count != 3 || d.Value != 3 || len(d.Events) != 2 {
		t.Errorf("got rule %s count %d value %v events %d, want bf 3 3 2", d.Rule.ID, d.Count, d.Value, len(d.Events))
	}
	if want := confBase.Add(20 * time.Second); !d.Time.Equal(want) {
		t.Errorf("got time %v, want %v", d.Time, want)
	}
	// The first contributing event keeps no copy (Events start at the
	// second), but its time is the detection's First.
	if !d.First.Equal(confBase) || !d.Events[0].Timestamp().Equal(confBase.Add(10*time.Second)) {
		t.Errorf("got first %v and first kept event at %v, want %v and %v", d.First, d.Events[0].Timestamp(), confBase, confBase.Add(10*time.Second))
	}
	wantGroup := []GroupValue{{"User", "bob"}, {"Host", "h1"}}
	if diff := cmp.Diff(wantGroup, d.Group); diff != "" {
		t.Errorf("group mismatch (-want +got):\n%s", diff)
	}
	if st := eng.CorrelationStats(); st.Matches != 1 || st.Groups != 1 {
		t.Errorf("got stats %+v, want 1 match and 1 group", st)
	}
}

func TestCorrelationBounds(t *testing.T) {
	eng, _, _ := Compile(mustRules(t, corrRules), Options{MaxGroups: 2, MaxGroupEntries: 1})
	for i := 0; i < 10; i++ {
		eng.MatchAll(testEvent(i, "Outcome", "failure", "User", string(rune('a'+i)), "Host", "h"))
	}
	eng.MatchAll(testEvent(20, "Outcome", "failure", "User", "a", "Host", "x"))
	eng.MatchAll(testEvent(21, "Outcome", "failure", "User", "a", "Host", "x"))
	st := eng.CorrelationStats()
	if st.Groups != 2 || st.EvictedGroups != 9 || st.DroppedEntries != 1 {
		t.Errorf("got stats %+v, want 2 groups, 9 evicted, 1 dropped", st)
	}
}

func TestTransferState(t *testing.T) {
	rules := mustRules(t, corrRules)
	old, _, _ := Compile(rules, Options{})
	for i := 0; i < 2; i++ {
		old.MatchAll(testEvent(i, "Outcome", "failure", "User", "bob", "Host", "h1"))
	}
	eng, _, _ := Compile(mustRules(t, corrRules), Options{})
	eng.TransferState(old)
	got := eng.MatchAll(testEvent(3, "Outcome", "failure", "User", "bob", "Host", "h1"))
	if len(got) != 1 || got[0].Rule.ID != "bf" {
		t.Errorf("after transfer got %d detections, want the correlation to complete", len(got))
	}
}

func TestSkippedReasons(t *testing.T) {
	rules := mustRules(t, `
title: placeholder
id: ph
logsource: {product: test}
detection:
  sel:
    User|expand: '%admins%'
  condition: sel
`)
	_, skipped, err := Compile(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0].Reason, sigma.ErrPlaceholder) {
		t.Fatalf("got skipped %v, want the placeholder rule with ErrPlaceholder", skipped)
	}
}

func TestConcurrentMatch(t *testing.T) {
	rules := mustRules(t, corrRules+`
---
title: cmd
id: cmd
logsource: {product: test}
detection:
  sel:
    CommandLine|contains: whoami
  re:
    CommandLine|re: '(?i)wh[o0]ami$'
  condition: sel and re
`)
	eng, _, _ := Compile(rules, Options{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				got := eng.MatchAll(testEvent(i, "CommandLine", "cmd /c WHOAMI", "Outcome", "failure", "User", "u", "Host", strings.Repeat("h", g)))
				found := false
				for _, d := range got {
					if d.Rule.ID == "cmd" {
						found = true
					}
				}
				if !found {
					t.Errorf("goroutine %d event %d: cmd rule did not match", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCoverage(t *testing.T) {
	rules := mustRules(t, `
title: a
id: a
logsource: {product: windows, category: process_creation}
detection:
  sel:
    Image: x
  condition: sel
---
title: b
id: b
logsource: {product: windows, category: process_creation}
detection:
  sel:
    Image: y
  condition: sel
---
title: c
id: c
logsource: {product: nothing, service: here}
detection:
  sel:
    X: y
  condition: sel
`)
	eng, _, _ := Compile(rules, Options{})
	cov := eng.Coverage()
	if len(cov) != 2 {
		t.Fatalf("got %d logsources, want 2", len(cov))
	}
	if cov[0].Logsource.Product != "nothing" || len(cov[0].Sources) != 0 || cov[0].Rules != 1 {
		t.Errorf("got %+v, want nothing/here unmapped with 1 rule", cov[0])
	}
	if cov[1].Rules != 2 || len(cov[1].Sources) < 2 {
		t.Errorf("got %+v, want process_creation with 2 rules and at least 2 sources", cov[1])
	}
}

func TestPlansBounded(t *testing.T) {
	eng, _, _ := Compile(mustRules(t, corrRules), Options{})
	for i := 0; i < 1000; i++ {
		ev := testEvent(i, "Outcome", "failure")
		ev.Logsource.Service = "svc" + strings.Repeat("x", i%50) + string(rune('a'+i%26))
		eng.MatchAll(ev)
	}
	if n := len(*eng.plans.Load()); n != 1 {
		t.Errorf("got %d plans for events differing only in unused service names, want 1", n)
	}
}

// TestEmptyLogsource: a rule that asks for no logsource sees every event,
// including events that have none (plain text lines, application JSON);
// a rule that asks for one does not see those.
func TestEmptyLogsource(t *testing.T) {
	eng, _, _ := Compile(mustRules(t, `
title: anywhere
id: anywhere
logsource: {}
detection:
  keywords: [MAGICWORD]
  condition: keywords
---
title: windows only
id: win
logsource: {product: windows}
detection:
  keywords: [MAGICWORD]
  condition: keywords
`), Options{})
	for _, tc := range []struct {
		ls   event.Logsource
		want []string
	}{
		{event.Logsource{}, []string{"anywhere"}},
		{event.Logsource{Product: "linux", Service: "sshd"}, []string{"anywhere"}},
		{event.Logsource{Product: "windows"}, []string{"anywhere", "win"}},
	} {
		ev := &event.Event{Raw: "plain MAGICWORD line", Logsource: tc.ls}
		ev.SetString("message", ev.Raw)
		var got []string
		for _, d := range eng.MatchAll(ev) {
			got = append(got, d.Rule.ID)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("logsource %+v: rules (-want +got):\n%s", tc.ls, diff)
		}
	}
}

// TestCorrelationKeepsFewEvents: a group keeps the event of only its
// newest MaxEventsPerDetection entries (what a detection can carry), even
// when events arrive out of order, and the detection still counts them all.
func TestCorrelationKeepsFewEvents(t *testing.T) {
	rules := strings.Replace(corrRules, "gte: 3", "gte: 40", 1)
	eng, _, _ := Compile(mustRules(t, rules), Options{MaxEventsPerDetection: 4})
	secs := []int{0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16, 18, 17, 19}
	for _, s := range secs {
		if ds := eng.MatchAll(testEvent(s, "Outcome", "failure", "User", "u", "Host", "h")); len(ds) != 0 {
			t.Fatalf("detection after %d events", len(ds))
		}
	}
	var kept, entries int
	for _, g := range eng.corr.groups {
		for i, en := range g.entries {
			entries++
			if en.event() != nil {
				kept++
				if i < len(g.entries)-4 {
					t.Errorf("entry %d of %d (t=%v) keeps its event", i, len(g.entries), en.t)
				}
			}
		}
	}
	if entries != len(secs) || kept != 4 {
		t.Errorf("got %d entries, %d with events; want %d and 4", entries, kept, len(secs))
	}
	var got []Detection
	for s := 20; s < 40; s++ {
		got = append(got, eng.MatchAll(testEvent(s, "Outcome", "failure", "User", "u", "Host", "h"))...)
	}
	var corr []Detection
	for _, d := range got {
		if d.Rule.ID == "bf" {
			corr = append(corr, d)
		}
	}
	if len(corr) != 1 || corr[0].Count != 40 || len(corr[0].Events) != 4 || corr[0].Event == nil {
		t.Fatalf("got %d correlation detections %+v, want one counting 40 with 4 events", len(corr), corr)
	}
	if ts := corr[0].Events[3].Timestamp(); !ts.Equal(confBase.Add(39 * time.Second)) {
		t.Errorf("last contributing event at %v, want the newest", ts)
	}
	if !corr[0].First.Equal(confBase) {
		t.Errorf("first contributing event at %v, want %v (the oldest of the window, though its event is not kept)", corr[0].First, confBase)
	}
}

// TestCorrelationKeepFields: with KeepFields, a correlation reports its
// contributing events as one event holding every distinct value of those
// fields and of its own (group-by) fields, nothing else, at the time of
// the first; the event that completes the window comes whole.
func TestCorrelationKeepFields(t *testing.T) {
	eng, _, _ := Compile(mustRules(t, corrRules), Options{KeepFields: []string{"src"}})
	var got []Detection
	for i := 0; i < 3; i++ {
		ev := testEvent(i, "Outcome", "failure", "User", "u", "Host", "h", "src", fmt.Sprintf("10.0.0.%d", i%2), "big", strings.Repeat("x", 100))
		ev.Raw = "raw line"
		for _, d := range eng.MatchAll(ev) {
			if d.Rule.ID == "bf" {
				got = append(got, d)
			}
		}
	}
	if len(got) != 1 || len(got[0].Events) != 1 {
		t.Fatalf("got %+v, want one correlation with one summary event", got)
	}
	d := got[0]
	if d.Event.Raw != "raw line" || d.Event.Str("big") == "" {
		t.Errorf("the completing event is not whole: %s", d.Event.AppendJSON(nil))
	}
	sum := d.Events[0]
	var names []string
	for _, f := range sum.Fields {
		names = append(names, f.Key.Name()+"="+f.Value.Str)
	}
	if diff := cmp.Diff([]string{"User=u", "Host=h", "src=10.0.0.0", "src=10.0.0.1"}, names); diff != "" || sum.Raw != "" || !sum.Time.Equal(confBase) {
		t.Errorf("summary event %s at %v: fields (-want +got):\n%s", sum.AppendJSON(nil), sum.Time, diff)
	}
}

// TestDigestBounds: a digest keeps each value once, cuts long values and
// stops growing at its bound.
func TestDigestBounds(t *testing.T) {
	c := &correlator{keepKeys: keepKeys([]string{"User"})}
	var dig string
	for i := range 200 {
		dig = c.digest(dig, testEvent(0, "User", fmt.Sprintf("user%03d", i%150)))
		dig = c.digest(dig, testEvent(0, "User", strings.Repeat("y", 1000)))
	}
	if len(dig) > maxDigest {
		t.Errorf("digest of %d bytes, want at most %d", len(dig), maxDigest)
	}
	seen := map[string]int{}
	digestRecords(dig, func(_ event.Key, v string) bool { seen[v]++; return true })
	for v, n := range seen {
		if n != 1 || len(v) > maxDigestValue {
			t.Errorf("value %.20q... (%d bytes) %d times, want once and at most %d bytes", v, len(v), n, maxDigestValue)
		}
	}
}

// TestCorrelationEvictsOneOffsFirst floods the state with one-off keys
// (one failed login from each of many users) while one user keeps
// failing: once seen twice, the repeat offender's group is protected, so
// the correlation still completes although far more keys than MaxGroups
// went by in between.
func TestCorrelationEvictsOneOffsFirst(t *testing.T) {
	eng, _, _ := Compile(mustRules(t, corrRules), Options{MaxGroups: 10})
	var got []Detection
	for i, sec := range []int{0, 1, 30} {
		got = append(got, eng.MatchAll(testEvent(sec, "Outcome", "failure", "User", "mallory", "Host", "h1"))...)
		if i == 0 {
			continue // seen twice before the flood
		}
		for j := 0; j < 75; j++ {
			eng.MatchAll(testEvent(sec, "Outcome", "failure", "User", fmt.Sprintf("noise%d-%d", i, j), "Host", "h1"))
		}
	}
	if len(got) != 1 || got[0].Group[0].Value != "mallory" {
		t.Fatalf("got %d detections, want mallory's brute force", len(got))
	}
	if st := eng.CorrelationStats(); st.EvictedGroups != 141 {
		t.Errorf("got %d groups evicted, want 141 (of 150 one-offs, the 9 last stay)", st.EvictedGroups)
	}
}

// TestCorrelationGroupByIsMapped: a correlation groups by the field as
// its input rule's logsource maps it. The web scanning rule groups by
// c-ip; nginx's events carry the client as source.ip, and grouping by the
// raw name put every scanner in one group.
func TestCorrelationGroupByIsMapped(t *testing.T) {
	rules := mustRules(t, `
title: not found
id: nf
logsource: {category: webserver}
detection:
  sel:
    sc-status: 404
  condition: sel
---
title: scanning
id: scan
correlation:
  type: event_count
  rules: [nf]
  group-by: [c-ip]
  timespan: 2m
  condition:
    gte: 3
`)
	eng, skipped, err := Compile(rules, Options{})
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Compile: %v %v", err, skipped)
	}
	web := func(sec int, ip string) *event.Event {
		ev := &event.Event{Logsource: event.Logsource{Category: "webserver"}, Time: confBase.Add(time.Duration(sec) * time.Second)}
		ev.Set("source.ip", event.String(ip))
		ev.Set("http.response.status_code", event.Int(404))
		return ev
	}
	var got []Detection
	// Two sources, two 404s each: no source reaches three.
	for i, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.2"} {
		for _, d := range eng.MatchAll(web(i, ip)) {
			if d.Rule.ID == "scan" {
				got = append(got, d)
			}
		}
	}
	if len(got) != 0 {
		t.Fatalf("two sources with two 404s each made %d scanning detections (group %v), want none", len(got), got[0].Group)
	}
	for _, d := range eng.MatchAll(web(10, "203.0.113.1")) {
		if d.Rule.ID == "scan" {
			got = append(got, d)
		}
	}
	if len(got) != 1 {
		t.Fatalf("the third 404 from one source: %d detections, want 1", len(got))
	}
	if want := []GroupValue{{"c-ip", "203.0.113.1"}}; !cmp.Equal(want, got[0].Group) {
		t.Errorf("group %v, want %v", got[0].Group, want)
	}
}
