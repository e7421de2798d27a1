package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

var t0 = time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)

func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// oddEvents adds events that exercise the corners of the semantics:
// arrays and nulls in promoted fields, numbers as strings, missing fields,
// hostile text.
func oddEvents(r *rand.Rand, start time.Time, n int) []*event.Event {
	vals := []string{"alice", "ALICE", "Alice", "bob", "", "'; DROP TABLE events; --", "%", "_", `"`, "a\x00b", "10.1.2.3", "10.1.2.30", "fe80::1", "42", "4.2e1", "-7", "x*y", "ñandú", "root"}
	fields := []string{"user.name", "source.ip", "host.name", "event.outcome", "custom.f", "http.response.status_code", "message", "tags"}
	var out []*event.Event
	for i := 0; i < n; i++ {
		ev := &event.Event{Time: start.Add(time.Duration(r.IntN(3*86400)) * time.Second)}
		if r.IntN(5) == 0 {
			ev.Raw = "raw " + vals[r.IntN(len(vals))] + " Failed password for " + vals[r.IntN(len(vals))]
		}
		for j := r.IntN(6); j >= 0; j-- {
			f := fields[r.IntN(len(fields))]
			switch r.IntN(8) {
			case 0:
				ev.Set(f, event.Null())
			case 1:
				ev.Set(f, event.Int(int64(r.IntN(100)-20)))
			case 2:
				ev.Set(f, event.Float(float64(r.IntN(1000))/10))
			case 3:
				ev.Set(f, event.Bool(r.IntN(2) == 0))
			default:
				ev.Set(f, event.String(vals[r.IntN(len(vals))]))
			}
		}
		if r.IntN(4) == 0 {
			ev.Tags = []string{"prod"}
		}
		out = append(out, ev)
	}
	return out
}

var equivQueries = []string{
	``,
	`user.name:alice`,
	`user.name:ALICE`,
	`NOT user.name:alice`,
	`user.name:alice OR user.name:bob`,
	`user.name:*`,
	`NOT user.name:*`,
	`user.name:al*`,
	`user.name:?lice`,
	`source.ip:10.0.0.0/8`,
	`NOT source.ip:10.0.0.0/8`,
	`source.ip:10.1.2.3`,
	`source.ip:fe80::/10`,
	`host.name:web-01`,
	`host.name:web*`,
	`event.dataset:sshd`,
	`event.dataset:sshd AND event.outcome:failure`,
	`event.dataset:sshd AND NOT event.outcome:success`,
	`event.outcome:failure AND (user.name:root OR user.name:admin)`,
	`http.response.status_code>=400`,
	`http.response.status_code<0`,
	`http.response.status_code:404`,
	`custom.f:42`,
	`custom.f>40`,
	`custom.f:*`,
	`"Failed password"`,
	`"failed PASSWORD for"`,
	`password`,
	`failed password root`,
	`invalid`,
	`alice`,
	`10.1.2.3`,
	`pass*`,
	`"password for" AND user.name:root`,
	`NOT "Failed password"`,
	`tags:prod`,
	`tags:audit`,
	`logsource.product:linux`,
	`logsource.service:sshd AND user.name:alice`,
	`vigil.input:syslog-tcp`,
	`user.name:"'; DROP TABLE events; --"`,
	`custom.f:"'; DROP TABLE events; --"`,
	`user.name:"%"`,
	`user.name:"_"`,
	`user.name:"\""`,
	`custom.f:%`,
	`user.name:ñandú`,
	`user.name:ÑANDÚ`,
	`destination.port:443 AND duration_ms>500`,
	`success:true`,
	`trace.id:*`,
	`event.action:(login OR logout)`,
	`@timestamp>="2026-11-21T06:00:00Z" AND @timestamp<"2026-11-21T09:00:00Z"`,
	`@timestamp:*`,
	`log.original:*`,
	`message:*`,
	`NOT (user.name:alice OR source.ip:10.0.0.0/8) AND event.outcome:*`,
	// CIDR sets (an OR of CIDR terms on one field), promoted or not.
	`source.ip:10.0.0.0/24 OR source.ip:10.1.0.0/16 OR source.ip:fe80::/10 OR source.ip:10.2.3.0/24`,
	`source.ip:10.1.2.3/32 OR source.ip:10.1.2.30/32 OR user.name:alice`,
	`destination.ip:10.0.0.0/9 OR destination.ip:10.3.0.0/16`,
	`custom.f:10.0.0.0/8 OR custom.f:fe80::/16`,
	`NOT (source.ip:10.0.0.0/12 OR source.ip:10.2.0.0/16) AND event.outcome:*`,
	// Ranges are their two comparisons, promoted or not.
	`http.response.status_code:[400 TO 499]`,
	`http.response.status_code:{0 TO 50}`,
	`http.response.status_code:[40 TO *]`,
	`NOT http.response.status_code:[-5 TO 5}`,
	`custom.f:[4 TO 42]`,
	`custom.f:{* TO 10]`,
	`custom.f:[* TO *]`,
	`@timestamp:[2026-11-21T06:00:00Z TO 2026-11-21T09:00:00Z}`,
	`event.outcome:failure AND http.response.status_code:(404 OR [500 TO 599])`,
	`_exists_:custom.f`,
}

