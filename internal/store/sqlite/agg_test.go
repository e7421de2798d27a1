package sqlite

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// refAgg computes an aggregate query in memory, independently of agg.go:
// group key = first non-null value's text per by field.
func refAgg(q *query.Query, evs []*event.Event) (cols []string, rows [][]any) {
	m := query.Compile(q)
	var by []string
	var aggs []query.Agg
	var span time.Duration
	if s := q.Stats(); s != nil {
		by, aggs = s.By, s.Aggs
	} else {
		tc := q.Timechart()
		span, aggs = tc.Span, tc.Aggs
		cols = append(cols, query.TimeColumn)
		if tc.By != "" {
			by = []string{tc.By}
		}
	}
	cols = append(cols, by...)
	for _, a := range aggs {
		cols = append(cols, a.Name())
	}
	type grp struct {
		key []any
		evs []*event.Event
	}
	groups := map[string]*grp{}
	for _, ev := range evs {
		if !m.Match(ev) {
			continue
		}
		var key []any
		if span > 0 {
			ns := ev.Timestamp().UnixNano()
			key = append(key, time.Unix(0, ns-((ns%int64(span))+int64(span))%int64(span)).UTC())
		}
		for _, f := range by {
			var v any
			query.FieldValues(ev, f, func(x event.Value) bool {
				if x.Kind == event.KindNull {
					return true
				}
				v = x.Str
				return false
			})
			key = append(key, v)
		}
		ks := fmt.Sprintf("%#v", key)
		if groups[ks] == nil {
			groups[ks] = &grp{key: key}
		}
		groups[ks].evs = append(groups[ks].evs, ev)
	}
	for _, g := range groups {
		row := append([]any(nil), g.key...)
		for _, a := range aggs {
			var count int64
			set := map[string]bool{}
			var nums []float64
			for _, ev := range g.evs {
				if a.Field == "" {
					count++
					continue
				}
				seen := false
				query.FieldValues(ev, a.Field, func(x event.Value) bool {
					if x.Kind == event.KindNull {
						return true
					}
					seen = true
					set[x.Str] = true
					if n, ok := query.NumericValue(x); ok {
						nums = append(nums, n)
					}
					return true
				})
				if seen {
					count++
				}
			}
			switch a.Func {
			case query.AggCount:
				row = append(row, count)
			case query.AggDC:
				row = append(row, int64(len(set)))
			default:
				if len(nums) == 0 {
					row = append(row, nil)
					continue
				}
				sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
				for _, n := range nums {
					sum += n
					lo, hi = math.Min(lo, n), math.Max(hi, n)
				}
				row = append(row, map[string]float64{"sum": sum, "min": lo, "max": hi, "avg": sum / float64(len(nums))}[a.Func])
			}
		}
		rows = append(rows, row)
	}
	return cols, rows
}

func sortRows(rows [][]any) {
	slices.SortFunc(rows, func(a, b []any) int { return strings.Compare(fmt.Sprintf("%#v", a), fmt.Sprintf("%#v", b)) })
}

func TestAggregates(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{BlockRows: 100})
	g := newGen(11, t0, 53*time.Second)
	evs := append(g.batch(2000), oddEvents(rand.New(rand.NewPCG(5, 6)), t0, 800)...)
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Seal one day's segments so that both the indexed and the plain
	// paths run.
	db.mu.RLock()
	var segs []*segment
	for _, d := range db.days {
		segs = append(segs, d.segs...)
	}
	db.mu.RUnlock()
	db.wmu.Lock()
	ws := db.writers
	db.writers = map[writerKey]*writer{}
	db.wmu.Unlock()
	for _, w := range ws {
		db.closeWriter(w, false)
	}
	if err := db.seal(segs[0]); err != nil {
		t.Fatal(err)
	}
	for _, qs := range []string{
		`| stats count()`,
		`| stats count() by source.ip`,
		`event.dataset:sshd | stats count() by source.ip, user.name`,
		`| stats count(), count(user.name) by host.name`,
		`| stats count(custom.f), dc(custom.f), min(custom.f), max(custom.f), sum(custom.f), avg(custom.f) by user.name`,
		`| stats dc(source.ip), avg(http.response.body.bytes) by event.dataset`,
		`| stats count() by logsource.product`,
		`| stats max(duration_ms) by success`,
		`user.name:alice | stats count() by event.outcome`,
		`"Failed password" | stats count() by user.name`,
		`| timechart span=1h count()`,
		`| timechart span=15m count() by event.dataset`,
		`| timechart span=1h count(), count(user.name) by host.name`,
		`| stats count() by host.name, user.name`,
		`| timechart span=1d count(), dc(user.name) by host.name`,
		`| timechart span=30m avg(http.response.status_code) by custom.f`,
		`NOT user.name:* | stats count() by host.name`,
	} {
		for _, r := range []struct{ from, to time.Time }{{}, {t0.Add(5*time.Hour + 17*time.Second), t0.Add(30 * time.Hour)}} {
			t.Run(fmt.Sprintf("%s/%v", qs, !r.from.IsZero()), func(t *testing.T) {
				q, err := query.Parse(qs)
				if err != nil {
					t.Fatal(err)
				}
				var in []*event.Event
				for _, ev := range evs {
					ts := ev.Timestamp()
					if r.from.IsZero() || !ts.Before(r.from) && !ts.After(r.to) {
						in = append(in, ev)
					}
				}
				wantCols, wantRows := refAgg(q, in)
				res, err := db.Search(ctx, store.SearchRequest{Query: q, From: r.from, To: r.to})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(wantCols, res.Columns); diff != "" {
					t.Fatalf("columns (-want +got):\n%s", diff)
				}
				sortRows(wantRows)
				got := append([][]any(nil), res.Rows...)
				sortRows(got)
				if diff := cmp.Diff(wantRows, got, cmpopts.EquateApprox(1e-9, 1e-9)); diff != "" {
					t.Fatalf("rows (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestAggregatePipes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	var evs []*event.Event
	for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.3", "10.0.0.3"} {
		ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Minute)}
		ev.Set("source.ip", event.String(ip))
		ev.Set("bytes", event.Int(int64(i*10)))
		evs = append(evs, ev)
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q        string
		limit    int
		wantCols []string
		want     [][]any
	}{
		{`| stats count() by source.ip | sort -count | limit 2`, 0, []string{"source.ip", "count"},
			[][]any{{"10.0.0.3", int64(3)}, {"10.0.0.2", int64(2)}}},
		{`| stats count() as n, sum(bytes) by source.ip | sort n | fields source.ip, n`, 0, []string{"source.ip", "n"},
			[][]any{{"10.0.0.1", int64(1)}, {"10.0.0.2", int64(2)}, {"10.0.0.3", int64(3)}}},
		{`| stats sum(bytes) by source.ip | sort -sum(bytes)`, 1, []string{"source.ip", "sum(bytes)"},
			[][]any{{"10.0.0.3", float64(120)}}},
		{`| timechart span=2m count()`, 0, []string{"@timestamp", "count"},
			[][]any{{t0, int64(2)}, {t0.Add(2 * time.Minute), int64(2)}, {t0.Add(4 * time.Minute), int64(2)}}},
	}
	for _, tc := range tests {
		t.Run(tc.q, func(t *testing.T) {
			q, err := query.Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			res, err := db.Search(ctx, store.SearchRequest{Query: q, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantCols, res.Columns); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, res.Rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}
