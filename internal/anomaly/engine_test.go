package anomaly

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// testEngine compiles one rule (YAML) with a clock the test sets.
type testEngine struct {
	*Engine
	rec *fakeRecorder
	now time.Time
}

func newTestEngine(t testing.TB, rule string, opts Options) *testEngine {
	t.Helper()
	rules, err := Parse([]byte(rule), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{rec: &fakeRecorder{}, now: monthStart}
	opts.Now = func() time.Time { return te.now }
	if te.Engine, err = New(rules, te.rec, opts); err != nil {
		t.Fatal(err)
	}
	return te
}

// feed detects an event at t (the clock too) with the fields given as
// name, value pairs, and returns how many detections it raised.
func (te *testEngine) feed(t time.Time, kv ...string) int {
	te.now = t
	ev := &event.Event{Time: t}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.SetString(kv[i], kv[i+1])
	}
	n := len(te.rec.got)
	te.Detect(ev)
	return len(te.rec.got) - n
}

const procRule = `id: new_proc
title: New process for a user
level: low
selection: {event.category: process}
anomaly: {kind: first_seen, entity: [user.name], fields: [process.name], warmup: 1d}
`

func TestFirstSeen(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		at   time.Duration // after the first event
		kv   []string
		want int
	}{
		{"baseline", 0, []string{"user.name", "alice", "process.name", "bash"}, 0},
		{"new value in warm-up", time.Hour, []string{"user.name", "alice", "process.name", "vim"}, 0},
		{"known value after warm-up", day, []string{"user.name", "alice", "process.name", "bash"}, 0},
		{"new value after warm-up", day, []string{"user.name", "alice", "process.name", "nc"}, 1},
		{"same new value again", day + time.Hour, []string{"user.name", "alice", "process.name", "nc"}, 0},
		{"selection does not match", day, []string{"event.category", "network", "user.name", "alice", "process.name", "curl"}, 0},
		{"no entity field", day, []string{"process.name", "curl"}, 0},
		{"empty value", day, []string{"user.name", "alice", "process.name", ""}, 0},
		{"new entity learns", day, []string{"user.name", "bob", "process.name", "curl"}, 0},
		{"new entity in its warm-up", day + time.Hour, []string{"user.name", "bob", "process.name", "wget"}, 0},
		{"new entity after its warm-up", 2 * day, []string{"user.name", "bob", "process.name", "nmap"}, 1},
		{"value case differs", 2 * day, []string{"user.name", "alice", "process.name", "BASH"}, 1},
	}
	te := newTestEngine(t, procRule, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := tt.kv
			if kv[0] != "event.category" {
				kv = append([]string{"event.category", "process"}, kv...)
			}
			if got := te.feed(monthStart.Add(tt.at), kv...); got != tt.want {
				t.Errorf("got %d detections, want %d", got, tt.want)
			}
		})
	}
}

func TestRare(t *testing.T) {
	const rule = `id: rare_dst
title: Rare destination for a host
level: low
anomaly: {kind: rare, entity: [host.name], fields: [destination.ip], below: 3, window: 1d, warmup: 1d}
`
	te := newTestEngine(t, rule, Options{})
	h := time.Hour
	d := 24 * h
	steps := []struct {
		at   time.Duration
		dst  string
		want int
	}{
		{0, "10.0.0.1", 0},       // baseline
		{h, "10.0.0.1", 0},       // warm-up
		{2 * h, "10.0.0.1", 0},   // warm-up
		{d + h, "10.0.0.1", 0},   // used 3 times in the window before
		{d + h, "10.0.0.9", 1},   // never before
		{d + 2*h, "10.0.0.9", 0}, // used once before, but alerted in this window
		{3*d + h, "10.0.0.1", 1}, // its uses are two windows old
		{3*d + 2*h, "10.0.0.1", 0},
	}
	for i, s := range steps {
		if got := te.feed(monthStart.Add(s.at), "host.name", "web1", "destination.ip", s.dst); got != s.want {
			t.Errorf("step %d (%s at +%s): got %d detections, want %d", i, s.dst, s.at, got, s.want)
		}
	}
}

