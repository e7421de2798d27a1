package alert

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestListPaging pages through alerts with Offset and counts them with
// Total, with the assignee filter in the query (so a page is a page of the
// filtered list, not a filtered page).
func TestListPaging(t *testing.T) { metatest.Engines(t, testListPaging) }

func testListPaging(t *testing.T) {
	ctx := context.Background()
	f := newTriageFixture(t, 25) // a0 ... a24, a24 seen last
	if err := f.tr.Assign(ctx, []string{"a24", "a20", "a3"}, "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.tr.Assign(ctx, []string{"a5"}, "carol", "alice"); err != nil {
		t.Fatal(err)
	}
	// Assigned, then unassigned: no one's again.
	if err := f.tr.Assign(ctx, []string{"a3"}, "", "alice"); err != nil {
		t.Fatal(err)
	}
	ids := func(n0, n1 int) []string {
		var out []string
		for i := n0; i >= n1; i-- {
			out = append(out, fmt.Sprintf("a%d", i))
		}
		return out
	}
	tests := []struct {
		name  string
		f     Filter
		want  []string
		total int64
	}{
		{"first page", Filter{Limit: 10}, ids(24, 15), 25},
		{"second page", Filter{Limit: 10, Offset: 10}, ids(14, 5), 25},
		{"last page is short", Filter{Limit: 10, Offset: 20}, ids(4, 0), 25},
		{"past the end", Filter{Limit: 10, Offset: 25}, nil, 25},
		{"at MaxOffset", Filter{Limit: 10, Offset: MaxOffset}, nil, 25},
		{"assigned to bob", Filter{Assignee: "bob"}, []string{"a24", "a20"}, 2},
		{"assigned to bob, second page", Filter{Assignee: "bob", Limit: 1, Offset: 1}, []string{"a20"}, 2},
		{"assigned to no one", Filter{Assignee: NoAssignee, Limit: 3}, []string{"a23", "a22", "a21"}, 22},
		{"assignee and rule", Filter{Assignee: "carol", RuleID: "r1"}, []string{"a5"}, 1},
		{"assignee and another rule", Filter{Assignee: "carol", RuleID: "r2"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, err := f.s.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.ID)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("List(%+v) (-want +got):\n%s", tt.f, d)
			}
			n, err := f.s.Total(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.total {
				t.Errorf("Total(%+v): got %d, want %d", tt.f, n, tt.total)
			}
		})
	}
}

func TestListOffsetBound(t *testing.T) {
	ctx := context.Background()
	f := newTriageFixture(t, 1)
	for _, off := range []int{-1, MaxOffset + 1} {
		if _, err := f.s.List(ctx, Filter{Offset: off}); !errors.Is(err, ErrOffset) {
			t.Errorf("List with offset %d: got %v, want ErrOffset", off, err)
		}
		if _, err := f.s.Total(ctx, Filter{Offset: off}); !errors.Is(err, ErrOffset) {
			t.Errorf("Total with offset %d: got %v, want ErrOffset", off, err)
		}
	}
}

// TestFromDetectionFirstSeen: a correlation's alert is first seen at its
// first contributing event (Detection.First), which its kept events may
// not reach.
func TestFromDetectionFirstSeen(t *testing.T) {
	ev := func(at time.Time) *event.Event { return &event.Event{Time: at} }
	r := testRule("r")
	tests := []struct {
		name string
		d    detect.Detection
		want time.Time
	}{
		{"detection", detect.Detection{Rule: r, Event: ev(t0), Time: t0, Count: 1}, t0},
		{"correlation with kept events only",
			detect.Detection{Rule: r, Event: ev(t0.Add(time.Minute)), Time: t0.Add(time.Minute), Count: 3, Events: []*event.Event{ev(t0.Add(30 * time.Second)), ev(t0.Add(time.Minute))}},
			t0.Add(30 * time.Second)},
		{"correlation with its first event's time",
			detect.Detection{Rule: r, Event: ev(t0.Add(time.Minute)), Time: t0.Add(time.Minute), First: t0, Count: 3, Events: []*event.Event{ev(t0.Add(30 * time.Second)), ev(t0.Add(time.Minute))}},
			t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fromDetection(tt.d)
			if !a.FirstSeen.Equal(tt.want) || !a.LastSeen.Equal(tt.d.Time) {
				t.Errorf("got first seen %v, last seen %v; want %v, %v", a.FirstSeen, a.LastSeen, tt.want, tt.d.Time)
			}
		})
	}
}
