package vlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

var _ store.Store = (*DB)(nil)

// Options configure a DB. Zero values take the defaults.
type Options struct {
	// Retention is how long events are kept (by event time); the engine
	// drops whole days older than it. 0 means DefaultRetention. The engine
	// keeps at least one day.
	Retention time.Duration
	// MaxDiskBytes drops the oldest days while the store is larger; 0 means
	// no bound.
	MaxDiskBytes int64
	// MaxBackfillAge is how old an event may be when it is appended; 0
	// means Retention. Older events are refused (ErrOutOfRange), never
	// dropped silently.
	MaxBackfillAge time.Duration
	// FutureSkew is how far in the future an event's time may be; 0 means
	// one day (the engine's least). Later events are refused.
	FutureSkew time.Duration
	// MinFreeDiskBytes puts the store in read-only mode (Append fails with
	// store.ErrDiskFull, searches keep working) while the disk has less
	// free space; 0 means DefaultMinFreeDiskBytes, a negative value none.
	MinFreeDiskBytes int64
	// CheckpointInterval is how often the engine's recent rows are made
	// durable so that the write-ahead log they are in can be deleted; 0
	// means DefaultCheckpointInterval, a negative value only at Close.
	CheckpointInterval time.Duration
}

// DefaultCheckpointInterval bounds the write-ahead log to a few seconds of
// events.
const DefaultCheckpointInterval = 5 * time.Second

// DefaultRetention keeps events for a year.
const DefaultRetention = 365 * 24 * time.Hour

// DefaultMinFreeDiskBytes is the free space below which the store stops
// accepting events.
const DefaultMinFreeDiskBytes = 64 << 20

// ErrOutOfRange is wrapped by the error of an Append with events older than
// the backfill age or further in the future than allowed.
var ErrOutOfRange = store.ErrOutOfRange

// dirName is the engine's directory inside the data directory.
const dirName = "victorialogs"

// DB is an event store on VictoriaLogs' engine.
type DB struct {
	opts Options
	path string
	s    *logstorage.Storage

	// mu guards closed; Append and Search hold it for reading so that
	// Close waits for them.
	mu     sync.RWMutex
	closed bool
	// appendMu serialises Append and the write-ahead log: a checkpoint
	// rotates the log under it, so the rows of every earlier segment are
	// in the engine when the checkpoint makes them durable.
	appendMu sync.Mutex
	wal      *wal
	// days are the partitions (YYYYMMDD) written since the last checkpoint.
	days map[string]bool
	stop chan struct{}
	done chan struct{}
	// idBase and seq make the rows' identifiers unique across opens.
	idBase string
	seq    atomic.Uint64
	// dirty is set by Append and cleared by the next Search, which first
	// makes the engine's buffered rows searchable (so that an appended
	// event is found by any later search, and ingest does not pay for a
	// flush per batch).
	dirty atomic.Bool
}

// Holds reports whether dir holds a store of this engine.
func Holds(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, dirName))
	return err == nil
}