// reference evaluates q over evs in memory: total and the newest-first list.
func reference(t *testing.T, q *query.Query, evs []*event.Event, from, to time.Time) []*event.Event {
	t.Helper()
	m := query.Compile(q)
	var out []*event.Event
	for _, ev := range evs {
		ts := ev.Timestamp()
		if !from.IsZero() && ts.Before(from) || !to.IsZero() && ts.After(to) {
			continue
		}
		if m.Match(ev) {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b *event.Event) int { return b.Timestamp().Compare(a.Timestamp()) })
	return out
}

func TestSearchEqualsMatcher(t *testing.T) {
	for _, mr := range []int{256, 1} {
		t.Run(fmt.Sprintf("maxRanges=%d", mr), func(t *testing.T) {
			old := maxRanges
			maxRanges = mr
			defer func() { maxRanges = old }()
			testSearchEqualsMatcher(t)
		})
	}
}

func testSearchEqualsMatcher(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{BlockRows: 64})
	g := newGen(7, t0, 37*time.Second)
	evs := g.batch(3000)
	evs = append(evs, oddEvents(rand.New(rand.NewPCG(3, 4)), t0, 1500)...)
	for i := 0; i < len(evs); i += 500 {
		if err := db.Append(ctx, evs[i:min(i+500, len(evs))]); err != nil {
			t.Fatal(err)
		}
	}
	ranges := []struct{ from, to time.Time }{
		{},
		{t0.Add(2 * time.Hour), t0.Add(3 * time.Hour)},
		{t0.Add(26 * time.Hour), time.Time{}},
	}
	for _, qs := range equivQueries {
		q, err := query.Parse(qs)
		if err != nil {
			t.Fatalf("parse %q: %v", qs, err)
		}
		for ri, r := range ranges {
			t.Run(fmt.Sprintf("%s/range%d", qs, ri), func(t *testing.T) {
				want := reference(t, q, evs, r.from, r.to)
				res, err := db.Search(ctx, store.SearchRequest{Query: q, From: r.from, To: r.to, Limit: 50})
				if err != nil {
					t.Fatal(err)
				}
				if res.Total != int64(len(want)) {
					t.Fatalf("total: got %d, want %d", res.Total, len(want))
				}
				n := min(50, len(want))
				if len(res.Events) != n {
					t.Fatalf("events: got %d, want %d", len(res.Events), n)
				}
				for i := 0; i < n; i++ {
					got, w := res.Events[i].Event.Timestamp(), want[i].Timestamp()
					if !got.Equal(w) {
						t.Fatalf("event %d time: got %v, want %v", i, got, w)
					}
					if !query.Compile(q).Match(res.Events[i].Event) {
						t.Fatalf("event %d does not match: %s", i, res.Events[i].Event.AppendJSON(nil))
					}
				}
			})
		}
	}
}

func TestDocRoundTrip(t *testing.T) {
	g := newGen(1, t0, time.Second)
	evs := append(g.batch(50), oddEvents(rand.New(rand.NewPCG(1, 2)), t0, 50)...)
	evs = append(evs, &event.Event{}, &event.Event{Time: time.Date(9999, 1, 1, 0, 0, 0, 5, time.UTC)})
	for i, ev := range evs {
		b := appendDoc(nil, ev, ev.Timestamp())
		got, err := decodeDoc(b)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if diff := cmp.Diff(string(ev.AppendJSON(nil)), string(got.AppendJSON(nil))); diff != "" {
			t.Errorf("event %d round trip (-want +got):\n%s", i, diff)
		}
	}
}
