// Package migrate copies the events of a data directory's SQLite event
// store into the victorialogs engine (vigil store migrate).
//
// The copy reads the SQLite store's segments oldest day first, each in id
// order (sqlite.DB.Export), and appends them to the victorialogs store in
// batches; an Append returns once its events are durable (the engine's
// write-ahead log is fsynced). After each batch the position reached is
// written to DEST/migrate-state.json (written to a temporary file,
// fsynced and renamed), so a migration stopped by a crash, a kill or
// Ctrl-C resumes where it stopped: at most the one batch appended but not
// yet recorded is appended twice, and the final count says so.
//
// Events the engine refuses (a time further in the future than it
// accepts) are counted and listed in the result, never dropped silently.
// Migrating in place (DEST = SOURCE) renames SOURCE/events to
// events-sqlite-migrated when the copy is complete and its count checked,
// so that the server, set to store.engine: victorialogs, finds no
// unmigrated events; the metadata (meta.db) stays where it is. Migrating
// into another directory copies meta.db there (SQLite's VACUUM INTO, a
// consistent snapshot) when that directory has none, and leaves the
// source untouched.
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/internal/atomicfile"
	"github.com/vigilsec/vigil/internal/datadir"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/vlstore"
)

// StateFile is the resume position's file in the destination directory.
const StateFile = "migrate-state.json"

// MigratedDir is what SOURCE/events becomes after an in-place migration.
const MigratedDir = "events-sqlite-migrated"

// Options tune a migration.
type Options struct {
	// Batch is the events per append (default 2048).
	Batch int
	// Progress, if set, is called after each batch.
	Progress func(Progress)
	// Retention is the victorialogs store's retention while copying
	// (default a century: an investigation's old events are kept; the
	// server applies its own retention when it next opens the store).
	Retention time.Duration
}

// Progress is how far a migration is.
type Progress struct {
	// Copied events (this run and earlier runs it resumed), Refused
	// events, and Total events in the source.
	Copied, Refused, Total int64
	Elapsed                time.Duration
}

// Result is what a migration did.
type Result struct {
	Progress
	// Stored is the number of events the destination holds at the end.
	Stored int64
	// Resumed is set when the run continued an earlier one.
	Resumed bool
	// RefusedSample lists up to 10 refused events' times and why.
	RefusedSample []string
	// Moved is where SOURCE/events went (in-place migration), or "".
	Moved string
}

// state is StateFile's content.
type state struct {
	From     string                `json:"from"`
	Position sqlite.ExportPosition `json:"position"`
	Copied   int64                 `json:"copied"`
	Refused  int64                 `json:"refused"`
	// Before is how many events the destination held when the migration
	// began, for the final count.
	Before int64 `json:"before"`
}

