package alert

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/sigma"
)

var t0 = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

func testRule(id string) *sigma.Rule {
	return &sigma.Rule{ID: id, Title: "Rule " + id, Level: "high", Tags: []string{"attack.credential-access"}}
}

// det is a detection of r at time at on an event with fields (name, value
// pairs).
func det(r *sigma.Rule, at time.Time, fields ...string) detect.Detection {
	e := &event.Event{Time: at}
	for i := 0; i+1 < len(fields); i += 2 {
		e.SetString(fields[i], fields[i+1])
	}
	return detect.Detection{Rule: r, Event: e, Time: at, Count: 1}
}

// from is a detection of r from source address ip on host web1.
func from(r *sigma.Rule, ip string, at time.Time) detect.Detection {
	return det(r, at, "host.name", "web1", "source.ip", ip)
}

// ipOf is the i-th distinct test address.
func ipOf(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256) }

// recordingHook keeps every change it is told of.
type recordingHook struct {
	mu      sync.Mutex
	changes []Change
}

func (h *recordingHook) AlertsChanged(_ context.Context, cs []Change) {
	h.mu.Lock()
	h.changes = append(h.changes, cs...)
	h.mu.Unlock()
}

func (h *recordingHook) all() []Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.changes)
}

// newRecorder starts a recorder on db, closed when the test ends.
func newRecorder(tb testing.TB, db *sql.DB, o Options) (*Recorder, *Store) {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewRecorder(ctx, s, nil, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r, s
}

// ruleAlerts returns a rule's alerts, oldest first.
func ruleAlerts(t *testing.T, s *Store, ruleID string) []Alert {
	t.Helper()
	as, err := s.List(context.Background(), Filter{RuleID: ruleID, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(as)
	return as
}

// campaigns splits a rule's alerts into campaign and plain ones.
func campaigns(t *testing.T, s *Store, ruleID string) (camps, plain []Alert) {
	t.Helper()
	for _, a := range ruleAlerts(t, s, ruleID) {
		if a.Campaign {
			camps = append(camps, a)
		} else {
			plain = append(plain, a)
		}
	}
	return camps, plain
}

// allMembers pages through a campaign's members.
func allMembers(t *testing.T, s *Store, alertID string, f MemberFilter) []Member {
	t.Helper()
	var out []Member
	for {
		f.Offset = len(out)
		page, err := s.Members(context.Background(), alertID, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < f.Limit {
			return out
		}
	}
}

func values(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Value
	}
	return out
}

// memberCount counts a campaign's rows in alert_members.
func memberCount(t *testing.T, db *sql.DB, alertID string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM alert_members WHERE alert_id = ?`, alertID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRecorderDedup checks that repeats of one rule on the same entities
// fold into one alert while they come within the window of its last
// detection, and that anything else is an alert of its own. Each case runs
// with every detection in one batch, with a batch per detection (folding
// through the open-alert index), and with a batch per detection and an
// index that overflowed (folding through lookupSQL).
func TestRecorderDedup(t *testing.T) { metatest.Engines(t, testRecorderDedup) }

func testRecorderDedup(t *testing.T) {
	brute, scan := testRule("r-brute"), testRule("r-scan")
	type d struct {
		r     *sigma.Rule
		after time.Duration
		kv    []string
	}
	ip := func(r *sigma.Rule, after time.Duration, addr string) d {
		return d{r, after, []string{"host.name", "web1", "source.ip", addr}}
	}
	tests := []struct {
		name string
		dets []d
		// want are the alerts' counts, oldest alert first.
		want []int64
	}{
		{"repeats fold", []d{ip(brute, 0, "10.0.0.1"), ip(brute, time.Minute, "10.0.0.1"), ip(brute, 2*time.Minute, "10.0.0.1")}, []int64{3}},
		{"the window runs from the last detection", []d{ip(brute, 0, "10.0.0.1"), ip(brute, 50*time.Minute, "10.0.0.1"), ip(brute, 100*time.Minute, "10.0.0.1")}, []int64{3}},
		{"a repeat at the window's end folds", []d{ip(brute, 0, "10.0.0.1"), ip(brute, time.Hour, "10.0.0.1")}, []int64{2}},
		{"a repeat after the window is a new alert", []d{ip(brute, 0, "10.0.0.1"), ip(brute, time.Hour+time.Second, "10.0.0.1"), ip(brute, time.Hour+2*time.Second, "10.0.0.1")}, []int64{1, 2}},
		{"another address", []d{ip(brute, 0, "10.0.0.1"), ip(brute, time.Second, "10.0.0.2"), ip(brute, 2*time.Second, "10.0.0.1")}, []int64{2, 1}},
		{"another rule", []d{ip(brute, 0, "10.0.0.1"), ip(scan, time.Second, "10.0.0.1")}, []int64{1, 1}},
		{"another host", []d{
			{brute, 0, []string{"host.name", "web1", "source.ip", "10.0.0.1"}},
			{brute, time.Second, []string{"host.name", "web2", "source.ip", "10.0.0.1"}},
		}, []int64{1, 1}},
		{"without an address, the user", []d{
			{brute, 0, []string{"host.name", "web1", "user.name", "alice"}},
			{brute, time.Second, []string{"host.name", "web1", "user.name", "alice"}},
			{brute, 2 * time.Second, []string{"host.name", "web1", "user.name", "bob"}},
		}, []int64{2, 1}},
	}
	modes := []struct {
		name      string
		flushEach bool
		maxOpen   int
	}{
		{"one batch", false, 0},
		{"batch each", true, 0},
		{"batch each, index overflowed", true, 1},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				db := metatest.Open(t)
				rec, s := newRecorder(t, db, Options{Window: time.Hour, MaxOpen: m.maxOpen, Campaign: CampaignOptions{Threshold: -1}})
				for _, x := range tt.dets {
					rec.Record(det(x.r, t0.Add(x.after), x.kv...))
					if m.flushEach {
						rec.Flush()
					}
				}
				rec.Flush()
				as, err := s.List(context.Background(), Filter{Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				sort.Slice(as, func(i, j int) bool { return as[i].FirstSeen.Before(as[j].FirstSeen) })
				var got []int64
				for _, a := range as {
					got = append(got, a.Count)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got alerts with counts %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// TestRecorderCampaign drives one rule through a storm: threshold-1
// subjects are plain alerts, the threshold-th starts a campaign alert that
// lists the earlier ones, and 10,000 more fold into it, each listed once
// in the table and once in the hooks' changes.
func TestRecorderCampaign(t *testing.T) { metatest.Engines(t, testRecorderCampaign) }

func testRecorderCampaign(t *testing.T) {
	const threshold, wave = 5, 10000
	ctx := context.Background()
	db := metatest.Open(t)
	rec, s := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: threshold, Window: 10 * time.Minute}})
	hook := &recordingHook{}
	rec.AddHook(hook)
	r := testRule("r-brute")
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Millisecond) }

	for i := range threshold - 1 {
		rec.Record(from(r, ipOf(i), at(i)))
	}
	rec.Flush()
	camps, plain := campaigns(t, s, r.ID)
	if len(camps) != 0 || len(plain) != threshold-1 {
		t.Fatalf("%d subjects: got %d campaign and %d plain alerts, want 0 and %d", threshold-1, len(camps), len(plain), threshold-1)
	}

	rec.Record(from(r, ipOf(threshold-1), at(threshold-1)))
	rec.Flush()
	camps, plain = campaigns(t, s, r.ID)
	if len(camps) != 1 || len(plain) != threshold-1 {
		t.Fatalf("%d subjects: got %d campaign and %d plain alerts, want 1 and %d", threshold, len(camps), len(plain), threshold-1)
	}
	camp := camps[0]
	var want []string
	for i := range threshold {
		want = append(want, ipOf(i))
	}
	if got := values(allMembers(t, s, camp.ID, MemberFilter{Limit: 1000})); !slices.Equal(got, want) {
		t.Errorf("new campaign's members: got %v, want %v (the subjects that made it)", got, want)
	}
	if camp.EntityCount != threshold || camp.Count != 1 || camp.DedupKey != "campaign:"+r.ID || !camp.FirstSeen.Equal(at(0)) {
		t.Errorf("new campaign: got entity count %d, count %d, key %q, first seen %v; want %d, 1, %q, %v",
			camp.EntityCount, camp.Count, camp.DedupKey, camp.FirstSeen, threshold, "campaign:"+r.ID, at(0))
	}

	// The wave: 10,000 new subjects in batches, each batch repeating a
	// subject seen before (a member, or one of the plain alerts' subjects
	// that made the campaign).
	n, repeats := threshold, 0
	for n < threshold+wave {
		for range 1000 {
			rec.Record(from(r, ipOf(n), at(n)))
			want = append(want, ipOf(n))
			n++
		}
		rec.Record(from(r, ipOf(n%threshold), at(n)))
		repeats++
		rec.Flush()
	}
	sort.Strings(want)
	camps, plain = campaigns(t, s, r.ID)
	if len(camps) != 1 || camps[0].ID != camp.ID || len(plain) != threshold-1 {
		t.Fatalf("after the wave: got %d campaign alerts and %d plain ones, want the one campaign and %d", len(camps), len(plain), threshold-1)
	}
	camp = camps[0]
	total := int64(threshold + wave)
	if camp.EntityCount != total {
		t.Errorf("entity count: got %d, want %d", camp.EntityCount, total)
	}
	if wantCount := int64(1 + wave + repeats); camp.Count != wantCount {
		t.Errorf("count: got %d, want %d (every detection since the campaign began)", camp.Count, wantCount)
	}
	ms := allMembers(t, s, camp.ID, MemberFilter{Limit: 2500})
	if got := values(ms); !slices.Equal(got, want) {
		t.Errorf("members: got %d values, want %d in value order", len(got), len(want))
	}
	for _, m := range ms {
		if m.Kind != "source.ip" || m.Count < 1 || m.LastSeen.Before(m.FirstSeen) {
			t.Errorf("member %+v: want kind source.ip, a count, first seen before last", m)
			break
		}
	}
	// A prefix filters within the campaign (a page of each is enough
	// here: every listing reads the campaign's rows, see membersSQL).
	for _, prefix := range []string{"10.1.7.", "10.1.39.", "10.1.0.1", "10.2."} {
		var wantP []string
		for _, v := range want {
			if strings.HasPrefix(v, prefix) {
				wantP = append(wantP, v)
			}
		}
		got := values(allMembers(t, s, camp.ID, MemberFilter{Prefix: prefix, Limit: 1000}))
		if !slices.Equal(got, wantP) {
			t.Errorf("members with prefix %q: got %d, want %d", prefix, len(got), len(wantP))
		}
	}

	// Repeats of members raise the count, not the entity count.
	for i := range 500 {
		rec.Record(from(r, ipOf(i*7), at(n+i)))
	}
	rec.Flush()
	got, err := s.Get(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.EntityCount != total || got.Count != camp.Count+500 {
		t.Errorf("after 500 repeats: got entity count %d, count %d; want %d, %d", got.EntityCount, got.Count, total, camp.Count+500)
	}
	if n := memberCount(t, db, camp.ID); n != total {
		t.Errorf("alert_members rows: got %d, want %d", n, total)
	}

	// Every member reached the hooks once, as it joined.
	seen := map[string]int{}
	for _, c := range hook.all() {
		if c.Alert.ID != camp.ID {
			continue
		}
		if !c.Alert.Campaign {
			t.Fatalf("change of %s not marked a campaign", c.Alert.ID)
		}
		for _, m := range c.Members {
			seen[m.Value]++
		}
	}
	// The subjects that raised their own alerts before the campaign are
	// its members but were acted on already: never in Members.
	founders := founderSubjects(hook)
	for _, v := range want {
		if wantN := 1 - founders[v]; seen[v] != wantN {
			t.Errorf("member %s: in the changes' Members %d times, want %d", v, seen[v], wantN)
		}
		delete(seen, v)
	}
	if len(seen) > 0 {
		t.Errorf("changes list %d members that are not subjects", len(seen))
	}
}

// TestRecorderCampaignEnds checks that a campaign takes in subjects while
// they come within its window of the last one, and that after a quiet
// window the next wave is a campaign of its own.
func TestRecorderCampaignEnds(t *testing.T) { metatest.Engines(t, testRecorderCampaignEnds) }

func testRecorderCampaignEnds(t *testing.T) {
	const threshold = 3
	window := 10 * time.Minute
	tests := []struct {
		name string
		gap  time.Duration // between the waves' last and first detection
		// want are the campaigns' entity counts, oldest first, and the
		// plain alerts.
		want  []int64
		plain int
	}{
		{"within the window: one campaign", window, []int64{10}, 2},
		{"after a quiet window: a new campaign", window + time.Second, []int64{5, 5}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := metatest.Open(t)
			rec, s := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: threshold, Window: window}})
			r := testRule("r-brute")
			at := t0
			for i := range 5 {
				rec.Record(from(r, ipOf(i), at))
				at = at.Add(time.Second)
				rec.Flush()
			}
			at = at.Add(tt.gap - time.Second)
			for i := 5; i < 10; i++ {
				rec.Record(from(r, ipOf(i), at))
				at = at.Add(time.Second)
				rec.Flush()
			}
			camps, plain := campaigns(t, s, r.ID)
			var got []int64
			for _, c := range camps {
				got = append(got, c.EntityCount)
			}
			if !slices.Equal(got, tt.want) || len(plain) != tt.plain {
				t.Fatalf("got campaigns of %v subjects and %d plain alerts, want %v and %d", got, len(plain), tt.want, tt.plain)
			}
			if len(camps) == 2 {
				if got := values(allMembers(t, s, camps[1].ID, MemberFilter{Limit: 100})); !slices.Equal(got, []string{ipOf(5), ipOf(6), ipOf(7), ipOf(8), ipOf(9)}) {
					t.Errorf("second campaign's members: got %v, want the second wave's", got)
				}
			}
		})
	}
}

// TestRecorderCampaignMaxMembers checks that a campaign that outgrew its
// in-memory member set (MaxMembers) still counts its subjects exactly:
// EntityCount is the table's count after every batch, repeats included.
func TestRecorderCampaignMaxMembers(t *testing.T) {
	metatest.Engines(t, testRecorderCampaignMaxMembers)
}

func testRecorderCampaignMaxMembers(t *testing.T) {
	for _, maxMembers := range []int{1, 4, 10, 30} {
		t.Run(fmt.Sprint("max ", maxMembers), func(t *testing.T) {
			db := metatest.Open(t)
			rec, s := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: 3, Window: 10 * time.Minute, MaxMembers: maxMembers}})
			hook := &recordingHook{}
			rec.AddHook(hook)
			r := testRule("r-brute")
			at := t0
			distinct := map[string]bool{}
			// Batches of new subjects and repeats: 5 new; 10 new; 5
			// repeats and 10 new; 20 repeats.
			batches := [][2]int{{0, 5}, {5, 15}, {0, 5}, {15, 25}, {0, 20}}
			for _, b := range batches {
				for i := b[0]; i < b[1]; i++ {
					rec.Record(from(r, ipOf(i), at))
					distinct[ipOf(i)] = true
					at = at.Add(time.Millisecond)
				}
				rec.Flush()
				camps, _ := campaigns(t, s, r.ID)
				if len(camps) != 1 {
					t.Fatalf("got %d campaign alerts, want 1", len(camps))
				}
				c := camps[0]
				if rows := memberCount(t, db, c.ID); c.EntityCount != rows || rows != int64(len(distinct)) {
					t.Fatalf("after subjects %d..%d: got entity count %d and %d member rows, want both %d", b[0], b[1]-1, c.EntityCount, rows, len(distinct))
				}
			}
			seen := map[string]int{}
			for _, c := range hook.all() {
				for _, m := range c.Members {
					seen[m.Value]++
				}
			}
			founders := founderSubjects(hook)
			for v := range distinct {
				if wantN := 1 - founders[v]; seen[v] != wantN {
					t.Errorf("member %s: in the changes' Members %d times, want %d", v, seen[v], wantN)
				}
			}
		})
	}
}

// blockingHook stalls the writer: its first call says so on entered and
// waits for release.
type blockingHook struct {
	entered, release chan struct{}
	once             sync.Once
}

func (h *blockingHook) AlertsChanged(context.Context, []Change) {
	h.once.Do(func() { close(h.entered) })
	<-h.release
}

// TestRecorderShed stalls the writer in a hook and checks that Record
// still returns at once, that what the full queue cannot take is counted,
// and that what it took is stored once the writer moves again.
func TestRecorderShed(t *testing.T) { metatest.Engines(t, testRecorderShed) }

func testRecorderShed(t *testing.T) {
	const queue, extra = 2, 8
	db := metatest.Open(t)
	var onShed atomic.Int64
	rec, s := newRecorder(t, db, Options{QueueSize: queue, Campaign: CampaignOptions{Threshold: -1}, OnShed: func() { onShed.Add(1) }})
	h := &blockingHook{entered: make(chan struct{}), release: make(chan struct{})}
	var release sync.Once
	unblock := func() { release.Do(func() { close(h.release) }) }
	t.Cleanup(unblock) // before Close (cleanups run last first)
	rec.AddHook(h)
	r := testRule("r-brute")

	rec.Record(from(r, ipOf(0), t0))
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not commit the first detection within 10s")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= queue+extra; i++ {
			rec.Record(from(r, ipOf(i), t0.Add(time.Duration(i)*time.Second)))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked while the writer was stalled")
	}
	if got := rec.Shed(); got != extra {
		t.Errorf("Shed: got %d, want %d", got, extra)
	}
	if got := onShed.Load(); got != extra {
		t.Errorf("OnShed calls: got %d, want %d", got, extra)
	}
	if got := rec.QueueDepth(); got != queue {
		t.Errorf("QueueDepth: got %d, want %d", got, queue)
	}

	unblock()
	rec.Flush()
	var got []string
	for _, a := range ruleAlerts(t, s, r.ID) {
		got = append(got, a.Entities["source.ip"][0])
	}
	if want := []string{ipOf(0), ipOf(1), ipOf(2)}; !slices.Equal(got, want) {
		t.Errorf("stored alerts' addresses: got %v, want %v (the first detection and the %d queued)", got, want, queue)
	}
}

// TestRecorderRestart closes a recorder and starts another on the same
// database: repeats fold into the alerts stored before, found in the index
// loaded at start, and an open campaign goes on as the same alert.
func TestRecorderRestart(t *testing.T) { metatest.Engines(t, testRecorderRestart) }

func testRecorderRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db := metatest.OpenPath(t, path)
	o := Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: 3, Window: 10 * time.Minute}}
	plainRule, campRule := testRule("r-plain"), testRule("r-camp")

	rec1, s := newRecorder(t, db, o)
	rec1.Record(from(plainRule, "203.0.113.5", t0))
	for i := range 4 {
		rec1.Record(from(campRule, ipOf(i), t0.Add(time.Duration(i)*time.Second)))
		rec1.Flush()
	}
	rec1.Close()
	before := ruleAlerts(t, s, plainRule.ID)
	campsBefore, _ := campaigns(t, s, campRule.ID)
	if len(before) != 1 || len(campsBefore) != 1 || campsBefore[0].EntityCount != 4 {
		t.Fatalf("before the restart: got %d plain alerts and %d campaigns, want 1 and 1 of 4 subjects", len(before), len(campsBefore))
	}

	// A new recorder on a new connection pool, as after a process restart.
	db2 := metatest.OpenPath(t, path)
	rec2, s2 := newRecorder(t, db2, o)
	hook := &recordingHook{}
	rec2.AddHook(hook)
	if !rec2.complete || len(rec2.live) != 3 || rec2.camps[campRule.ID] == nil {
		t.Fatalf("index loaded at start: complete %v, %d open alerts, campaign %v; want complete, 3 (one plain, two campaign subjects' own), the campaign",
			rec2.complete, len(rec2.live), rec2.camps[campRule.ID] != nil)
	}
	rec2.Record(from(plainRule, "203.0.113.5", t0.Add(2*time.Minute)))
	rec2.Record(from(campRule, ipOf(4), t0.Add(2*time.Minute))) // new
	rec2.Record(from(campRule, ipOf(1), t0.Add(2*time.Minute))) // a member
	rec2.Flush()

	after := ruleAlerts(t, s2, plainRule.ID)
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].Count != 2 {
		t.Errorf("plain repeat after the restart: got %d alerts (first %s, count %d), want alert %s with count 2", len(after), after[0].ID, after[0].Count, before[0].ID)
	}
	camps, _ := campaigns(t, s2, campRule.ID)
	if len(camps) != 1 || camps[0].ID != campsBefore[0].ID {
		t.Fatalf("campaign after the restart: got %d campaign alerts, want the one from before (%s)", len(camps), campsBefore[0].ID)
	}
	if c := camps[0]; c.EntityCount != 5 || c.Count != campsBefore[0].Count+2 {
		t.Errorf("campaign after the restart: got entity count %d, count %d; want 5, %d", c.EntityCount, c.Count, campsBefore[0].Count+2)
	}
	var joined []string
	for _, c := range hook.all() {
		if c.Alert.Campaign {
			joined = append(joined, values(c.Members)...)
		}
	}
	if want := []string{ipOf(4)}; !slices.Equal(joined, want) {
		t.Errorf("members the hooks were told joined after the restart: got %v, want %v (a member's repeat is not new)", joined, want)
	}
}

// TestRecorderForget closes an alert in the table, as an incident does,
// and checks that after Forget a repeat raises a new alert instead of
// folding into the closed one.
func TestRecorderForget(t *testing.T) { metatest.Engines(t, testRecorderForget) }

func testRecorderForget(t *testing.T) {
	tests := []struct {
		name string
		// campaign closes the campaign alert (the repeat then goes to
		// its subject's own open alert), else the plain one.
		campaign bool
	}{
		{"plain alert", false},
		{"campaign alert", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := metatest.Open(t)
			rec, s := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: 3, Window: 10 * time.Minute}})
			r := testRule("r-brute")
			n := 1
			if tt.campaign {
				n = 3
			}
			for i := range n {
				rec.Record(from(r, ipOf(i), t0.Add(time.Duration(i)*time.Second)))
				rec.Flush()
			}
			camps, plain := campaigns(t, s, r.ID)
			closed := plain[0]
			if tt.campaign {
				closed = camps[0]
			}
			if _, err := db.ExecContext(ctx, `UPDATE alerts SET status = 'closed' WHERE id = ?`, closed.ID); err != nil {
				t.Fatal(err)
			}
			rec.Forget()
			// A repeat of the closed alert's subject.
			rec.Record(from(r, ipOf(0), t0.Add(time.Minute)))
			rec.Flush()
			got, err := s.Get(ctx, closed.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Count != closed.Count || got.Status != "closed" {
				t.Errorf("closed alert: got count %d, status %s; want it untouched (count %d, closed)", got.Count, got.Status, closed.Count)
			}
			var open []Alert
			for _, a := range ruleAlerts(t, s, r.ID) {
				if a.Status == "open" && a.LastSeen.Equal(t0.Add(time.Minute)) {
					open = append(open, a)
				}
			}
			if len(open) != 1 || open[0].ID == closed.ID || open[0].Campaign {
				t.Fatalf("after Forget, the repeat: got %d open alerts holding it, want one plain alert other than the closed one", len(open))
			}
		})
	}
}

// BenchmarkRecorderCampaign measures the recorder folding detections from
// distinct subjects into one campaign alert (a storm's steady state): each
// iteration records 1,000 detections and waits for their commit.
func BenchmarkRecorderCampaign(b *testing.B) {
	db := metatest.Open(b)
	rec, _ := newRecorder(b, db, Options{Window: time.Hour, Campaign: CampaignOptions{Window: time.Hour}})
	r := testRule("r-brute")
	const perIter = 1000
	n := 0
	for b.Loop() {
		for range perIter {
			rec.Record(from(r, ipOf(n), t0.Add(time.Duration(n)*time.Microsecond)))
			n++
		}
		rec.Flush()
	}
	if rec.Shed() > 0 {
		b.Fatalf("shed %d detections", rec.Shed())
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "detections/s")
}

// founderSubjects returns the source addresses of the plain alerts the
// hook saw created: the subjects that made a campaign.
func founderSubjects(hook *recordingHook) map[string]int {
	out := map[string]int{}
	for _, c := range hook.all() {
		if c.New && !c.Alert.Campaign {
			for _, v := range c.Alert.Entities["source.ip"] {
				out[v] = 1
			}
		}
	}
	return out
}

// TestUnparsableSuppressionIsSkipped: a stored suppression whose query
// this version no longer reads (saved by an older one) does not stop the
// recorder from starting; it is not applied, and the others are.
func TestUnparsableSuppressionIsSkipped(t *testing.T) {
	metatest.Engines(t, testUnparsableSuppressionIsSkipped)
}

func testUnparsableSuppressionIsSkipped(t *testing.T) {
	db := metatest.Open(t)
	ctx := context.Background()
	s, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := db.ExecContext(ctx, `INSERT INTO suppressions (id, rule_id, query, reason, author, created, expires) VALUES ('old', 'r1', 'a && b', 'saved by an older version', 'alice', ?, 0)`, now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSuppression(ctx, &Suppression{RuleID: "r2", Reason: "known scanner", Author: "alice"}, now); err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(ctx, s, nil, Options{})
	if err != nil {
		t.Fatalf("NewRecorder with an unparsable stored suppression: %v", err)
	}
	defer r.Close()
	if got := r.sup.match("r1", nil); got != nil {
		t.Errorf("the unparsable suppression applies: %+v", got.Suppression)
	}
	if got := r.sup.match("r2", nil); got == nil {
		t.Error("the valid suppression does not apply")
	}
}

// TestRecorderShared: two recorders on one store, as two detect nodes of a
// cluster. A repeat the second sees of an alert the first opened after the
// second started folds into it when the second knows the store is shared;
// without Shared, its complete index would open a second alert.
func TestRecorderShared(t *testing.T) { metatest.Engines(t, testRecorderShared) }

func testRecorderShared(t *testing.T) {
	for _, shared := range []bool{true, false} {
		db := metatest.Open(t)
		a, s := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: -1}})
		b, _ := newRecorder(t, db, Options{Window: time.Hour, Campaign: CampaignOptions{Threshold: -1}, Shared: shared})
		r := testRule("r-brute")
		a.Record(from(r, "10.0.0.7", t0))
		a.Flush()
		b.Record(from(r, "10.0.0.7", t0.Add(time.Minute)))
		b.Flush()
		as := ruleAlerts(t, s, "r-brute")
		want := 1
		if !shared {
			want = 2
		}
		if len(as) != want {
			t.Errorf("shared %v: got %d alerts, want %d", shared, len(as), want)
		}
		if shared && len(as) == 1 && as[0].Count != 2 {
			t.Errorf("shared: the alert counts %d detections, want 2", as[0].Count)
		}
	}
}
