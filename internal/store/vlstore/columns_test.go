package vlstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/query/querytest"
	"github.com/vigilsec/vigil/internal/store"
)

// TestColumnsOnly: aggregates answered from the columns (no filter,
// count() by fields) give query.Run's rows over events whose by fields are
// missing, null, empty, repeated, hold a line break, are numbers, or are
// the event's own members.
func TestColumnsOnly(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	mk := func(i int, set func(ev *event.Event)) *event.Event {
		ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Second)}
		set(ev)
		return ev
	}
	evs := []*event.Event{
		mk(0, func(ev *event.Event) { ev.Set("f", event.String("a")); ev.Set("host.name", event.String("h1")) }),
		mk(1, func(ev *event.Event) { ev.Set("f", event.String("a")); ev.Set("host.name", event.String("h1")) }),
		mk(2, func(ev *event.Event) { ev.Set("f", event.String("")) }),
		mk(3, func(ev *event.Event) { ev.Set("f", event.Null()) }),
		mk(4, func(ev *event.Event) {}),
		mk(5, func(ev *event.Event) { ev.Set("f", event.String("x\ny")) }),
		mk(6, func(ev *event.Event) { ev.Set("f", event.String("b")); ev.Set("f", event.String("c")) }),
		mk(7, func(ev *event.Event) { ev.Set("f", event.Null()); ev.Set("f", event.String("b")) }),
		mk(8, func(ev *event.Event) { ev.Set("f", event.Int(5)); ev.Set("host.name", event.String("")) }),
		mk(9, func(ev *event.Event) {
			ev.Set("f", event.String("5"))
			ev.Input = "http"
			ev.Tags = []string{"t1", "t2"}
		}),
		mk(10, func(ev *event.Event) { ev.Set("g", event.String("")); ev.Set("f", event.String("a")) }),
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, qs := range []string{
		"| stats count() by f",
		"| stats count() by host.name",
		"| stats count() as n by f, host.name | sort -n",
		"| stats count() by vigil.input",
		"| stats count() by tags",
		"| stats count()",
	} {
		t.Run(qs, func(t *testing.T) {
			q := mustParse(t, qs)
			if _, ok := columnsOnly(q); !ok {
				t.Fatalf("%s is not answered from columns", qs)
			}
			want, err := query.Run(q, slices.Values(evs))
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.Search(ctx, store.SearchRequest{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			gr, _ := querytest.RowsJSON(got.Rows)
			wr, _ := querytest.RowsJSON(want.Rows)
			if gr != wr {
				t.Errorf("rows:\n got %s\nwant %s", gr, wr)
			}
		})
	}
}
