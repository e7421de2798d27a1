package vlstore

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigilsec/vigil/internal/event"
)

// replayChunk is how many ids one lookup asks the engine about.
const replayChunk = 1000

// replay adds to the engine the rows of the write-ahead log's segments in
// dir that it lost (a crash before its checkpoint), makes them durable and
// deletes the segments. It returns the last segment number seen.
func (db *DB) replay(ctx context.Context, dir string) (uint64, error) {
	seqs, err := segments(dir)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	var recs []walRecord
	for _, s := range seqs {
		err := readSegment(filepath.Join(dir, segmentName(s)), func(r walRecord) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	have, err := db.existingIDs(ctx, recs)
	if err != nil {
		return 0, err
	}
	lr := logstorage.GetLogRows(nil, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)
	var rb rowBuilder
	days := map[string]bool{}
	for _, r := range recs {
		if have[r.id] {
			continue
		}
		ev, err := event.DecodeBinary(r.doc)
		if err != nil {
			return 0, fmt.Errorf("record %q: %w", r.id, err)
		}
		ts := ev.Timestamp()
		fields, nStream := rb.build(ev, ts, r.id)
		lr.MustAdd(tenant, ts.UnixNano(), fields, nStream)
		days[ts.UTC().Format("20060102")] = true
	}
	if lr.RowsCount() > 0 {
		db.s.MustAddRows(lr)
		if err := db.sync(days); err != nil {
			return 0, err
		}
	}
	w := &wal{dir: dir}
	last := seqs[len(seqs)-1]
	if err := w.drop(last + 1); err != nil {
		return 0, err
	}
	return last, nil
}

// existingIDs returns which of recs' ids the engine holds.
func (db *DB) existingIDs(ctx context.Context, recs []walRecord) (map[string]bool, error) {
	have := map[string]bool{}
	var mu sync.Mutex
	for i := 0; i < len(recs); i += replayChunk {
		var b strings.Builder
		b.WriteString(quote(colID) + ":in(")
		for j, r := range recs[i:min(i+replayChunk, len(recs))] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quote(r.id))
		}
		b.WriteString(")")
		q, err := logstorage.ParseQuery(b.String())
		if err != nil {
			return nil, fmt.Errorf("compiling id lookup: %w", err)
		}
		q.AddTimeFilter(math.MinInt64, math.MaxInt64)
		q.AddPipeFields([]string{colID})
		qc := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, q, false, nil)
		err = db.s.RunQuery(qc, func(_ uint, blk *logstorage.DataBlock) {
			c := blk.GetColumnByName(colID)
			if c == nil {
				return
			}
			mu.Lock()
			for _, v := range c.Values {
				have[strings.Clone(v)] = true
			}
			mu.Unlock()
		})
		if err != nil {
			return nil, fmt.Errorf("looking up ids: %w", err)
		}
	}
	return have, nil
}
