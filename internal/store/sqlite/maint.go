package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

// sealLoop seals segments handed to it: it builds the grouping indexes and
// marks the segment sealed, off the append path.
func (db *DB) sealLoop() {
	defer db.wg.Done()
	for {
		select {
		case <-db.stop:
			return
		case s := <-db.sealCh:
			if err := db.seal(s); err != nil {
				db.opts.Logger.Error("sealing segment", "segment", s.path, "err", err)
			}
		}
	}
}

func (db *DB) seal(s *segment) error {
	// Never index a segment that a writer has open: the index build would
	// hold the file's write lock for seconds. Once sealing starts, writers
	// start a new segment instead of reopening this one.
	db.wmu.Lock()
	if s.writing.Load() {
		db.wmu.Unlock()
		return nil
	}
	if !s.sealing.CompareAndSwap(false, true) {
		db.wmu.Unlock()
		return nil
	}
	db.wmu.Unlock()
	defer s.sealing.Store(false)
	s.use.RLock()
	defer s.use.RUnlock()
	if s.dropped {
		return nil
	}
	// A sealed segment is sealed again only to add indexes that the
	// configuration gained since (CREATE INDEX IF NOT EXISTS is cheap
	// otherwise).
	ctx := context.Background()
	conn, err := sql.Open("sqlite", dsn(s.path, db.opts.CacheKiB, segmentPageSize, false))
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name='events'").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	for _, f := range db.opts.IndexFields {
		col := promoted[promotedIndex(f)].col
		// col comes from the fixed table of promoted columns, not from input.
		// (col, ts): grouping by col scans it; a timechart by col reads
		// (id, ts, col) from it without touching the table.
		if _, err := conn.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS ix_"+col+"_ts ON events("+col+", ts)"); err != nil {
			return fmt.Errorf("indexing %s: %w", col, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA user_version="+fmt.Sprint(sealedVersion)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	s.sealed.Store(true)
	return nil
}

// Flush closes every open writer and seals its segment now rather than in
// the background: afterwards every segment is indexed. Appends may go on
// meanwhile (into new segments). Tools and benchmarks use it; the server
// does not need to.
func (db *DB) Flush(ctx context.Context) error {
	db.wmu.Lock()
	ws := db.writers
	db.writers = map[writerKey]*writer{}
	db.wmu.Unlock()
	for _, w := range ws {
		db.closeWriter(w, false)
	}
	db.mu.RLock()
	var segs []*segment
	for _, d := range db.days {
		segs = append(segs, d.segs...)
	}
	db.mu.RUnlock()
	var errs []error
	for _, s := range segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := db.seal(s); err != nil {
			errs = append(errs, fmt.Errorf("sealing %q: %w", s.path, err))
		}
	}
	return errors.Join(errs...)
}

// maintainLoop closes idle writers of past days (sealing their segments)
// and applies retention.
func (db *DB) maintainLoop() {
	defer db.wg.Done()
	t := time.NewTicker(db.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.maintain()
		}
	}
}

func (db *DB) maintain() {
	today := db.opts.Now().UTC().Format(dayLayout)
	db.wmu.Lock()
	var idle []*writer
	for k, w := range db.writers {
		if k.day < today && db.clock-w.used.Load() > uint64(4*db.opts.Shards) {
			delete(db.writers, k)
			idle = append(idle, w)
		}
	}
	db.wmu.Unlock()
	for _, w := range idle {
		db.closeWriter(w, true)
	}
	if _, err := db.ApplyRetention(context.Background()); err != nil {
		db.opts.Logger.Error("applying retention", "dir", db.dir, "err", err)
	}
}

// ApplyRetention drops whole days older than MaxAge and, while the events
// take more than MaxBytes, the oldest days (never the newest one). It runs
// periodically; tests and tools may call it. It returns the dropped days.
func (db *DB) ApplyRetention(ctx context.Context) ([]string, error) {
	var dropped []string
	var errs []error
	db.retMu.Lock()
	maxAge, maxBytes := db.opts.MaxAge, db.opts.MaxBytes
	db.retMu.Unlock()
	if maxAge > 0 {
		cutoff := db.opts.Now().Add(-maxAge)
		db.mu.RLock()
		var old []string
		for _, d := range db.sortedDays() {
			if !d.start.Add(24 * time.Hour).After(cutoff) {
				old = append(old, d.name)
			}
		}
		db.mu.RUnlock()
		for _, name := range old {
			if err := db.dropDay(name); err != nil {
				errs = append(errs, err)
				continue
			}
			dropped = append(dropped, name)
		}
	}
	if maxBytes > 0 {
		for ctx.Err() == nil {
			st, err := db.Stats(ctx)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if st.Bytes <= maxBytes || st.Partitions <= 1 {
				break
			}
			db.mu.RLock()
			oldest := db.sortedDays()[0].name
			db.mu.RUnlock()
			if err := db.dropDay(oldest); err != nil {
				errs = append(errs, err)
				break
			}
			dropped = append(dropped, oldest)
		}
	}
	return dropped, errors.Join(errs...)
}

