package demo

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/ruleset"
	_ "modernc.org/sqlite"
)

// wantRules are the built-in rules the scenario exists to show.
var wantRules = []string{
	"SSH brute force from one source",
	"SSH login succeeds after brute force",
	"Sudo refused for a user not in sudoers",
	"Local user account created",
	"User added to a privileged group",
	"Web content scanning from one source",
	"Path traversal or file disclosure attempt in a URL",
	"PowerShell downloads and runs code",
}

// freshBuiltin returns a new engine with the built-in rules, so that correlation
// state does not carry over between tests.
func freshBuiltin(t *testing.T) *ruleset.Loaded {
	t.Helper()
	l, err := ruleset.Load(ruleset.Options{Builtin: true})
	if err != nil {
		t.Fatalf("loading built-in rules: %v", err)
	}
	return l
}

// parseAll parses the messages like the pipeline does.
func parseAll(raws []ingest.Raw) []*event.Event {
	p := parse.New(parse.Options{})
	evs := make([]*event.Event, len(raws))
	for i := range raws {
		evs[i] = &event.Event{}
		p.Parse(&raws[i], evs[i])
	}
	return evs
}

// fired runs evs through l in order and returns, per rule title, the
// detections.
func fired(l *ruleset.Loaded, evs []*event.Event) map[string][]detect.Detection {
	got := map[string][]detect.Detection{}
	for _, ev := range evs {
		l.Engine.Match(ev, func(d detect.Detection) { got[d.Rule.Title] = append(got[d.Rule.Title], d) })
	}
	return got
}

func TestScenarioFiresBuiltinRules(t *testing.T) {
	for _, tt := range []struct {
		name string
		now  time.Time
	}{
		{"now", time.Now()},
		{"fixed", time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC)},
		// RFC 3164 has no year: the story straddles New Year's Eve.
		{"new year", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)},
		{"non-UTC now", time.Date(2026, 6, 1, 9, 30, 15, 500_000_000, time.FixedZone("CEST", 2*3600))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raws := Scenario(tt.now)
			evs := parseAll(raws)
			for i, ev := range evs {
				if ev.HasTag(event.TagParseError) || ev.HasTag(event.TagTruncated) {
					t.Errorf("message %d got tags %v, want none of parse_error, truncated:\n%s", i, ev.Tags, raws[i].Data)
				}
				lo, hi := tt.now.Add(-Span-time.Second), tt.now
				if ev.Time.Before(lo) || ev.Time.After(hi) {
					t.Errorf("message %d: event time %v, want within [%v, %v]:\n%s", i, ev.Time, lo, hi, raws[i].Data)
				}
			}
			got := fired(freshBuiltin(t), evs)
			for _, title := range wantRules {
				if len(got[title]) == 0 {
					t.Errorf("rule %q did not fire, want at least once", title)
				}
			}
			if t.Failed() {
				t.Logf("rules that fired: %v", titles(got))
			}
		})
	}
}

func titles(m map[string][]detect.Detection) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s ×%d", k, len(v)))
	}
	sort.Strings(out)
	return out
}

// TestScenarioDetectionsAreAboutTheStory checks that each attack rule fires
// on the actors the documentation names, and nothing fires on the noise.
func TestScenarioDetectionsAreAboutTheStory(t *testing.T) {
	now := time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC)
	got := fired(freshBuiltin(t), parseAll(Scenario(now)))
	for _, tt := range []struct {
		rule, field, want string
	}{
		{"SSH brute force from one source", "source.ip", bruteIP},
		{"SSH login succeeds after brute force", "user.name", "deploy"},
		{"SSH login succeeds after brute force", "source.ip", bruteIP},
		{"Sudo refused for a user not in sudoers", "user.name", "webadmin"},
		{"Local user account created", "user.name", "support2"},
		{"User added to a privileged group", "user.name", "support2"},
		{"User added to a privileged group", "group.name", "sudo"},
		{"Web content scanning from one source", "source.ip", scannerIP},
		{"Path traversal or file disclosure attempt in a URL", "source.ip", scannerIP},
		{"PowerShell downloads and runs code", "Computer", winHost},
		{"PowerShell downloads and runs code", "CommandLine", cradle},
	} {
		t.Run(tt.rule+"/"+tt.field, func(t *testing.T) {
			ds := got[tt.rule]
			if len(ds) == 0 {
				t.Fatalf("rule %q did not fire", tt.rule)
			}
			for _, d := range ds {
				if v := d.Event.Str(tt.field); v != tt.want {
					t.Errorf("%s of the matched event = %q, want %q", tt.field, v, tt.want)
				}
			}
		})
	}
	// The informational rules fire on ordinary activity too; everything
	// of level low and above must be the intrusion's.
	for title, ds := range got {
		for _, d := range ds {
			if d.Rule.Level == "informational" {
				continue
			}
			ev := d.Event
			if ip := ev.Str("source.ip"); strings.HasPrefix(ip, "192.0.2.") || slices.Contains([]string{"alice", "bob"}, ev.Str("user.name")) {
				t.Errorf("rule %q (level %s) fired on background activity: %s", title, d.Rule.Level, ev.Raw)
			}
		}
	}
}

