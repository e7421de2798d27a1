package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

// sealedVersion is the user_version of a sealed segment.
const sealedVersion = 1

// rowsPerInsert is the number of rows of one multi-row INSERT: one call
// into the driver per 64 events rather than per event.
const rowsPerInsert = 64

// colsPerRow are ts, cx, the promoted columns and doc. The id is not
// bound: SQLite assigns max(id)+1, which is the writer's nextID (the writer
// is the segment's only writer and rows are never deleted), and an append
// without an explicit rowid takes SQLite's append path instead of a B-tree
// search per row. insert checks the assigned ids.
const colsPerRow = 2 + nPromoted + 1

const schema = `
CREATE TABLE IF NOT EXISTS events(
	id   INTEGER PRIMARY KEY,
	ts   INTEGER NOT NULL,
	cx   INTEGER NOT NULL,
	host TEXT, sip TEXT, dip TEXT, usr TEXT, ds TEXT, act TEXT, outc TEXT, proc TEXT,
	doc  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks(
	id     INTEGER PRIMARY KEY,
	min_id INTEGER NOT NULL,
	max_id INTEGER NOT NULL,
	min_ts INTEGER NOT NULL,
	max_ts INTEGER NOT NULL,
	n      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blooms(
	id    INTEGER PRIMARY KEY,
	bloom BLOB NOT NULL
);`

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO events(ts,cx")
	for _, p := range promoted {
		b.WriteString(",")
		b.WriteString(p.col)
	}
	b.WriteString(",doc) VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", colsPerRow), ",") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

var (
	insertMany = insertSQL(rowsPerInsert)
	insertOne  = insertSQL(1)
)

// writer appends to one segment. Its mutex serializes appends.
type writer struct {
	mu     sync.Mutex
	db     *DB
	key    writerKey
	seg    *segment
	sqldb  *sql.DB
	conn   *sql.Conn
	many   *rawStmt
	one    *rawStmt
	blkIns *sql.Stmt
	blmIns *sql.Stmt
	closed atomic.Bool
	used   atomic.Uint64 // LRU clock value of the last use

	nextID int64
	blk    blockState

	ckpt      sync.Mutex  // held by a running checkpoint
	ckptDone  atomic.Bool // a background checkpoint finished
	sinceCkpt int64

	args []driver.NamedValue
	buf  []byte
	offs []int
	vals [nPromoted]string
	has  [nPromoted]bool
}

type blockState struct {
	id           int64
	minID, maxID int64
	minTS, maxTS int64
	n            int
	bloom        []byte
}

// Append stores evs durably. When it returns nil every event is committed
// to its day's partition and visible to searches. The events of one day
// are written in one transaction, into one segment: an Append whose events
// are of one day stores all of them or none, so that a caller told of a
// failure can send the same events again without duplicating any. An
// Append spanning days writes the days in parallel; if some fail and
// others commit, the error is a *store.PartialError listing the events not
// stored. Errors of a full disk wrap store.ErrDiskFull.
func (db *DB) Append(ctx context.Context, evs []*event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	now := db.opts.Now()
	// Group by UTC day, keeping order within a day.
	type group struct {
		day int64
		evs []*event.Event
	}
	var groups []group
	for _, ev := range evs {
		if ev == nil {
			continue
		}
		d := dayOf(eventTime(ev, now))
		found := false
		for i := range groups {
			if groups[i].day == d {
				groups[i].evs = append(groups[i].evs, ev)
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, group{day: d, evs: make([]*event.Event, 0, len(evs))})
			groups[len(groups)-1].evs = append(groups[len(groups)-1].evs, ev)
		}
	}
	dayName := func(d int64) string { return time.Unix(d*86400, 0).UTC().Format(dayLayout) }
	if len(groups) == 1 {
		if err := db.appendDay(ctx, dayName(groups[0].day), groups[0].evs, now); err != nil {
			return diskFull(fmt.Errorf("appending %d events: %w", len(groups[0].evs), err))
		}
		return nil
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { errs[i] = db.appendDay(ctx, dayName(g.day), g.evs, now) })
	}
	wg.Wait()
	var (
		unstored []*event.Event
		failed   []error
	)
	for i, err := range errs {
		if err != nil {
			unstored = append(unstored, groups[i].evs...)
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := diskFull(fmt.Errorf("appending %d events: %w", len(unstored), errors.Join(failed...)))
	if len(failed) < len(groups) {
		return &store.PartialError{Unstored: unstored, Err: err}
	}
	return err
}

// sqliteFull is SQLite's primary result code SQLITE_FULL.
const sqliteFull = 13

// diskFull wraps err with store.ErrDiskFull when it comes from a full disk
// or quota: SQLITE_FULL, ENOSPC or EDQUOT.
func diskFull(err error) error {
	if err == nil || errors.Is(err, store.ErrDiskFull) {
		return err
	}
	var coded interface{ Code() int }
	if (errors.As(err, &coded) && coded.Code()&0xff == sqliteFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrDiskFull, err)
	}
	return err
}