func TestSpike(t *testing.T) {
	const rule = `id: spike
title: Spike
level: low
anomaly: {kind: spike, entity: [user.name], k: 3, floor: 5, min_weeks: 2, warmup: 1d}
`
	week := 7 * 24 * time.Hour
	tests := []struct {
		name    string
		history []int // the same hour's count in each previous week
		now     int   // this week's count in that hour
		want    int
	}{
		{"under the floor", []int{1, 1, 1}, 5, 0},
		{"over the floor and the baseline", []int{1, 1, 1}, 6, 1},
		{"busy hour: mean plus k sd", []int{10, 20, 30}, 50, 1}, // mean 20, sd 8.2: 44.5
		{"busy hour under the threshold", []int{10, 20, 30}, 44, 0},
		{"not enough weeks", []int{1}, 50, 0},
		// Weeks without an event in the hour are zeros: mean 3.3, sd 4.7,
		// 17.5 (not 10, the one week with events).
		{"quiet weeks count as zeros", []int{0, 0, 10}, 15, 0},
		{"quiet weeks count as zeros, over", []int{0, 0, 10}, 18, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEngine(t, rule, Options{})
			// The entity starts with an event an hour before the first
			// week's hour, so that the weeks are counted from there.
			start := monthStart.Add(9 * time.Hour)
			te.feed(start.Add(-time.Hour), "user.name", "u")
			for w, n := range tt.history {
				for i := range n {
					te.feed(start.Add(time.Duration(w)*week+time.Duration(i)*time.Second), "user.name", "u")
				}
			}
			got := 0
			at := start.Add(time.Duration(len(tt.history)) * week)
			for i := range tt.now {
				got += te.feed(at.Add(time.Duration(i)*time.Second), "user.name", "u")
			}
			if got != tt.want {
				t.Errorf("got %d detections, want %d", got, tt.want)
			}
		})
	}
}

func TestImpossibleTravel(t *testing.T) {
	const rule = `id: travel
title: Travel
level: high
anomaly: {kind: impossible_travel, entity: [user.name], max_speed_kmh: 1000, min_distance_km: 500}
`
	tests := []struct {
		name      string
		from, to  country
		gap       time.Duration
		want      int
		wantSpeed float64 // km/h, within 1%
	}{
		{"Paris to Sydney in 10 minutes", paris, sydney, 10 * time.Minute, 1, 101760},
		{"Paris to Sydney in a day", paris, sydney, 24 * time.Hour, 0, 0},
		{"London to Paris in 10 minutes: under the distance", london, paris, 10 * time.Minute, 0, 0},
		{"Paris to New York at once", paris, newYork, 0, 1, math.MaxFloat32},
		{"London to New York in 6 hours (928 km/h)", london, newYork, 6 * time.Hour, 0, 0},
		{"London to New York in 4 hours (1390 km/h)", london, newYork, 4 * time.Hour, 1, 1392},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEngine(t, rule, Options{})
			feed := func(at time.Time, c country) int {
				te.now = at
				te.Detect(login{t: at, user: "u", place: c}.event())
				return len(te.rec.got)
			}
			feed(monthStart, tt.from)
			if got := feed(monthStart.Add(tt.gap), tt.to); got != tt.want {
				t.Fatalf("got %d detections, want %d", got, tt.want)
			}
			if tt.want == 1 {
				if got := te.rec.got[0].Value; math.Abs(got-tt.wantSpeed) > tt.wantSpeed/100 {
					t.Errorf("speed: got %.0f km/h, want %.0f", got, tt.wantSpeed)
				}
			}
		})
	}
}