func TestScenarioMessages(t *testing.T) {
	now := time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC)
	raws := Scenario(now)
	if diff := cmp.Diff(raws, Scenario(now)); diff != "" {
		t.Errorf("Scenario is not deterministic (-first +second):\n%s", diff)
	}
	var syslogN, jsonN int
	prev := time.Time{}
	for i, r := range raws {
		if r.Input != Input {
			t.Errorf("message %d: Input = %q, want %q", i, r.Input, Input)
		}
		if !slices.Equal(r.Tags, []string{Tag}) {
			t.Errorf("message %d: Tags = %q, want [%q]", i, r.Tags, Tag)
		}
		if r.Received.Before(prev) {
			t.Errorf("message %d: Received %v before the previous message's %v, want oldest first", i, r.Received, prev)
		}
		prev = r.Received
		switch r.Format {
		case ingest.FormatSyslog:
			syslogN++
			if !bytes.HasPrefix(r.Data, []byte("<")) || bytes.ContainsAny(r.Data, "\r\n") {
				t.Errorf("message %d is not one RFC 3164 line with a PRI: %q", i, r.Data)
			}
			if !bytes.Contains(r.Data, []byte(r.Received.UTC().Format(time.Stamp))) {
				t.Errorf("message %d: header time is not Received %v in UTC: %q", i, r.Received, r.Data)
			}
		case ingest.FormatJSON:
			jsonN++
			var v struct {
				Event struct {
					System struct {
						Channel  string
						EventID  int
						Computer string
					}
					EventData map[string]any
				}
			}
			if err := json.Unmarshal(r.Data, &v); err != nil {
				t.Errorf("message %d is not JSON: %v\n%s", i, err, r.Data)
				continue
			}
			if v.Event.System.Channel != sysmonChannel || v.Event.System.Computer != winHost || len(v.Event.EventData) == 0 {
				t.Errorf("message %d is not a Sysmon event in evtx_dump shape: %s", i, r.Data)
			}
		default:
			t.Errorf("message %d: Format = %v, want syslog or json", i, r.Format)
		}
	}
	if syslogN < 500 || jsonN < 4 {
		t.Errorf("got %d syslog and %d JSON messages, want at least 500 and 4", syslogN, jsonN)
	}
}

// TestScenarioContent counts what the documentation promises.
func TestScenarioContent(t *testing.T) {
	evs := parseAll(Scenario(time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC)))
	count := func(pred func(*event.Event) bool) int {
		n := 0
		for _, ev := range evs {
			if pred(ev) {
				n++
			}
		}
		return n
	}
	is := func(kv ...string) func(*event.Event) bool {
		return func(ev *event.Event) bool {
			for i := 0; i < len(kv); i += 2 {
				if ev.Str(kv[i]) != kv[i+1] {
					return false
				}
			}
			return true
		}
	}
	for _, tt := range []struct {
		name     string
		pred     func(*event.Event) bool
		min, max int
	}{
		{"scanner requests", is("event.dataset", "nginx.access", "source.ip", scannerIP), 200, 400},
		{"scanner 404s", is("source.ip", scannerIP, "http.response.status_code", "404"), 150, 400},
		{"path traversal", is("source.ip", scannerIP, "url.original", "/static/../../etc/passwd"), 1, 1},
		{"ssh failures", is("event.dataset", "sshd", "source.ip", bruteIP, "event.outcome", "failure"), 24, 120},
		{"ssh root failures", is("event.action", "ssh_login", "user.name", "root", "event.outcome", "failure"), 10, 40},
		{"ssh success", is("source.ip", bruteIP, "event.outcome", "success", "user.name", "deploy"), 1, 1},
		{"sudo to a root shell", is("event.dataset", "sudo", "user.name", "deploy", "COMMAND", "/bin/bash"), 1, 1},
		{"sudo refused", is("event.dataset", "sudo", "user.name", "webadmin", "event.outcome", "failure"), 1, 1},
		{"user created", is("event.action", "user-created", "user.name", "support2"), 1, 1},
		{"added to sudo", is("user.name", "support2", "group.name", "sudo"), 1, 2},
		{"powershell cradle", is("EventID", "1", "CommandLine", cradle), 1, 1},
		{"shop traffic", is("event.dataset", "nginx.access", "http.response.status_code", "200"), 100, 1000},
		{"cron", func(ev *event.Event) bool { return ev.Logsource.Service == "cron" }, 10, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(tt.pred); got < tt.min || got > tt.max {
				t.Errorf("got %d events, want %d to %d", got, tt.min, tt.max)
			}
		})
	}
}