// Open opens (creating if needed) the store in dir.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Retention < 24*time.Hour {
		return nil, fmt.Errorf("opening store: retention %v under the engine's least, one day: %w", opts.Retention, store.ErrBadRequest)
	}
	if opts.MaxBackfillAge <= 0 || opts.MaxBackfillAge > opts.Retention {
		opts.MaxBackfillAge = opts.Retention
	}
	if opts.FutureSkew < 24*time.Hour {
		opts.FutureSkew = 24 * time.Hour
	}
	if opts.MinFreeDiskBytes == 0 {
		opts.MinFreeDiskBytes = DefaultMinFreeDiskBytes
	}
	if opts.MaxDiskBytes < 0 {
		return nil, fmt.Errorf("opening store: max disk bytes %d: %w", opts.MaxDiskBytes, store.ErrBadRequest)
	}
	path := filepath.Join(dir, dirName)
	// The engine ends the process on I/O errors, so check what can be
	// checked first: the directory exists and is writable.
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	probe := filepath.Join(path, ".vigil-probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("opening store: directory not writable: %w", err)
	}
	if err := os.Remove(probe); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if _, err := os.Stat(filepath.Join(path, "partitions")); errors.Is(err, os.ErrNotExist) {
		// The engine creates its layout only in a directory that does
		// not exist yet.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("opening store: %w", err)
		}
	} else if err := probeLock(path); err != nil {
		return nil, err
	}
	initEngine()
	cfg := &logstorage.StorageConfig{
		Retention:              opts.Retention,
		MaxDiskSpaceUsageBytes: opts.MaxDiskBytes,
		MaxBackfillAge:         opts.MaxBackfillAge,
		FutureRetention:        opts.FutureSkew,
		MinFreeDiskSpaceBytes:  max(opts.MinFreeDiskBytes, 0),
		FlushInterval:          time.Second,
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	vs, err := mustOpen(path, cfg)
	if err != nil {
		return nil, err
	}
	db := &DB{
		opts:   opts,
		path:   path,
		s:      vs,
		idBase: strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
		days:   map[string]bool{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	walDir := filepath.Join(dir, walDirName)
	last, err := db.replay(ctx, walDir)
	if err != nil {
		db.s.MustClose()
		return nil, fmt.Errorf("opening store: replaying the write-ahead log: %w", err)
	}
	if db.wal, err = openWAL(walDir, last); err != nil {
		db.s.MustClose()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	go db.checkpointLoop()
	return db, nil
}

// checkpointLoop checkpoints every CheckpointInterval until Close.
func (db *DB) checkpointLoop() {
	defer close(db.done)
	if db.opts.CheckpointInterval < 0 {
		<-db.stop
		return
	}
	t := time.NewTicker(db.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			// A failed checkpoint keeps its segments: they are replayed at
			// the next Open, and the next checkpoint retries.
			_ = db.checkpoint()
		}
	}
}

// checkpoint makes the rows of the write-ahead log's complete segments
// durable in the engine and deletes those segments.
func (db *DB) checkpoint() error {
	db.appendMu.Lock()
	if db.wal.size == 0 {
		db.appendMu.Unlock()
		return nil
	}
	if err := db.wal.rotate(); err != nil {
		db.appendMu.Unlock()
		return err
	}
	days, current := db.days, db.wal.seq
	db.days = map[string]bool{}
	db.appendMu.Unlock()
	if err := db.sync(days); err != nil {
		return err
	}
	return db.wal.drop(current)
}

// Close flushes the engine's buffers to disk and releases the store.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	close(db.stop)
	<-db.done
	// Closing the engine writes its in-memory rows to files, fsynced: the
	// log is then covered whole.
	db.s.MustClose()
	if err := db.wal.close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	if err := db.wal.drop(db.wal.seq + 1); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// Stats reports the store's size from the engine's counters.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return store.Stats{}, store.ErrClosed
	}
	var ss logstorage.StorageStats
	db.s.UpdateStats(&ss)
	st := store.Stats{
		Bytes:      int64(ss.CompressedSmallPartSize + ss.CompressedBigPartSize + ss.IndexdbSizeBytes + ss.CompressedInmemorySize),
		Partitions: int(ss.PartitionsCount),
		Events:     int64(ss.RowsCount() + ss.PendingRows),
	}
	if st.Events > 0 && ss.MinTimestamp <= ss.MaxTimestamp {
		day := func(ns int64) time.Time {
			return time.Unix(0, ns).UTC().Truncate(24 * time.Hour)
		}
		st.Oldest, st.Newest = day(ss.MinTimestamp), day(ss.MaxTimestamp)
	}
	return st, nil
}

// tenant is the one tenant Vigil's events are kept under.
var tenant = logstorage.TenantID{}

// streamFields are the stream's key: few values each, and together they
// group events that are alike (one source's one kind of log).
var streamFields = []string{"host.name", "event.dataset"}