// SetRetention changes the retention limits (0 = no limit) from the next
// retention run on, for example on a configuration reload.
func (db *DB) SetRetention(maxAge time.Duration, maxBytes int64) error {
	if maxAge < 0 || maxBytes < 0 {
		return fmt.Errorf("retention: negative limit: %w", store.ErrBadRequest)
	}
	db.retMu.Lock()
	db.opts.MaxAge, db.opts.MaxBytes = maxAge, maxBytes
	db.retMu.Unlock()
	return nil
}

// dropDay deletes a partition: it waits for searches reading it, closes its
// writers and removes its files.
func (db *DB) dropDay(name string) error {
	db.mu.Lock()
	d := db.days[name]
	delete(db.days, name)
	db.mu.Unlock()
	if d == nil {
		return nil
	}
	db.wmu.Lock()
	var ws []*writer
	for k, w := range db.writers {
		if k.day == name {
			delete(db.writers, k)
			ws = append(ws, w)
		}
	}
	db.wmu.Unlock()
	for _, w := range ws {
		db.closeWriter(w, false)
	}
	var errs []error
	for _, s := range d.segs {
		s.use.Lock()
		db.readers.drop(s.path)
		db.total.Add(-s.rows.Load())
		for _, p := range []string{s.path, s.path + "-wal", s.path + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		s.dropped = true
		s.use.Unlock()
	}
	// Fails harmlessly when a late event has started a new segment there.
	_ = os.Remove(filepath.Join(db.dir, "events", name))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dropping partition %s: %w", name, err)
	}
	return nil
}

// probeBytes is what Probe writes: more than an append needs to get going
// (a few 64 KiB pages of WAL).
const probeBytes = 1 << 20

// Probe reports whether the store can write again, without storing
// anything: it writes probeBytes to a temporary file beside the segments,
// syncs and removes it. Errors of a full disk wrap store.ErrDiskFull. The
// pipeline calls it while appends fail, so that readiness recovers when
// space is freed even if no event arrives to try.
func (db *DB) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(db.dir, "events"), ".probe-*")
	if err != nil {
		return diskFull(fmt.Errorf("probing the store: %w", err))
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return diskFull(fmt.Errorf("probing the store: %w", err))
	}
	return nil
}

// readerCache keeps read connections to segments, bounded, with reference
// counts so that eviction never closes a handle in use.
type readerCache struct {
	mu       sync.Mutex
	max      int
	cacheKiB int
	m        map[string]*reader
	clock    uint64
}

type reader struct {
	db    *sql.DB
	path  string
	refs  int
	used  uint64
	stale bool // evicted or dropped while in use: close on release
	// mapped: reads go through a memory map of up to mmapBytes.
	mapped bool
}

// mmapBytes bounds the memory map of a sealed segment's read connection.
// Reading a sealed (indexed, read-only) segment through a map is 10-25 %
// faster for large searches; a segment still being written is read
// without one, so that searching during heavy ingest does not map (and
// count in the resident set) the files being filled.
const mmapBytes = 1 << 30

func newReaderCache(max, cacheKiB int) *readerCache {
	return &readerCache{max: max, cacheKiB: cacheKiB, m: map[string]*reader{}}
}

// acquire returns a read handle of path; release it when done. mapped
// asks for memory-mapped reads (sealed segments, see dsn).
func (c *readerCache) acquire(path string, mapped bool) (*reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	if r, ok := c.m[path]; ok {
		if r.mapped == mapped {
			r.refs++
			r.used = c.clock
			return r, nil
		}
		// Sealed since it was opened: reopen with the other settings.
		delete(c.m, path)
		if r.refs == 0 {
			r.db.Close()
		} else {
			r.stale = true
		}
	}
	for len(c.m) >= c.max {
		var old *reader
		for _, r := range c.m {
			if old == nil || r.used < old.used {
				old = r
			}
		}
		delete(c.m, old.path)
		if old.refs == 0 {
			old.db.Close()
		} else {
			old.stale = true
		}
	}
	q := dsn(path, c.cacheKiB, segmentPageSize, true)
	if mapped {
		q += "&_pragma=mmap_size(" + strconv.Itoa(mmapBytes) + ")"
	}
	db, err := sql.Open("sqlite", q)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	r := &reader{db: db, path: path, refs: 1, used: c.clock, mapped: mapped}
	c.m[path] = r
	return r, nil
}

func (c *readerCache) release(r *reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.refs--
	if r.refs == 0 && r.stale {
		r.db.Close()
	}
}

// get returns a handle for a one-off use under the caller's own
// synchronization (loading at Open).
func (c *readerCache) get(path string) (*sql.DB, error) {
	r, err := c.acquire(path, false)
	if err != nil {
		return nil, err
	}
	c.release(r)
	return r.db, nil
}

func (c *readerCache) drop(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.m[path]; ok {
		delete(c.m, path)
		if r.refs == 0 {
			r.db.Close()
		} else {
			r.stale = true
		}
	}
}

func (c *readerCache) closeAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for p, r := range c.m {
		delete(c.m, p)
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}