// sharedDir finds the shared/ folder beside the repository root.
func sharedDir(t *testing.T) string { return sharedtest.Dir(t) }

// TestScenarioFiresSigmaHQRules checks that the Windows step is caught by
// SigmaHQ's own process_creation rules, not only by Vigil's.
func TestScenarioFiresSigmaHQRules(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "sigma", "rules", "windows", "process_creation")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SigmaHQ rules not found: %v", err)
	}
	l, err := ruleset.Load(ruleset.Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	got := fired(l, parseAll(Scenario(time.Now())))
	var onCradle []string
	for title, ds := range got {
		for _, d := range ds {
			if d.Event.Str("CommandLine") == cradle {
				onCradle = append(onCradle, title)
				break
			}
		}
	}
	sort.Strings(onCradle)
	t.Logf("SigmaHQ rules on the PowerShell cradle: %q", onCradle)
	if len(onCradle) < 2 {
		t.Errorf("%d SigmaHQ process_creation rules fired on the PowerShell cradle, want at least 2", len(onCradle))
	}
}

// fakeSink records what it is offered and completes batches after a delay,
// refusing every third offer as full.
type fakeSink struct {
	mu          sync.Mutex
	offers      int
	batches     [][]ingest.Raw
	outstanding int
	// barrierOutstanding is the number of unfinished batches when the
	// successful login was offered.
	barrierOutstanding int
	fail               error // returned by done
	refuse             error // returned by Offer
	delay              time.Duration
}

func (s *fakeSink) Enqueue(ctx context.Context, msgs []ingest.Raw) error {
	return errors.New("Enqueue not expected")
}

func (s *fakeSink) Offer(msgs []ingest.Raw, done func(error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offers++
	if s.refuse != nil {
		return s.refuse
	}
	if s.offers%3 == 0 {
		return ingest.ErrFull
	}
	for _, m := range msgs {
		if bytes.Contains(m.Data, []byte("Accepted password for deploy")) {
			s.barrierOutstanding = s.outstanding
		}
	}
	s.batches = append(s.batches, msgs)
	s.outstanding++
	time.AfterFunc(s.delay, func() {
		s.mu.Lock()
		s.outstanding--
		err := s.fail
		s.mu.Unlock()
		done(err)
	})
	return nil
}

var fastReplay = replayConfig{duration: 300 * time.Millisecond, tick: 10 * time.Millisecond}

func TestRunDeliversEverythingInOrder(t *testing.T) {
	sink := &fakeSink{delay: 30 * time.Millisecond}
	start := time.Now()
	if err := replay(t.Context(), sink, nil, fastReplay); err != nil {
		t.Fatalf("replay: %v", err)
	}
	took := time.Since(start)
	var got []ingest.Raw
	for _, b := range sink.batches {
		got = append(got, b...)
	}
	want := Scenario(start.Add(fastReplay.duration))
	if len(got) != len(want) {
		t.Fatalf("sink got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) {
			// The story is built from the replay's own start, a moment
			// after ours; compare the shape, not the clock.
			if stripTimes(got[i].Data) != stripTimes(want[i].Data) {
				t.Fatalf("message %d = %q, want %q", i, got[i].Data, want[i].Data)
			}
		}
		if got[i].Received.Before(start) || got[i].Received.After(start.Add(took)) {
			t.Errorf("message %d: Received %v, want the moment it was handed over", i, got[i].Received)
		}
	}
	if len(sink.batches) < 10 {
		t.Errorf("sink got %d batches, want the replay spread over at least 10", len(sink.batches))
	}
	if sink.barrierOutstanding != 0 {
		t.Errorf("%d batches were not stored yet when the successful login was offered, want 0", sink.barrierOutstanding)
	}
	if sink.outstanding != 0 {
		t.Errorf("replay returned with %d batches not stored, want 0", sink.outstanding)
	}
	if took < fastReplay.duration {
		t.Errorf("replay took %v, want at least %v", took, fastReplay.duration)
	}
}

// stripTimes blanks digits so that messages built from clocks a few
// milliseconds apart compare equal.
func stripTimes(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, string(b))
}