func TestImpossibleTravelGeoIP(t *testing.T) {
	const rule = `id: travel
title: Travel
level: high
anomaly: {kind: impossible_travel, entity: [user.name]}
`
	places := map[netip.Addr]country{netip.MustParseAddr("192.0.2.1"): paris, netip.MustParseAddr("198.51.100.1"): sydney}
	te := newTestEngine(t, rule, Options{Locate: func(ip netip.Addr) (float64, float64, bool) {
		c, ok := places[ip]
		return c.lat, c.lon, ok
	}})
	tests := []struct {
		ip   string
		want int
	}{
		{"192.0.2.1", 0},
		{"203.0.113.7", 0}, // not in the database
		{"not an address", 0},
		{"::ffff:198.51.100.1", 1},
	}
	for i, tt := range tests {
		if got := te.feed(monthStart.Add(time.Duration(i)*time.Minute), "user.name", "u", "source.ip", tt.ip); got != tt.want {
			t.Errorf("%s: got %d detections, want %d", tt.ip, got, tt.want)
		}
	}
	// Coordinates out of range are no place.
	if got := te.feed(monthStart.Add(time.Hour), "user.name", "u", "source.geo.location.lat", "91", "source.geo.location.lon", "0"); got != 0 {
		t.Errorf("latitude 91: got %d detections, want 0", got)
	}
}