// eventTime is the time an event is stored under: its Timestamp, or now
// when it has none.
func eventTime(ev *event.Event, now time.Time) time.Time {
	t := ev.Timestamp()
	if t.IsZero() {
		t = now
	}
	return t
}

// Partition days are limited to years 0001..9999 so that their names
// format and parse; times outside land in the first or last day.
var (
	minDay = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	maxDay = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix() / 86400
)

// dayOf is the UTC day number (days since the Unix epoch) of t.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return min(max(d, minDay), maxDay)
}

// appendDay writes evs, all of one day, in one transaction of one shard's
// segment: the first shard (round robin) whose writer is free, so that
// concurrent appends fill the shards in parallel. A segment without room
// for all of evs is rolled first, so that evs never straddle two files; a
// batch larger than SegmentRows goes whole into a new segment, which then
// holds more than SegmentRows rows.
func (db *DB) appendDay(ctx context.Context, dayName string, evs []*event.Event, now time.Time) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, err := db.lockWriter(ctx, dayName)
		if err != nil {
			return err
		}
		if w.closed.Load() {
			w.mu.Unlock()
			continue // evicted meanwhile: take a fresh one
		}
		if rows := w.seg.rows.Load(); rows > 0 && rows+int64(len(evs)) > db.opts.SegmentRows {
			w.seg.full.Store(true)
			w.mu.Unlock()
			db.retire(w, true)
			continue
		}
		err = w.append(ctx, evs, now)
		full := w.seg.rows.Load() >= db.opts.SegmentRows
		if full {
			w.seg.full.Store(true)
		}
		w.mu.Unlock()
		if err != nil {
			// The writer's state may be out of step with the file: reopen
			// it from disk next time.
			db.retire(w, false)
			return err
		}
		if full {
			db.retire(w, true)
		}
		return nil
	}
}

// lockWriter returns a writer of the day with its mutex held: the first
// free one from the next shard in round robin, else (every shard busy)
// the next shard's, once it is free.
func (db *DB) lockWriter(ctx context.Context, dayName string) (*writer, error) {
	first := int(db.rr.Add(1) % uint64(db.opts.Shards))
	for i := range db.opts.Shards {
		w, err := db.writerFor(ctx, writerKey{day: dayName, shard: (first + i) % db.opts.Shards})
		if err != nil {
			return nil, err
		}
		if w.mu.TryLock() {
			return w, nil
		}
	}
	w, err := db.writerFor(ctx, writerKey{day: dayName, shard: first})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	return w, nil
}

// writerFor returns the open writer of key, opening it (and evicting the
// least recently used one) when needed.
func (db *DB) writerFor(ctx context.Context, key writerKey) (*writer, error) {
	db.wmu.Lock()
	db.clock++
	if w, ok := db.writers[key]; ok {
		w.used.Store(db.clock)
		db.wmu.Unlock()
		return w, nil
	}
	var evict []*writer
	for len(db.writers) >= db.opts.MaxWriters {
		var old *writer
		for _, w := range db.writers {
			if old == nil || w.used.Load() < old.used.Load() {
				old = w
			}
		}
		delete(db.writers, old.key)
		evict = append(evict, old)
	}
	w, err := db.openWriter(ctx, key)
	if err == nil {
		w.used.Store(db.clock)
		db.writers[key] = w
	}
	db.wmu.Unlock()
	today := db.opts.Now().UTC().Format(dayLayout)
	for _, old := range evict {
		db.closeWriter(old, old.key.day < today)
	}
	return w, err
}

// retire removes w from the open writers and closes it, sealing its
// segment when seal is set.
func (db *DB) retire(w *writer, seal bool) {
	db.wmu.Lock()
	if db.writers[w.key] == w {
		delete(db.writers, w.key)
	}
	db.wmu.Unlock()
	db.closeWriter(w, seal)
}

