// Package sqlite is Vigil's embedded event store on SQLite (the pure-Go
// modernc.org/sqlite driver).
//
// Events are kept in daily partitions by event time: a directory per UTC
// day under DIR/events, holding segment files written by several writer
// shards in parallel. A segment stores one row per event (time, a few
// promoted ECS columns, a compact binary document of the whole event) and a
// table of blocks with each block's row and time range and a Bloom filter
// of its tokens and field values. Searches prune partitions by time, blocks
// by time and Bloom filter, and evaluate the query in SQL with bound
// parameters only; what SQL columns cannot answer exactly is answered by
// the query package's own evaluator, registered as an SQL function. When a
// segment is full or its day is over it is sealed: indexes for grouping are
// built then, off the ingest path. Retention drops whole days by age and by
// total size. See docs/storage.md.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

var _ store.Store = (*DB)(nil)

// Options configures a DB. The zero value is usable.
type Options struct {
	// Shards is the number of writer shards: a large Append is split over
	// that many segment files of a day, written in parallel. Default 2.
	Shards int
	// MaxWriters bounds the segments open for writing at once (least
	// recently used first out). Default 16.
	MaxWriters int
	// SegmentRows rolls a writer to a new segment after that many events.
	// Default 4,000,000.
	SegmentRows int64
	// BlockRows is the number of events per block (time range and Bloom
	// filter). Default 1024.
	BlockRows int
	// IndexFields are promoted fields indexed (with the time) when a
	// segment is sealed, which makes "stats ... by" and "timechart ... by"
	// on them fast. Each index costs about 2 µs of CPU per event when
	// sealing. Default source.ip, user.name and event.dataset.
	IndexFields []string
	// MaxAge drops days whose end is older than that. 0 keeps them.
	MaxAge time.Duration
	// MaxBytes drops the oldest days while the events take more bytes. 0
	// means no bound.
	MaxBytes int64
	// RetentionInterval is how often retention runs. Default one minute.
	RetentionInterval time.Duration
	// CacheKiB is SQLite's page cache per writer connection; read
	// connections get a quarter (the kernel's page cache does the rest).
	// Default 4 MiB: appends touch only the newest pages, and a larger
	// cache held ~50 MB more RSS for no measurable speed.
	CacheKiB int
	// Logger receives background errors (sealing, retention). Default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time; tests set it. Default time.Now.
	Now func() time.Time
	// Meta, when set, is the metadata database that Meta returns (a
	// migrated PostgreSQL one, vigil serve --postgres) instead of the data
	// directory's meta.db, which is then neither created nor opened. Once
	// Open has succeeded, the store closes it.
	Meta *sql.DB
}