func TestBounds(t *testing.T) {
	t.Run("entities", func(t *testing.T) {
		te := newTestEngine(t, procRule, Options{MaxEntities: 3})
		for i := range 5 {
			te.feed(monthStart, "event.category", "process", "user.name", fmt.Sprint("u", i), "process.name", "sh")
		}
		if got, want := te.Stats(), (Stats{Entities: 3, Evicted: 2}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		// u0 was the least recent: it went, and is new again (silent).
		if got := te.feed(monthStart.Add(48*time.Hour), "event.category", "process", "user.name", "u0", "process.name", "nc"); got != 0 {
			t.Errorf("evicted entity: got %d detections, want 0 (it learns again)", got)
		}
		// u4 was kept.
		if got := te.feed(monthStart.Add(48*time.Hour), "event.category", "process", "user.name", "u4", "process.name", "nc"); got != 1 {
			t.Errorf("kept entity: got %d detections, want 1", got)
		}
	})
	t.Run("pending writes", func(t *testing.T) {
		// Entities evicted before any flush leave nothing to write: the
		// dirty set stays within the entity bound whatever the churn.
		te := newTestEngine(t, procRule, Options{MaxEntities: 3})
		for i := range 100 {
			te.feed(monthStart, "event.category", "process", "user.name", fmt.Sprint("u", i), "process.name", "sh")
		}
		rs := te.current()[0]
		if got := len(rs.dirty); got != 3 {
			t.Errorf("dirty entities: got %d, want 3", got)
		}
	})
	t.Run("values", func(t *testing.T) {
		te := newTestEngine(t, procRule, Options{MaxValues: 2})
		for _, p := range []string{"a", "b", "c", "d"} {
			te.feed(monthStart, "event.category", "process", "user.name", "u", "process.name", p)
		}
		if got, want := te.Stats().ValuesDropped, int64(2); got != want {
			t.Errorf("values dropped: got %d, want %d", got, want)
		}
		// A value that was not learnt is still new.
		if got := te.feed(monthStart.Add(48*time.Hour), "event.category", "process", "user.name", "u", "process.name", "c"); got != 1 {
			t.Errorf("unlearnt value: got %d detections, want 1", got)
		}
	})
	t.Run("future events", func(t *testing.T) {
		te := newTestEngine(t, procRule, Options{})
		te.feed(monthStart, "event.category", "process", "user.name", "u", "process.name", "sh")
		te.now = monthStart.Add(48 * time.Hour)
		for _, ahead := range []time.Duration{time.Hour, time.Hour + time.Second} {
			ev := &event.Event{Time: te.now.Add(ahead)}
			ev.SetString("event.category", "process")
			ev.SetString("user.name", "u")
			ev.SetString("process.name", "p"+ahead.String())
			te.Detect(ev)
		}
		if got := te.Stats(); got.FutureEvents != 1 || got.Detections != 1 {
			t.Errorf("got %+v, want 1 future event ignored and 1 detection", got)
		}
	})
}

func TestDistance(t *testing.T) {
	if got := distanceKM(paris.lat, paris.lon, sydney.lat, sydney.lon); math.Abs(got-16960) > 50 {
		t.Errorf("Paris to Sydney: got %.0f km, want about 16960", got)
	}
	if got := distanceKM(0, 0, 0, 180); math.Abs(got-math.Pi*earthRadiusKM) > 1 {
		t.Errorf("antipodes: got %.0f km, want %.0f", got, math.Pi*earthRadiusKM)
	}
}

func TestCountryFromGeoIP(t *testing.T) {
	const rule = `id: country
title: New country
level: medium
anomaly: {kind: first_seen, entity: [user.name], fields: [source.geo.country_iso_code], warmup: 1d}
`
	countries := map[netip.Addr]string{netip.MustParseAddr("192.0.2.1"): "FR", netip.MustParseAddr("198.51.100.1"): "AU",
		netip.MustParseAddr("203.0.113.1"): "not a code"}
	te := newTestEngine(t, rule, Options{Country: func(ip netip.Addr) (string, bool) {
		c, ok := countries[ip]
		return c, ok
	}})
	day := 24 * time.Hour
	tests := []struct {
		at   time.Duration
		kv   []string
		want int
	}{
		{0, []string{"source.ip", "192.0.2.1"}, 0},
		{2 * day, []string{"source.ip", "192.0.2.1"}, 0},
		{2 * day, []string{"source.ip", "::ffff:198.51.100.1"}, 1},                            // AU
		{2 * day, []string{"source.ip", "203.0.113.1"}, 0},                                    // not a country
		{2 * day, []string{"source.ip", "192.0.2.99"}, 0},                                     // not in the database
		{2 * day, []string{"source.ip", "192.0.2.1", "source.geo.country_iso_code", "BR"}, 1}, // the event's own field wins
	}
	for i, tt := range tests {
		if got := te.feed(monthStart.Add(tt.at), append([]string{"user.name", "u"}, tt.kv...)...); got != tt.want {
			t.Errorf("step %d %v: got %d detections, want %d", i, tt.kv, got, tt.want)
		}
	}
}

func TestReload(t *testing.T) {
	te := newTestEngine(t, procRule, Options{})
	te.feed(monthStart, "event.category", "process", "user.name", "alice", "process.name", "bash")
	day := 24 * time.Hour
	tests := []struct {
		name string
		rule string
		proc string
		want int
	}{
		// A new title and level keep the baseline: bash is known.
		{"title and level changed", strings.Replace(strings.Replace(procRule, "level: low", "level: high", 1), "title: New process for a user", "title: Renamed", 1), "bash", 0},
		{"title and level changed, new value", strings.Replace(strings.Replace(procRule, "level: low", "level: high", 1), "title: New process for a user", "title: Renamed", 1), "nc", 1},
		// Another watched field is another baseline: it learns again.
		{"fields changed", strings.Replace(procRule, "fields: [process.name]", "fields: [process.name, process.args]", 1), "bash", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := Parse([]byte(tt.rule), "reload.yml")
			if err != nil {
				t.Fatal(err)
			}
			if err := te.Reload(rules); err != nil {
				t.Fatal(err)
			}
			n := len(te.rec.got)
			got := te.feed(monthStart.Add(2*day), "event.category", "process", "user.name", "alice", "process.name", tt.proc, "process.args", "-x")
			if got != tt.want {
				t.Fatalf("got %d detections, want %d", got, tt.want)
			}
			if got > 0 && te.rec.got[n].Rule.Level != "high" {
				t.Errorf("level: got %q, want the reloaded rule's high", te.rec.got[n].Rule.Level)
			}
		})
	}
	if got := te.Stats().Entities; got != 1 {
		t.Errorf("entities after the last reload: got %d, want 1 (the changed rule's own)", got)
	}
}

// TestReloadConcurrent reloads while events are detected (for the race
// detector).
func TestReloadConcurrent(t *testing.T) {
	rules, err := Parse([]byte(acceptanceRules), "acceptance")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rules, &countRecorder{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			e.Detect(login{t: monthStart.Add(time.Duration(i) * time.Minute), user: fmt.Sprint("u", i%7), place: homes[i%len(homes)]}.event())
		}
	}()
	for range 50 {
		if err := e.Reload(rules); err != nil {
			t.Fatal(err)
		}
		e.Stats()
	}
	<-done
	if got := e.Stats().Entities; got == 0 {
		t.Error("no entities after the run")
	}
}