func (db *DB) closeWriter(w *writer, seal bool) {
	w.mu.Lock()
	err := w.close()
	w.mu.Unlock()
	if err != nil {
		db.opts.Logger.Error("closing segment writer", "segment", w.seg.path, "err", err)
	}
	if seal {
		select {
		case db.sealCh <- w.seg:
		default: // the sealer is behind; the maintenance pass will find it
		}
	}
}

// openWriter opens the newest unsealed, not full segment of key, or creates
// one. Call with wmu held.
func (db *DB) openWriter(ctx context.Context, key writerKey) (*writer, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, store.ErrClosed
	}
	d := db.days[key.day]
	if d == nil {
		start, err := time.Parse(dayLayout, key.day)
		if err != nil {
			return nil, fmt.Errorf("partition %q: %w", key.day, err)
		}
		d = &day{name: key.day, start: start}
		db.days[key.day] = d
	}
	var seg *segment
	maxSeq := -1
	for _, s := range d.segs {
		if s.shard != key.shard {
			continue
		}
		if s.seq > maxSeq {
			maxSeq = s.seq
			seg = s
		}
	}
	// Files of a day being dropped may still be on disk: never reuse a name.
	dirPath := filepath.Join(db.dir, "events", key.day)
	if ents, err := os.ReadDir(dirPath); err == nil {
		for _, e := range ents {
			if sh, sq, ok := parseSegName(e.Name()); ok && sh == key.shard && sq > maxSeq {
				maxSeq = sq
				seg = nil
			}
		}
	}
	created := false
	if seg == nil || seg.sealed.Load() || seg.sealing.Load() || seg.writing.Load() || seg.full.Load() || seg.rows.Load() >= db.opts.SegmentRows {
		if err := os.MkdirAll(dirPath, 0o750); err != nil {
			return nil, fmt.Errorf("creating partition %q: %w", dirPath, err)
		}
		name := strconv.Itoa(key.shard) + "-" + fmt.Sprintf("%06d", maxSeq+1)
		seg = &segment{
			path: filepath.Join(dirPath, name+".db"), name: name,
			day: key.day, shard: key.shard, seq: maxSeq + 1,
		}
		created = true
	}
	w, err := newWriter(ctx, db, key, seg)
	if err != nil {
		if created {
			// A segment that could not be set up (a full disk) is not
			// listed, and its files go: a search would otherwise open
			// a file without a schema, and fail on it.
			for _, p := range []string{seg.path, seg.path + "-wal", seg.path + "-shm", seg.path + "-journal"} {
				if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
					err = errors.Join(err, rerr)
				}
			}
		}
		return nil, err
	}
	if created {
		d.segs = append(d.segs, seg)
	}
	seg.writing.Store(true)
	return w, nil
}

// writerDSNHook, set by tests only, returns more of a segment writer's
// connection string: a test fills a segment (SQLITE_FULL) with
// "&_pragma=max_page_count(N)" instead of filling a disk.
var writerDSNHook func(path string) string