func (o *Options) setDefaults() error {
	if o.Shards <= 0 {
		o.Shards = 2
	}
	if o.Shards > 64 {
		return fmt.Errorf("options: shards %d out of range 1..64: %w", o.Shards, store.ErrBadRequest)
	}
	if o.MaxWriters <= 0 {
		o.MaxWriters = 16
	}
	if o.MaxWriters < o.Shards {
		o.MaxWriters = o.Shards
	}
	if o.SegmentRows <= 0 {
		o.SegmentRows = 4_000_000
	}
	if o.BlockRows <= 0 {
		o.BlockRows = 1024
	}
	if o.IndexFields == nil {
		o.IndexFields = []string{event.FieldSourceIP, event.FieldUserName, event.FieldDataset}
	}
	for _, f := range o.IndexFields {
		if promotedIndex(f) < 0 {
			return fmt.Errorf("options: index field %q is not a promoted field: %w", f, store.ErrBadRequest)
		}
	}
	if o.MaxAge < 0 || o.MaxBytes < 0 {
		return fmt.Errorf("options: negative retention: %w", store.ErrBadRequest)
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Minute
	}
	if o.CacheKiB <= 0 {
		o.CacheKiB = 4 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// DB is the SQLite event store. It is safe for concurrent use.
type DB struct {
	dir  string
	opts Options
	meta *sql.DB

	// mu guards days and the segment lists.
	mu     sync.RWMutex
	days   map[string]*day
	closed bool

	rr      atomic.Uint64 // round robin over shards
	wmu     sync.Mutex    // guards writers and the LRU clock
	writers map[writerKey]*writer
	clock   uint64

	readers *readerCache
	retMu   sync.Mutex // guards opts.MaxAge and opts.MaxBytes

	sealCh chan *segment
	ckptCh chan *writer
	stop   chan struct{}
	wg     sync.WaitGroup
	total  atomic.Int64 // events stored
}

type writerKey struct {
	day   string
	shard int
}

// day is one partition.
type day struct {
	name  string    // 2006-01-02
	start time.Time // midnight UTC
	segs  []*segment
}

// segment is one SQLite file of a day.
type segment struct {
	path  string
	name  string // "<shard>-<seq>" for hit ids
	day   string
	shard int
	seq   int
	rows  atomic.Int64
	// sealed segments are indexed and no longer written.
	sealed atomic.Bool
	// sealing is set while the sealer works on the segment.
	sealing atomic.Bool
	// writing is set while a writer has the segment open, from its
	// creation until it is closed (which may be after it left the
	// writers map): a segment never has two writers.
	writing atomic.Bool
	// full is set when an append found no room for its batch: the
	// segment takes no more rows and is sealed.
	full atomic.Bool
	// use is held shared while a search reads the segment or a writer
	// writes it, and exclusively when retention deletes it.
	use sync.RWMutex
	// dropped is set under use.Lock when the files are gone.
	dropped bool
}

const dayLayout = "2006-01-02"

// Open opens (creating when needed) the store in dir.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "events"), 0o750); err != nil {
		return nil, fmt.Errorf("opening store %q: %w", dir, err)
	}
	db := &DB{
		dir:     dir,
		opts:    opts,
		days:    map[string]*day{},
		writers: map[writerKey]*writer{},
		readers: newReaderCache(64, max(opts.CacheKiB/4, 1024)),
		sealCh:  make(chan *segment, 1024),
		ckptCh:  make(chan *writer, 64),
		stop:    make(chan struct{}),
	}
	meta := opts.Meta
	if meta == nil {
		var err error
		if meta, err = OpenMeta(ctx, dir); err != nil {
			return nil, err
		}
	}
	db.meta = meta
	if err := db.load(ctx); err != nil {
		if opts.Meta == nil {
			meta.Close()
		}
		db.readers.closeAll()
		return nil, err
	}
	// Retention runs once before Open returns, then periodically.
	db.maintain()
	db.wg.Add(3)
	go db.sealLoop()
	go db.maintainLoop()
	go db.checkpointLoop()
	// Seal what an earlier run left unsealed from past days.
	today := db.opts.Now().UTC().Format(dayLayout)
	db.mu.RLock()
	for _, d := range db.days {
		for _, s := range d.segs {
			if !s.sealed.Load() && d.name < today {
				select {
				case db.sealCh <- s:
				default:
				}
			}
		}
	}
	db.mu.RUnlock()
	return db, nil
}

// Page sizes: event segments hold large encoded blocks read in runs, so
// they use SQLite's largest page; meta.db holds small rows updated at
// random (alerts, members, actions), where a 64 KiB page made every
// update read and rewrite 64 KiB (measured under the storm benchmark:
// page reads and WAL writes were most of the response path's CPU).
const (
	segmentPageSize = 65536
	metaPageSize    = 4096
)

// dsn is the connection string of a database file: WAL, synchronous NORMAL
// (a committed transaction survives a process crash), a busy timeout so that
// readers and the writer of one file wait for each other rather than fail.
// pageSize applies when the file is created (an existing file keeps its
// own).
func dsn(path string, cacheKiB, pageSize int, readOnly bool) string {
	q := []string{"_pragma=busy_timeout(10000)"}
	if readOnly {
		// Nothing that writes: the journal mode is in the file (a
		// reader on a full disk must not try to set it), and no memory
		// map unless the reader cache asks for one (sealed segments, see
		// mmapBytes).
		q = append(q, "_pragma=query_only(1)")
	} else {
		q = append(q, "_pragma=page_size("+strconv.Itoa(pageSize)+")", "_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)",
			"_pragma=journal_size_limit(67108864)")
	}
	q = append(q, "_pragma=temp_store(memory)", "_pragma=cache_size(-"+strconv.Itoa(cacheKiB)+")")
	return "file:" + path + "?" + strings.Join(q, "&")
}