func TestRunErrors(t *testing.T) {
	storeErr := errors.New("disk full")
	for _, tt := range []struct {
		name string
		sink *fakeSink
		want error
	}{
		{"closed pipeline", &fakeSink{refuse: ingest.ErrClosed}, ingest.ErrClosed},
		{"store failure", &fakeSink{fail: storeErr}, storeErr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := replay(t.Context(), tt.sink, nil, fastReplay)
			if !errors.Is(err, tt.want) {
				t.Errorf("replay = %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := Run(ctx, &fakeSink{}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Run took %v to notice its context was done, want well under 10s", took)
		}
	})
}

// memStore keeps events in memory for the pipeline test.
type memStore struct {
	mu sync.Mutex
	n  int
}

func (s *memStore) Append(_ context.Context, evs []*event.Event) error {
	s.mu.Lock()
	s.n += len(evs)
	s.mu.Unlock()
	return nil
}

// ruleCounter is a pipeline.Detector that counts rule titles.
type ruleCounter struct {
	eng *detect.Engine
	mu  sync.Mutex
	got map[string]int
}

func (r *ruleCounter) Detect(ev *event.Event) {
	r.eng.Match(ev, func(d detect.Detection) {
		r.mu.Lock()
		r.got[d.Rule.Title]++
		r.mu.Unlock()
	})
}

// TestRunThroughPipeline replays into a real pipeline with several
// workers, where batches are parsed and matched concurrently, and checks
// that the correlations still see the story in order.
func TestRunThroughPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the scenario in real time")
	}
	store := &memStore{}
	pl := pipeline.New(pipeline.Config{Workers: 4, FlushInterval: 20 * time.Millisecond}, parse.New(parse.Options{}), store, nil, nil)
	det := &ruleCounter{eng: freshBuiltin(t).Engine, got: map[string]int{}}
	pl.SetDetector(det)
	cfg := replayConfig{duration: 2 * time.Second, tick: 50 * time.Millisecond}
	if err := replay(t.Context(), pl, nil, cfg); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if err := pl.Close(t.Context()); err != nil {
		t.Fatalf("closing the pipeline: %v", err)
	}
	if want := len(Scenario(time.Now())); store.n != want {
		t.Errorf("store got %d events, want %d", store.n, want)
	}
	det.mu.Lock()
	defer det.mu.Unlock()
	for _, title := range wantRules {
		if det.got[title] == 0 {
			t.Errorf("rule %q did not fire through the pipeline, want at least once (fired: %v)", title, det.got)
		}
	}
}

func BenchmarkScenario(b *testing.B) {
	now := time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		Scenario(now)
	}
}

