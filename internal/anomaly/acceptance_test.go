package anomaly

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// acceptanceRules are the rules of the acceptance test: a new country for
// a user's successful login, a new administrator (the first admin_login
// of an account), a login spike per user, and impossible travel.
const acceptanceRules = `
title: Login from a new country for the user
id: test_new_country
level: medium
tags: [attack.initial-access, attack.t1078]
selection:
  event.category: authentication
  event.outcome: success
anomaly:
  kind: first_seen
  entity: [user.name]
  fields: [source.geo.country_iso_code]
  warmup: 7d
---
title: New administrator account
id: test_new_admin
level: high
tags: [attack.persistence, attack.t1078.003]
selection:
  event.action: [admin_login, admin_elevate]
anomaly:
  kind: first_seen
  fields: [user.name]
  warmup: 7d
---
title: Login volume spike for a user
id: test_login_spike
level: medium
tags: [attack.credential-access, attack.t1110]
selection:
  event.category: authentication
anomaly:
  kind: spike
  entity: [user.name]
  k: 3
  floor: 20
  min_weeks: 2
  warmup: 7d
---
title: Impossible travel
id: test_travel
level: high
tags: [attack.initial-access, attack.t1078]
selection:
  event.category: authentication
  event.outcome: success
anomaly:
  kind: impossible_travel
  entity: [user.name]
  max_speed_kmh: 1000
  min_distance_km: 500
`

type country struct {
	code     string
	lat, lon float64
}

var (
	paris    = country{"FR", 48.8566, 2.3522}
	berlin   = country{"DE", 52.52, 13.405}
	london   = country{"GB", 51.5074, -0.1278}
	newYork  = country{"US", 40.7128, -74.006}
	tokyo    = country{"JP", 35.6762, 139.6503}
	sydney   = country{"AU", -33.8688, 151.2093}
	brasilia = country{"BR", -15.7939, -47.8828}
	homes    = []country{paris, berlin, london, newYork, tokyo}
)

// monthStart is a Monday, 00:00 UTC.
var monthStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// login is one generated event, in time order with the others.
type login struct {
	t      time.Time
	user   string
	place  country
	action string // "" for a plain login
}

func (l login) event() *event.Event {
	ev := &event.Event{Time: l.t, Logsource: event.Logsource{Product: "linux", Service: "sshd"}}
	ev.SetString("event.category", "authentication")
	ev.SetString("event.outcome", "success")
	ev.SetString("event.action", l.action)
	ev.SetString("user.name", l.user)
	ev.SetString("source.geo.country_iso_code", l.place.code)
	ev.Set("source.geo.location.lat", event.Float(l.place.lat))
	ev.Set("source.geo.location.lon", event.Float(l.place.lon))
	return ev
}