func newWriter(ctx context.Context, db *DB, key writerKey, seg *segment) (_ *writer, err error) {
	w := &writer{db: db, key: key, seg: seg}
	q := dsn(seg.path, db.opts.CacheKiB, segmentPageSize, false) + "&_pragma=wal_autocheckpoint(0)"
	if writerDSNHook != nil {
		q += writerDSNHook(seg.path)
	}
	w.sqldb, err = sql.Open("sqlite", q)
	if err != nil {
		return nil, fmt.Errorf("opening segment %q: %w", seg.path, err)
	}
	w.sqldb.SetMaxOpenConns(2)
	defer func() {
		if err != nil {
			w.sqldb.Close()
		}
	}()
	w.conn, err = w.sqldb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening segment %q: %w", seg.path, err)
	}
	if _, err = w.conn.ExecContext(ctx, schema); err != nil {
		w.conn.Close()
		return nil, fmt.Errorf("creating schema in %q: %w", seg.path, err)
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = w.conn.PrepareContext(ctx, q)
		return st
	}
	if err == nil {
		w.many, err = prepareRaw(ctx, w.conn, insertMany)
	}
	if err == nil {
		w.one, err = prepareRaw(ctx, w.conn, insertOne)
	}
	w.blkIns = prep("INSERT OR REPLACE INTO blocks(id,min_id,max_id,min_ts,max_ts,n) VALUES(?,?,?,?,?,?)")
	w.blmIns = prep("INSERT OR REPLACE INTO blooms(id,bloom) VALUES(?,?)")
	if err != nil {
		w.conn.Close()
		return nil, fmt.Errorf("preparing inserts in %q: %w", seg.path, err)
	}
	// Resume: the next id, and the last block if it has room.
	var maxID sql.NullInt64
	if err = w.conn.QueryRowContext(ctx, "SELECT max(id) FROM events").Scan(&maxID); err != nil {
		w.conn.Close()
		return nil, fmt.Errorf("reading segment %q: %w", seg.path, err)
	}
	w.nextID = maxID.Int64 + 1
	seg.rows.Store(maxID.Int64)
	var b blockState
	row := w.conn.QueryRowContext(ctx, "SELECT b.id,b.min_id,b.max_id,b.min_ts,b.max_ts,b.n,f.bloom FROM blocks b JOIN blooms f ON f.id = b.id ORDER BY b.id DESC LIMIT 1")
	switch err = row.Scan(&b.id, &b.minID, &b.maxID, &b.minTS, &b.maxTS, &b.n, &b.bloom); {
	case errors.Is(err, sql.ErrNoRows):
		err = nil
		w.blk = blockState{id: 1, bloom: make([]byte, bloomBytes)}
	case err != nil:
		w.conn.Close()
		return nil, fmt.Errorf("reading blocks of %q: %w", seg.path, err)
	case b.n >= db.opts.BlockRows || len(b.bloom) != bloomBytes || b.maxID != maxID.Int64:
		w.blk = blockState{id: b.id + 1, bloom: make([]byte, bloomBytes)}
	default:
		w.blk = b
	}
	return w, nil
}

// append writes evs in one transaction. Call with w.mu held.
func (w *writer) append(ctx context.Context, evs []*event.Event, now time.Time) (err error) {
	if w.ckptDone.Swap(false) {
		// The background checkpoint copied most of the WAL; copy the
		// frames appended meanwhile, so that the WAL is fully
		// checkpointed and the next transaction restarts it from the
		// beginning. Without this step a WAL under continuous appends is
		// never complete and grows without bound.
		if _, err := w.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			return fmt.Errorf("segment %q: checkpoint: %w", w.seg.path, err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("segment %q: begin: %w", w.seg.path, err)
	}
	saved := w.blk
	saved.bloom = append([]byte(nil), w.blk.bloom...)
	savedID := w.nextID
	defer func() {
		if err != nil {
			_, _ = w.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			w.blk, w.nextID = saved, savedID
		}
	}()
	for len(evs) > 0 {
		n := min(len(evs), rowsPerInsert)
		st := w.many
		if n < rowsPerInsert {
			n, st = 1, w.one
		}
		if err := w.insert(ctx, st, evs[:n], now); err != nil {
			return err
		}
		evs = evs[n:]
	}
	if w.blk.n > 0 {
		if err := w.flushBlock(ctx); err != nil {
			return err
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("segment %q: commit: %w", w.seg.path, err)
	}
	added := w.nextID - 1 - w.seg.rows.Load()
	w.seg.rows.Store(w.nextID - 1)
	w.db.total.Add(added)
	w.sinceCkpt += added
	if w.sinceCkpt >= checkpointRows {
		w.sinceCkpt = 0
		w.db.checkpointAsync(w)
	}
	return nil
}

// checkpointRows is how many appended rows trigger a background WAL
// checkpoint (the writer's connection never checkpoints itself, so that
// copying pages into the database file is off the append path).
const checkpointRows = 64 << 10

func (w *writer) insert(ctx context.Context, st *rawStmt, evs []*event.Event, now time.Time) error {
	w.args = w.args[:0]
	w.buf = w.buf[:0]
	w.offs = w.offs[:0]
	for _, ev := range evs {
		if w.blk.n >= w.db.opts.BlockRows {
			if err := w.flushBlock(ctx); err != nil {
				return err
			}
			w.blk = blockState{id: w.blk.id + 1, bloom: w.blk.bloom}
			clear(w.blk.bloom)
		}
		id := w.nextID
		w.nextID++
		t := eventTime(ev, now)
		ts := clampNanos(t)
		b := &w.blk
		if b.n == 0 {
			b.minID, b.minTS, b.maxTS = id, ts, ts
		}
		b.maxID = id
		b.minTS = min(b.minTS, ts)
		b.maxTS = max(b.maxTS, ts)
		b.n++
		bloomEvent(b.bloom, ev)
		cx := promote(ev, &w.vals, &w.has)
		w.args = append(w.args, arg(len(w.args), ts), arg(len(w.args)+1, cx))
		for j := range w.vals {
			var v driver.Value
			if w.has[j] {
				v = w.vals[j]
			}
			w.args = append(w.args, arg(len(w.args), v))
		}
		w.args = append(w.args, arg(len(w.args), nil)) // doc, set below
		w.offs = append(w.offs, len(w.buf))
		w.buf = appendDoc(w.buf, ev, t)
	}
	w.offs = append(w.offs, len(w.buf))
	for i := range evs {
		w.args[i*colsPerRow+colsPerRow-1].Value = w.buf[w.offs[i]:w.offs[i+1]:w.offs[i+1]]
	}
	last, err := st.exec(ctx, w.args)
	if err != nil {
		return fmt.Errorf("segment %q: insert: %w", w.seg.path, err)
	}
	if last != w.nextID-1 {
		return fmt.Errorf("segment %q: insert: rows got ids up to %d, want %d", w.seg.path, last, w.nextID-1)
	}
	return nil
}

func (w *writer) flushBlock(ctx context.Context) error {
	b := &w.blk
	if _, err := w.blkIns.ExecContext(ctx, b.id, b.minID, b.maxID, b.minTS, b.maxTS, b.n); err != nil {
		return fmt.Errorf("segment %q: block: %w", w.seg.path, err)
	}
	if _, err := w.blmIns.ExecContext(ctx, b.id, b.bloom); err != nil {
		return fmt.Errorf("segment %q: block filter: %w", w.seg.path, err)
	}
	return nil
}

// close releases the writer. Call with w.mu held.
func (w *writer) close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.ckpt.Lock()
	defer w.ckpt.Unlock()
	var errs []error
	errs = append(errs, w.many.close(), w.one.close())
	for _, st := range []*sql.Stmt{w.blkIns, w.blmIns} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, w.conn.Close(), w.sqldb.Close())
	w.seg.writing.Store(false)
	return errors.Join(errs...)
}