// Append writes evs as rows and makes them durable and searchable before
// returning: their documents go to the write-ahead log, fsynced, then to
// the engine, whose buffered rows are flushed into its in-memory parts
// (see wal.go for when those reach the engine's files). Events
// outside the accepted time range are refused with a *store.PartialError
// wrapping ErrOutOfRange; the others are stored.
func (db *DB) Append(ctx context.Context, evs []*event.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return store.ErrClosed
	}
	if len(evs) == 0 {
		return nil
	}
	if db.s.IsReadOnly() {
		return fmt.Errorf("appending %d events: free disk space under %d bytes: %w", len(evs), db.opts.MinFreeDiskBytes, store.ErrDiskFull)
	}
	now := time.Now()
	oldest := now.Add(-db.opts.MaxBackfillAge)
	// The engine accepts whole days up to today + FutureSkew.
	newest := now.Add(db.opts.FutureSkew).UTC().Truncate(24 * time.Hour).Add(24*time.Hour - 1)
	lr := logstorage.GetLogRows(nil, nil, nil, nil, "")
	defer logstorage.PutLogRows(lr)
	var rb rowBuilder
	var refused []*event.Event
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	for _, ev := range evs {
		ts := ev.Timestamp()
		if ts.Before(oldest) || ts.After(newest) {
			refused = append(refused, ev)
			continue
		}
		id := db.idBase + strconv.FormatUint(db.seq.Add(1), 36)
		fields, nStream := rb.build(ev, ts, id)
		db.wal.add(id, rb.doc)
		lr.MustAdd(tenant, ts.UnixNano(), fields, nStream)
		db.days[ts.UTC().Format("20060102")] = true
	}
	if lr.RowsCount() > 0 {
		if err := db.wal.commit(); err != nil {
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				err = fmt.Errorf("%w: %w", store.ErrDiskFull, err)
			}
			return fmt.Errorf("appending %d events: write-ahead log: %w", lr.RowsCount(), err)
		}
		db.s.MustAddRows(lr)
		db.dirty.Store(true)
	}
	if len(refused) > 0 {
		return &store.PartialError{Unstored: refused, Err: fmt.Errorf("%d events before %s or after %s: %w",
			len(refused), oldest.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339), ErrOutOfRange)}
	}
	return nil
}

// sync makes the rows added so far durable in the engine: DebugFlush
// moves buffered rows into in-memory parts, and a snapshot of each touched
// day's partition writes those parts to files and fsyncs them. The
// snapshot itself (hard links) is removed at once.
func (db *DB) sync(days map[string]bool) error {
	db.s.DebugFlush()
	for day := range days {
		for _, p := range db.s.PartitionSnapshotMustCreate(day) {
			if err := db.s.PartitionSnapshotDelete(p); err != nil {
				return fmt.Errorf("syncing store: %w", err)
			}
		}
	}
	return nil
}

// Probe reports whether Append can write again: it fails with
// store.ErrDiskFull while the engine is read-only (free disk space under
// MinFreeDiskBytes). The pipeline calls it while appends fail.
func (db *DB) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.s.IsReadOnly() {
		return fmt.Errorf("free disk space under %d bytes: %w", db.opts.MinFreeDiskBytes, store.ErrDiskFull)
	}
	return nil
}

// ErrLocked is wrapped by the error of Open when another process has the
// store open.
var ErrLocked = errors.New("store in use by another process")

// probeLock fails when another process holds the engine's lock file on
// path (the engine would end this process instead of returning an error).
func probeLock(path string) error {
	f, err := os.OpenFile(filepath.Join(path, "flock.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("opening store %q: %w", path, ErrLocked)
		}
		return fmt.Errorf("opening store: locking: %w", err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// mustOpen opens the engine, turning its panics (it panics on I/O errors
// while opening, e.g. a corrupt part) into an error.
func mustOpen(path string, cfg *logstorage.StorageConfig) (s *logstorage.Storage, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("opening store %q: %v", path, r)
		}
	}()
	return logstorage.MustOpenStorage(path, cfg), nil
}