// normalMonth is 30 days of logins of 50 users, each from their home
// country, 2 to 4 an hour on weekdays from 09:00 to 17:00 (their steady
// volume), and three administrators' daily admin_login.
func normalMonth() []login {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []login
	for day := range 30 {
		d := monthStart.AddDate(0, 0, day)
		if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
			continue
		}
		for h := 9; h < 17; h++ {
			for u := range 50 {
				user := fmt.Sprintf("user%02d", u)
				for range 2 + rng.IntN(3) {
					t := d.Add(time.Duration(h)*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
					out = append(out, login{t: t, user: user, place: homes[u%len(homes)]})
				}
			}
			if h == 9 {
				// user03, an administrator too, from home.
				for _, a := range []login{{user: "admin01", place: paris}, {user: "admin02", place: paris}, {user: "user03", place: homes[3]}} {
					a.t, a.action = d.Add(9*time.Hour+30*time.Minute), "admin_login"
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// at is a time in the generated month: day (0 is Monday 2 November),
// hour and minute.
func at(day, hour, minute int) time.Time {
	return monthStart.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
}

// spikeOf is n logins of user within the hour starting at t.
func spikeOf(user string, place country, t time.Time, n int) []login {
	var out []login
	for i := range n {
		out = append(out, login{t: t.Add(time.Duration(i) * time.Minute / 2), user: user, place: place})
	}
	return out
}

// recorded is a detection as the test compares it.
type recorded struct {
	Rule  string
	Group string
	Time  time.Time
}

type fakeRecorder struct{ got []detect.Detection }

func (f *fakeRecorder) Record(d detect.Detection) { f.got = append(f.got, d) }

func (f *fakeRecorder) list() []recorded {
	var out []recorded
	for _, d := range f.got {
		g := ""
		for _, v := range d.Group {
			g += v.Field + "=" + v.Value + " "
		}
		out = append(out, recorded{Rule: d.Rule.ID, Group: g, Time: d.Time})
	}
	return out
}

// run feeds the logins in time order through a new engine whose clock is
// the event being fed (as a live server sees them).
func run(t testing.TB, logins []login, opts Options) (*Engine, *fakeRecorder) {
	t.Helper()
	rules, err := Parse([]byte(acceptanceRules), "acceptance")
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	var now time.Time
	opts.Now = func() time.Time { return now }
	e, err := New(rules, rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(logins, func(a, b login) int { return a.t.Compare(b.t) })
	for _, l := range logins {
		now = l.t
		e.Detect(l.event())
	}
	return e, rec
}

func TestAcceptance(t *testing.T) {
	month := normalMonth()
	tests := []struct {
		name   string
		inject []login
		want   []recorded
	}{
		{name: "normal month"},
		{
			// The first week is inside every warm-up: each of these is
			// learnt, none alerts. (The new country comes on Saturday,
			// so that it is no impossible travel either.)
			name: "anomalies during warm-up",
			inject: slices.Concat(
				[]login{{t: at(5, 12, 0), user: "user07", place: brasilia}},
				[]login{{t: at(2, 12, 0), user: "mallory", place: paris, action: "admin_elevate"}},
				spikeOf("user13", homes[13%len(homes)], at(3, 10, 0), 80),
			),
		},
		{
			// What the warm-up learnt is known after it: user07's
			// Brazilian login, mallory's admin_elevate.
			name: "learnt in warm-up, seen again after",
			inject: []login{
				{t: at(5, 12, 0), user: "user07", place: brasilia}, {t: at(19, 12, 0), user: "user07", place: brasilia},
				{t: at(2, 12, 0), user: "mallory", place: paris, action: "admin_elevate"}, {t: at(22, 12, 0), user: "mallory", place: paris, action: "admin_login"},
			},
		},
		{
			// Week 4 (days 22 to 24): after the warm-up, each once.
			// The new country comes on a Saturday, two days after
			// user07's last login, so it is no impossible travel.
			name: "anomalies after warm-up",
			inject: slices.Concat(
				[]login{{t: at(19, 12, 0), user: "user07", place: brasilia}, {t: at(19, 12, 30), user: "user07", place: brasilia}},
				[]login{{t: at(22, 14, 0), user: "eve", place: paris, action: "admin_login"}, {t: at(22, 15, 0), user: "eve", place: paris, action: "admin_login"}},
				spikeOf("user13", homes[13%len(homes)], at(23, 10, 0), 60),
			),
			want: []recorded{
				{Rule: "test_new_country", Group: "user.name=user07 source.geo.country_iso_code=BR ", Time: at(19, 12, 0)},
				{Rule: "test_new_admin", Group: "user.name=eve ", Time: at(22, 14, 0)},
				// The spike alerts as its count passes the floor of 20,
				// on top of the hour's usual 2 to 4 (in time order, its
				// 20th-odd login); the time is checked below.
				{Rule: "test_login_spike", Group: "user.name=user13 "},
			},
		},
		{
			// Paris then Sydney ten minutes later, on Saturday of the
			// first week: the travel rule needs no history, and the new
			// country (AU) is still in its warm-up.
			name:   "impossible travel",
			inject: []login{{t: at(5, 10, 0), user: "user20", place: paris}, {t: at(5, 10, 10), user: "user20", place: sydney}},
			want:   []recorded{{Rule: "test_travel", Group: "user.name=user20 ", Time: at(5, 10, 10)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, rec := run(t, slices.Concat(month, tt.inject), Options{})
			got := rec.list()
			for i := range got {
				if got[i].Rule == "test_login_spike" {
					if h := at(23, 10, 0); got[i].Time.Before(h) || !got[i].Time.Before(h.Add(time.Hour)) {
						t.Errorf("spike alert at %s, want within the hour from %s", got[i].Time, h)
					}
					got[i].Time = time.Time{}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("detections (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAcceptanceDetection checks what the detections carry to the alert
// path: the synthetic rule's id, title, level and ATT&CK tags, the event
// and the measured value.
func TestAcceptanceDetection(t *testing.T) {
	_, rec := run(t, []login{{t: at(1, 10, 0), user: "user20", place: paris}, {t: at(1, 10, 10), user: "user20", place: sydney}}, Options{})
	if len(rec.got) != 1 {
		t.Fatalf("got %d detections, want 1", len(rec.got))
	}
	d := rec.got[0]
	if got, want := d.Rule.Title, "Impossible travel"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
	if got, want := d.Rule.Level, "high"; got != want {
		t.Errorf("level: got %q, want %q", got, want)
	}
	if got, want := d.Rule.Tags, []string{"vigil.anomaly", "vigil.anomaly.impossible_travel", "attack.initial-access", "attack.t1078"}; !slices.Equal(got, want) {
		t.Errorf("tags: got %q, want %q", got, want)
	}
	if got := d.Event.Str("source.geo.country_iso_code"); got != "AU" {
		t.Errorf("event: got country %q, want AU", got)
	}
	// Paris to Sydney is 16,960 km; in ten minutes, about 101,760 km/h.
	if d.Value < 100000 || d.Value > 103000 {
		t.Errorf("speed: got %.0f km/h, want about 101760", d.Value)
	}
}