// Run copies the events of the SQLite store in from into the
// victorialogs store in to (to "" is from: in place). Both directories are
// locked like a running server locks them: the server must be stopped.
func Run(ctx context.Context, from, to string, o Options) (*Result, error) {
	if o.Batch <= 0 {
		o.Batch = 2048
	}
	if o.Retention <= 0 {
		o.Retention = 100 * 365 * 24 * time.Hour
	}
	if to == "" {
		to = from
	}
	var err error
	if from, err = filepath.Abs(from); err != nil {
		return nil, err
	}
	if to, err = filepath.Abs(to); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(from, "events")); err != nil {
		return nil, fmt.Errorf("%s holds no events of the sqlite engine: %w", from, err)
	}
	inPlace := from == to
	lock, err := datadir.Acquire(from)
	if err != nil {
		return nil, fmt.Errorf("locking %s (stop the server that uses it first): %w", from, err)
	}
	defer lock.Release()
	if !inPlace {
		if err := os.MkdirAll(to, 0o750); err != nil {
			return nil, err
		}
		tl, err := datadir.Acquire(to)
		if err != nil {
			return nil, fmt.Errorf("locking %s (stop the server that uses it first): %w", to, err)
		}
		defer tl.Release()
	}
	src, err := sqlite.Open(ctx, from, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the sqlite store in %s: %w", from, err)
	}
	srcOpen := true
	defer func() {
		if srcOpen {
			src.Close()
		}
	}()
	srcStats, err := src.Stats(ctx)
	if err != nil {
		return nil, err
	}
	if !inPlace {
		if err := copyMeta(ctx, src, to); err != nil {
			return nil, err
		}
	}
	dst, err := vlstore.Open(ctx, to, vlstore.Options{Retention: o.Retention})
	if err != nil {
		return nil, fmt.Errorf("opening the victorialogs store in %s: %w", to, err)
	}
	dstOpen := true
	defer func() {
		if dstOpen {
			dst.Close()
		}
	}()

	res := &Result{Progress: Progress{Total: srcStats.Events}}
	st, err := readState(to)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil:
		before, err := count(ctx, dst)
		if err != nil {
			return nil, err
		}
		st = &state{From: from, Before: before}
	case st.From != from:
		return nil, fmt.Errorf("%s holds an unfinished migration from %s, not %s: finish that one, or remove %s to start over",
			to, st.From, from, filepath.Join(to, StateFile))
	default:
		res.Resumed = true
	}
	began := time.Now()
	err = src.Export(ctx, st.Position, o.Batch, func(evs []*event.Event, at sqlite.ExportPosition) error {
		n := int64(len(evs))
		if err := dst.Append(ctx, evs); err != nil {
			var pe *store.PartialError
			if !errors.As(err, &pe) || !errors.Is(err, vlstore.ErrOutOfRange) {
				return fmt.Errorf("appending to the victorialogs store: %w", err)
			}
			for _, ev := range pe.Unstored {
				if len(res.RefusedSample) < 10 {
					res.RefusedSample = append(res.RefusedSample, ev.Time.UTC().Format(time.RFC3339Nano)+": "+pe.Err.Error())
				}
			}
			st.Refused += int64(len(pe.Unstored))
			n -= int64(len(pe.Unstored))
		}
		st.Copied += n
		st.Position = at
		if err := writeState(to, st); err != nil {
			return err
		}
		if o.Progress != nil {
			o.Progress(Progress{Copied: st.Copied, Refused: st.Refused, Total: res.Total, Elapsed: time.Since(began)})
		}
		return nil
	})
	res.Copied, res.Refused, res.Elapsed = st.Copied, st.Refused, time.Since(began)
	if err != nil {
		return res, fmt.Errorf("migrating %s: %w (run the command again to resume)", from, err)
	}
	if res.Stored, err = count(ctx, dst); err != nil {
		return res, err
	}
	if got := res.Stored - st.Before; got < st.Copied {
		return res, fmt.Errorf("the victorialogs store holds %d new events, fewer than the %d copied: the source is kept as it is", got, st.Copied)
	}
	dstOpen = false
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("closing the victorialogs store: %w", err)
	}
	srcOpen = false
	if err := src.Close(); err != nil {
		return res, fmt.Errorf("closing the sqlite store: %w", err)
	}
	if inPlace {
		moved := filepath.Join(from, MigratedDir)
		if _, err := os.Stat(moved); err == nil {
			moved += "-" + time.Now().UTC().Format("20060102T150405")
		}
		if err := os.Rename(filepath.Join(from, "events"), moved); err != nil {
			return res, fmt.Errorf("moving the migrated sqlite events aside: %w", err)
		}
		res.Moved = moved
	}
	if err := os.Remove(filepath.Join(to, StateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	return res, nil
}

// count returns the exact number of events st holds.
func count(ctx context.Context, st store.Store) (int64, error) {
	r, err := st.Search(ctx, store.SearchRequest{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("counting events: %w", err)
	}
	return r.Total, nil
}

// copyMeta copies the source's metadata database into to, unless to has
// one.
func copyMeta(ctx context.Context, src *sqlite.DB, to string) error {
	dst := filepath.Join(to, "meta.db")
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if _, err := src.Meta().ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("copying the metadata database to %s: %w", dst, err)
	}
	return nil
}

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it to start the migration over)", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// writeState replaces StateFile atomically and durably.
func writeState(dir string, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, StateFile), b, 0o640)
}