// TestScenarioIncidents runs the scenario's detections through the real
// alert recorder and incident grouping, and checks the incidents that
// docs/demo.md describes: one per attacked host.
func TestScenarioIncidents(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "meta.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := meta.Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	defer db.Close()
	ctx := t.Context()
	alerts, err := alert.Open(ctx, db)
	if err != nil {
		t.Fatalf("opening alerts: %v", err)
	}
	rec, err := alert.NewRecorder(ctx, alerts, nil, alert.Options{})
	if err != nil {
		t.Fatalf("starting the alert recorder: %v", err)
	}
	defer rec.Close()
	inc, err := incident.Open(ctx, db, alerts, nil, incident.Options{})
	if err != nil {
		t.Fatalf("opening incidents: %v", err)
	}
	rec.AddHook(inc)
	rec.SetEngine(freshBuiltin(t).Engine)
	for _, ev := range parseAll(Scenario(time.Now())) {
		rec.Detect(ev)
	}
	rec.Flush()

	list, err := inc.List(ctx, incident.ListFilter{})
	if err != nil {
		t.Fatalf("listing incidents: %v", err)
	}
	type summary struct {
		Severity string
		Rules    []string
	}
	got := map[string]summary{}
	for _, it := range list {
		full, err := inc.Get(ctx, it.ID)
		if err != nil {
			t.Fatalf("getting incident %s: %v", it.ID, err)
		}
		hosts := full.Entities["host"]
		if len(hosts) != 1 {
			t.Errorf("incident %q has hosts %q, want exactly one", full.Title, hosts)
			continue
		}
		var rules []string
		for _, a := range full.Alerts {
			if a.Level != "informational" && a.Level != "low" {
				rules = append(rules, a.RuleTitle)
			}
		}
		sort.Strings(rules)
		got[hosts[0]] = summary{Severity: full.Severity, Rules: slices.Compact(rules)}
		if hosts[0] == bastionHost {
			for _, e := range []struct{ kind, value string }{
				{"source.ip", bruteIP}, {"user", "deploy"}, {"user", "webadmin"}, {"user", "support2"},
			} {
				if !slices.Contains(full.Entities[e.kind], e.value) {
					t.Errorf("the %s incident's %s entities are %q, want %q among them", bastionHost, e.kind, full.Entities[e.kind], e.value)
				}
			}
		}
	}
	want := map[string]summary{
		webHost: {"high", []string{"Path traversal or file disclosure attempt in a URL", "Web content scanning from one source"}},
		bastionHost: {"critical", []string{
			"Local user account created",
			"SSH brute force from one source",
			"SSH login succeeds after brute force",
			"Sudo refused for a user not in sudoers",
			"User added to a privileged group",
		}},
		winHost: {"high", []string{"PowerShell downloads and runs code"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("incidents by host (-want +got):\n%s", diff)
	}
}

// docsQueries returns the searches in docs/demo.md's Searches section.
func docsQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "demo.md"))
	if err != nil {
		t.Fatalf("reading the demo documentation: %v", err)
	}
	_, rest, ok := strings.Cut(string(data), "### Searches\n\n```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/demo.md has no code block under ### Searches")
	}
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestDocsSearches runs every search docs/demo.md suggests over the
// scenario and checks that each finds something.
func TestDocsSearches(t *testing.T) {
	evs := parseAll(Scenario(time.Now()))
	qs := docsQueries(t)
	if len(qs) < 5 {
		t.Fatalf("found %d searches in docs/demo.md, want at least 5", len(qs))
	}
	for _, s := range qs {
		t.Run(s, func(t *testing.T) {
			q, err := query.Parse(s)
			if err != nil {
				t.Fatalf("query.Parse: %v", err)
			}
			res, err := query.Run(q, slices.Values(evs))
			if err != nil {
				t.Fatalf("query.Run: %v", err)
			}
			if len(res.Events) == 0 && len(res.Rows) == 0 {
				t.Errorf("got no events and no rows, want some")
			}
		})
	}
}

// FuzzScenario checks the scenario's invariants for any "now" between 1971
// and 2200: messages oldest first within [now-Span, now], every one parsed
// without parse_error at the time it carries (RFC 3164 has no year, so
// New Year's Eve and leap days matter).
func FuzzScenario(f *testing.F) {
	for _, t := range []time.Time{
		time.Date(2026, 11, 22, 5, 13, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC),
		time.Date(2028, 2, 29, 0, 3, 0, 999_999_999, time.UTC),
		time.Date(2028, 3, 1, 0, 11, 59, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		f.Add(t.UnixNano())
	}
	lo, hi := time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	p := parse.New(parse.Options{})
	f.Fuzz(func(t *testing.T, ns int64) {
		if ns < lo || ns > hi {
			t.Skip("outside the years a server runs in")
		}
		now := time.Unix(0, ns)
		prev := time.Time{}
		for i, r := range Scenario(now) {
			var ev event.Event
			p.Parse(&r, &ev)
			if ev.HasTag(event.TagParseError) {
				t.Fatalf("message %d tagged parse_error: %s", i, r.Data)
			}
			// Syslog times have whole seconds, Sysmon's microseconds.
			if ev.Time.Before(prev.Truncate(time.Second)) {
				t.Fatalf("message %d at %v, before the previous one at %v: %s", i, ev.Time, prev, r.Data)
			}
			prev = ev.Time
			if ev.Time.Before(now.Add(-Span-time.Second)) || ev.Time.After(now) {
				t.Fatalf("message %d at %v, want within %v before %v: %s", i, ev.Time, Span, now, r.Data)
			}
		}
	})
}
