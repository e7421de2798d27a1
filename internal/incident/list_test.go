package incident

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestListPaging pages through incidents with Offset and counts them with
// Total.
func TestListPaging(t *testing.T) { metatest.Engines(t, testListPaging) }

func testListPaging(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	var ids []string // newest first
	for i := range 7 {
		f.now = f.now.Add(time.Minute)
		inc, err := f.inc.Create(ctx, "alice", fmt.Sprintf("incident %d", i), "high", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{inc.ID}, ids...)
	}
	f.now = f.now.Add(time.Minute)
	resolved := "resolved"
	if _, _, err := f.inc.Update(ctx, ids[6], "alice", Patch{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	// The update made the oldest the most recently active.
	order := append([]string{ids[6]}, ids[:6]...)
	tests := []struct {
		name  string
		f     ListFilter
		want  []string
		total int64
	}{
		{"first page", ListFilter{Limit: 3}, order[:3], 7},
		{"second page", ListFilter{Limit: 3, Offset: 3}, order[3:6], 7},
		{"last page is short", ListFilter{Limit: 3, Offset: 6}, order[6:], 7},
		{"past the end", ListFilter{Limit: 3, Offset: 7}, nil, 7},
		{"open ones, second page", ListFilter{Status: "open", Limit: 4, Offset: 4}, ids[4:6], 6},
		{"resolved", ListFilter{Status: "resolved"}, ids[6:], 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			incs, err := f.inc.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, inc := range incs {
				got = append(got, inc.ID)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("List(%+v) (-want +got):\n%s", tt.f, d)
			}
			n, err := f.inc.Total(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.total {
				t.Errorf("Total(%+v): got %d, want %d", tt.f, n, tt.total)
			}
		})
	}
	for _, off := range []int{-1, MaxOffset + 1} {
		if _, err := f.inc.List(ctx, ListFilter{Offset: off}); err == nil {
			t.Errorf("List with offset %d: got no error", off)
		}
		if _, err := f.inc.Total(ctx, ListFilter{Offset: off}); err == nil {
			t.Errorf("Total with offset %d: got no error", off)
		}
	}
}
