package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// Export hands over every event once, oldest day first, and resumes after
// the position of the last batch taken.
func TestExport(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	start := time.Now().UTC().Add(-50 * time.Hour).Truncate(time.Hour)
	gen := storetest.NewGen(7, start, time.Minute)
	const n = 3000 // about two days and two segments' worth of days
	for range n / 500 {
		if err := db.Append(ctx, gen.Batch(500)); err != nil {
			t.Fatal(err)
		}
	}
	var all []*event.Event
	var positions []ExportPosition
	var upTo []int // events handed over up to and including each batch
	err := db.Export(ctx, ExportPosition{}, 7, func(evs []*event.Event, at ExportPosition) error {
		if len(evs) > 7 {
			t.Fatalf("batch of %d, want at most 7", len(evs))
		}
		all = append(all, evs...)
		positions = append(positions, at)
		upTo = append(upTo, len(all))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("exported %d events, want %d", len(all), n)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Format("2006-01-02") < all[i-1].Time.Format("2006-01-02") {
			t.Fatalf("event %d of day %s after one of day %s: want oldest day first", i, all[i].Time, all[i-1].Time)
		}
	}
	// Resume after a batch in the middle: exactly the rest follows, the
	// first of it being the event after that batch.
	mid := len(positions) / 2
	var rest []*event.Event
	if err := db.Export(ctx, positions[mid], 100, func(evs []*event.Event, _ ExportPosition) error {
		rest = append(rest, evs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if upTo[mid]+len(rest) != n {
		t.Fatalf("resumed export: %d before the position and %d after, want %d in all", upTo[mid], len(rest), n)
	}
	if !rest[0].Time.Equal(all[upTo[mid]].Time) {
		t.Errorf("resumed export starts at %v, want %v (the event after the position)", rest[0].Time, all[upTo[mid]].Time)
	}
	if err := db.Export(ctx, ExportPosition{Segment: "1999-01-01/0-0"}, 7, func([]*event.Event, ExportPosition) error { return nil }); err == nil {
		t.Error("resume from a segment the store does not hold: got no error")
	}
}
