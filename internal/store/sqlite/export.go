package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// ExportPosition is where an export stands: the segment ("<day>/<shard>-
// <seq>") and the id of the last event handed over in it. The zero value
// is the start.
type ExportPosition struct {
	Segment string `json:"segment"`
	LastID  int64  `json:"last_id"`
}

// Export hands every event of the store to fn in batches of up to batch,
// oldest day first, each segment in id order, starting after from; fn
// gets the position of the batch's last event, so that an export stopped
// half way (vigil store migrate) resumes after what fn took. An event that
// does not decode stops the export with its segment and id.
func (db *DB) Export(ctx context.Context, from ExportPosition, batch int, fn func(evs []*event.Event, at ExportPosition) error) error {
	if batch <= 0 {
		batch = 1024
	}
	segs, err := db.segmentsFor(time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		if c := cmp.Compare(a.day, b.day); c != 0 {
			return c
		}
		if c := cmp.Compare(a.shard, b.shard); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	started := from.Segment == ""
	for _, s := range segs {
		name := s.day + "/" + s.name
		after := int64(0)
		if !started {
			if name != from.Segment {
				continue
			}
			started, after = true, from.LastID
		}
		if err := db.exportSegment(ctx, s, name, after, batch, fn); err != nil {
			return err
		}
	}
	if !started {
		return fmt.Errorf("exporting store %q: resume position %q names no segment", db.dir, from.Segment)
	}
	return nil
}

// exportSegment hands the events of s after id after to fn.
func (db *DB) exportSegment(ctx context.Context, s *segment, name string, after int64, batch int, fn func([]*event.Event, ExportPosition) error) error {
	r, err := db.readers.acquire(s.path, false)
	if err != nil {
		return fmt.Errorf("exporting segment %s: %w", name, err)
	}
	defer db.readers.release(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := r.db.QueryContext(ctx, `SELECT id, doc FROM events WHERE id > ? ORDER BY id LIMIT ?`, after, batch)
		if err != nil {
			return fmt.Errorf("exporting segment %s: %w", name, err)
		}
		evs := make([]*event.Event, 0, batch)
		last := after
		for rows.Next() {
			var id int64
			var doc []byte
			if err := rows.Scan(&id, &doc); err != nil {
				rows.Close()
				return fmt.Errorf("exporting segment %s: %w", name, err)
			}
			ev, err := decodeDoc(doc)
			if err != nil {
				rows.Close()
				return fmt.Errorf("exporting segment %s, event %d: %w", name, id, err)
			}
			evs = append(evs, ev)
			last = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("exporting segment %s: %w", name, err)
		}
		if len(evs) == 0 {
			return nil
		}
		if err := fn(evs, ExportPosition{Segment: name, LastID: last}); err != nil {
			return err
		}
		after = last
	}
}