// checkpointAsync asks the maintenance goroutine to checkpoint w's WAL.
func (db *DB) checkpointAsync(w *writer) {
	select {
	case db.ckptCh <- w:
	default:
	}
}

func (db *DB) checkpointLoop() {
	defer db.wg.Done()
	for {
		select {
		case <-db.stop:
			return
		case w := <-db.ckptCh:
			w.ckpt.Lock()
			if !w.closed.Load() {
				if _, err := w.sqldb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					db.opts.Logger.Warn("checkpointing segment", "segment", w.seg.path, "err", err)
				} else {
					w.ckptDone.Store(true)
				}
			}
			w.ckpt.Unlock()
		}
	}
}

// arg is the i-th (0-based) bound parameter.
func arg(i int, v driver.Value) driver.NamedValue {
	return driver.NamedValue{Ordinal: i + 1, Value: v}
}

// rawStmt is a statement prepared on the driver connection itself.
// Executing it skips database/sql's conversion of every argument on every
// call (a 64-row insert binds 768 values), which cost a tenth of the
// append path in allocations and checks.
type rawStmt struct {
	conn *sql.Conn
	st   driver.Stmt
	ex   driver.StmtExecContext
}

func prepareRaw(ctx context.Context, conn *sql.Conn, q string) (*rawStmt, error) {
	r := &rawStmt{conn: conn}
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("the SQLite driver cannot prepare with a context")
		}
		st, err := pc.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			st.Close()
			return errors.New("the SQLite driver cannot execute with a context")
		}
		r.st, r.ex = st, ex
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// exec runs the statement and returns the last inserted rowid.
func (r *rawStmt) exec(ctx context.Context, args []driver.NamedValue) (last int64, err error) {
	err = r.conn.Raw(func(any) error {
		res, err := r.ex.ExecContext(ctx, args)
		if err != nil {
			return err
		}
		last, err = res.LastInsertId()
		return err
	})
	return last, err
}

// close closes the statement; call it before closing the connection.
func (r *rawStmt) close() error {
	if r == nil {
		return nil
	}
	return r.conn.Raw(func(any) error { return r.st.Close() })
}