// load scans the events directory.
func (db *DB) load(ctx context.Context) error {
	root := filepath.Join(db.dir, "events")
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("opening store %q: %w", db.dir, err)
	}
	for _, de := range ents {
		if !de.IsDir() {
			if strings.HasPrefix(de.Name(), ".probe-") {
				os.Remove(filepath.Join(root, de.Name())) // left by a crash during Probe
			}
			continue
		}
		t, err := time.Parse(dayLayout, de.Name())
		if err != nil {
			continue // not ours
		}
		d := &day{name: de.Name(), start: t}
		files, err := os.ReadDir(filepath.Join(root, de.Name()))
		if err != nil {
			return fmt.Errorf("opening store partition %q: %w", de.Name(), err)
		}
		for _, f := range files {
			shard, seq, ok := parseSegName(f.Name())
			if !ok {
				continue
			}
			s := &segment{
				path: filepath.Join(root, de.Name(), f.Name()),
				name: strings.TrimSuffix(f.Name(), ".db"), day: d.name, shard: shard, seq: seq,
			}
			if err := db.loadSegment(ctx, s); err != nil {
				return err
			}
			d.segs = append(d.segs, s)
			db.total.Add(s.rows.Load())
		}
		db.days[d.name] = d
	}
	return nil
}

func parseSegName(name string) (shard, seq int, ok bool) {
	base, found := strings.CutSuffix(name, ".db")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	shard, err1 := strconv.Atoi(a)
	seq, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || shard < 0 || seq < 0 {
		return 0, 0, false
	}
	return shard, seq, true
}

func (db *DB) loadSegment(ctx context.Context, s *segment) error {
	r, err := db.readers.get(s.path)
	if err != nil {
		return fmt.Errorf("opening segment %q: %w", s.path, err)
	}
	var maxID sql.NullInt64
	var version int
	if err := r.QueryRowContext(ctx, "SELECT max(id) FROM events").Scan(&maxID); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			// Created but never written (a crash right after creation).
			return nil
		}
		return fmt.Errorf("opening segment %q: %w", s.path, err)
	}
	if err := r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("opening segment %q: %w", s.path, err)
	}
	s.rows.Store(maxID.Int64)
	s.sealed.Store(version >= sealedVersion)
	return nil
}

// Meta returns the small metadata database (meta.db in the data
// directory, or Options.Meta) in which other packages keep their own
// tables: tokens, users, alerts, file offsets. meta.db uses WAL and a busy
// timeout. The store owns it: do not close it.
func (db *DB) Meta() *sql.DB { return db.meta }

// Dir returns the data directory.
func (db *DB) Dir() string { return db.dir }

// Close waits for background work, closes every file and releases the store.
// Committed events are durable whether or not Close runs.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	close(db.stop)
	db.wg.Wait()
	var errs []error
	db.wmu.Lock()
	ws := db.writers
	db.writers = map[writerKey]*writer{}
	db.wmu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		errs = append(errs, w.close())
		w.mu.Unlock()
	}
	errs = append(errs, db.readers.closeAll(), db.meta.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing store %q: %w", db.dir, err)
	}
	return nil
}

// Stats reports bytes on disk, partitions and events.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return store.Stats{}, store.ErrClosed
	}
	st := store.Stats{Partitions: len(db.days), Events: db.total.Load()}
	for _, d := range db.days {
		if st.Oldest.IsZero() || d.start.Before(st.Oldest) {
			st.Oldest = d.start
		}
		if d.start.After(st.Newest) {
			st.Newest = d.start
		}
		for _, s := range d.segs {
			st.Bytes += fileBytes(s.path)
		}
	}
	return st, nil
}

// fileBytes is the size of a database file with its WAL.
func fileBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// sortedDays returns the days, oldest first. Call with mu held.
func (db *DB) sortedDays() []*day {
	ds := make([]*day, 0, len(db.days))
	for _, d := range db.days {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].name < ds[j].name })
	return ds
}
