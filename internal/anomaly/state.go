package anomaly

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// The state is persisted in the metadata database (migration 9):
// anomaly_rules holds when each rule started watching, anomaly_state one
// row per rule and entity with the entity's baseline in a compact binary
// form (value hashes, hour-of-week sums, the last login's place). Rows are
// written in batches (Flush), changed and evicted entities only, and read
// back at start (Load), the most recently seen first, up to MaxEntities
// per rule.

// flushBatch bounds the rows one write transaction holds, so that a large
// flush does not keep the metadata database's writer lock for long.
const flushBatch = 1000

// stateVersion is the first byte of every encoded entity.
const stateVersion = 1

// errState is a persisted entity that does not decode.
var errState = errors.New("malformed anomaly state")

// Load reads the persisted state of the engine's rules from db. Rows of
// rules the engine does not have, or whose definition changed, are left
// alone (and removed by Prune).
func (e *Engine) Load(ctx context.Context, db *sql.DB) error {
	for _, rs := range e.current() {
		if err := e.loadRule(ctx, db, rs); err != nil {
			return fmt.Errorf("loading anomaly state of rule %q: %w", rs.r.ID, err)
		}
	}
	return nil
}

func (e *Engine) loadRule(ctx context.Context, db *sql.DB, rs *ruleState) error {
	var started int64
	err := db.QueryRowContext(ctx, `SELECT started FROM anomaly_rules WHERE rule = ?`, rs.key).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT entity, updated, state FROM anomaly_state WHERE rule = ? ORDER BY updated DESC LIMIT ?`,
		rs.key, e.opts.MaxEntities)
	if err != nil {
		return err
	}
	defer rows.Close()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.started = started
	for rows.Next() {
		var key, updated int64
		var b []byte
		if err := rows.Scan(&key, &updated, &b); err != nil {
			return err
		}
		en, err := decodeEntity(b, rs.r.Anomaly.Kind)
		if err != nil {
			// One damaged row costs that entity's baseline, not the
			// rule's.
			continue
		}
		en.key, en.seen, en.persisted = uint64(key), updated, true
		if _, dup := rs.entities[en.key]; dup {
			continue
		}
		rs.entities[en.key] = en
		// Rows come newest first: each goes behind the ones before.
		en.next, en.prev = &rs.lru, rs.lru.prev
		rs.lru.prev.next = en
		rs.lru.prev = en
	}
	return rows.Err()
}

type stateRow struct {
	rule   string
	key    uint64
	seen   int64
	state  []byte // nil: delete
	ruleSt int64  // rule rows: started
}

// Flush writes what changed since the last flush to db: the baselines of
// the entities that saw events, and the removal of those evicted. What
// fails to be written is written at the next flush.
func (e *Engine) Flush(ctx context.Context, db *sql.DB) error {
	var rows []stateRow
	var ruleRows []stateRow
	type taken struct {
		rs   *ruleState
		keys []uint64
		meta bool
	}
	var took []taken
	for _, rs := range e.current() {
		rs.mu.Lock()
		tk := taken{rs: rs, meta: rs.metaDirt}
		if rs.metaDirt {
			ruleRows = append(ruleRows, stateRow{rule: rs.key, ruleSt: rs.started})
			rs.metaDirt = false
		}
		for k := range rs.dirty {
			r := stateRow{rule: rs.key, key: k}
			if en, ok := rs.entities[k]; ok {
				r.seen, r.state = en.seen, encodeEntity(en, rs.r.Anomaly.Kind)
				en.persisted = true
			}
			rows = append(rows, r)
			tk.keys = append(tk.keys, k)
		}
		clear(rs.dirty)
		rs.mu.Unlock()
		took = append(took, tk)
	}
	err := writeRows(ctx, db, ruleRows, rows)
	if err != nil {
		// Mark everything taken dirty again, so the next flush retries.
		for _, tk := range took {
			tk.rs.mu.Lock()
			tk.rs.metaDirt = tk.rs.metaDirt || tk.meta
			for _, k := range tk.keys {
				tk.rs.dirty[k] = struct{}{}
			}
			tk.rs.mu.Unlock()
		}
		return fmt.Errorf("writing anomaly state: %w", err)
	}
	return nil
}

func writeRows(ctx context.Context, db *sql.DB, ruleRows, rows []stateRow) error {
	if len(ruleRows) > 0 {
		if err := inTx(ctx, db, func(tx *sql.Tx) error {
			for _, r := range ruleRows {
				if _, err := tx.ExecContext(ctx, `INSERT INTO anomaly_rules (rule, started) VALUES (?, ?)
					ON CONFLICT (rule) DO UPDATE SET started = excluded.started`, r.rule, r.ruleSt); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), flushBatch)
		batch := rows[:n]
		rows = rows[n:]
		if err := inTx(ctx, db, func(tx *sql.Tx) error { return writeBatch(ctx, tx, batch) }); err != nil {
			return err
		}
	}
	return nil
}

// rowsPerStatement bounds the rows of one INSERT or DELETE (4 parameters
// a row: far under SQLite's and PostgreSQL's limits), so that a flush
// costs a few round trips per thousand rows instead of one a row.
const rowsPerStatement = 250

// writeBatch upserts the rows that have a state and deletes the others.
func writeBatch(ctx context.Context, tx *sql.Tx, batch []stateRow) error {
	var ups []stateRow
	dels := map[string][]any{}
	for _, r := range batch {
		if r.state == nil {
			dels[r.rule] = append(dels[r.rule], int64(r.key))
		} else {
			ups = append(ups, r)
		}
	}
	for len(ups) > 0 {
		n := min(len(ups), rowsPerStatement)
		var q strings.Builder
		q.WriteString(`INSERT INTO anomaly_state (rule, entity, updated, state) VALUES `)
		args := make([]any, 0, 4*n)
		for i, r := range ups[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?)")
			args = append(args, r.rule, int64(r.key), r.seen, r.state)
		}
		q.WriteString(` ON CONFLICT (rule, entity) DO UPDATE SET updated = excluded.updated, state = excluded.state`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		ups = ups[n:]
	}
	for rule, keys := range dels {
		for len(keys) > 0 {
			n := min(len(keys), rowsPerStatement)
			q := `DELETE FROM anomaly_state WHERE rule = ? AND entity IN (?` + strings.Repeat(", ?", n-1) + `)`
			if _, err := tx.ExecContext(ctx, q, append([]any{rule}, keys[:n]...)...); err != nil {
				return err
			}
			keys = keys[n:]
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Prune removes the persisted state of rules the engine does not have
// (deleted rules, or rules whose definition changed).
func (e *Engine) Prune(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT rule FROM anomaly_rules`)
	if err != nil {
		return fmt.Errorf("listing anomaly rules: %w", err)
	}
	var stale []string
	keep := map[string]bool{}
	for _, rs := range e.current() {
		keep[rs.key] = true
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("listing anomaly rules: %w", err)
		}
		if !keep[k] {
			stale = append(stale, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing anomaly rules: %w", err)
	}
	for _, k := range stale {
		if err := inTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM anomaly_state WHERE rule = ?`, k); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM anomaly_rules WHERE rule = ?`, k)
			return err
		}); err != nil {
			return fmt.Errorf("removing the anomaly state of %q: %w", k, err)
		}
	}
	return nil
}

// Persister flushes an engine's state every interval until closed, and
// once more at Close.
type Persister struct {
	e    *Engine
	db   *sql.DB
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// flushed, when set, is called after each periodic flush (tests).
	flushed func(error)
}

// Persist loads e's state from db, removes the state of rules e does not
// have, and starts flushing every interval.
func Persist(ctx context.Context, e *Engine, db *sql.DB, interval time.Duration, log *slog.Logger) (*Persister, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("anomaly flush interval %s: must be positive", interval)
	}
	if err := e.Load(ctx, db); err != nil {
		return nil, err
	}
	if err := e.Prune(ctx, db); err != nil {
		return nil, err
	}
	p := &Persister{e: e, db: db, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(interval)
	return p, nil
}

func (p *Persister) run(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err := p.e.Flush(ctx, p.db)
			cancel()
			if err != nil {
				p.log.Error("anomaly state not saved; retried at the next flush", "err", err)
			}
			if p.flushed != nil {
				p.flushed(err)
			}
		}
	}
}

// Engine returns the engine the persister writes.
func (p *Persister) Engine() *Engine { return p.e }

// Close stops the periodic flushes and writes what is left (call it once
// the pipeline has drained, so that the last events' baselines are kept).
func (p *Persister) Close(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.e.Flush(ctx, p.db)
}

// encodeEntity is the compact binary form of an entity's baseline.
func encodeEntity(en *entity, kind string) []byte {
	b := make([]byte, 0, 16+8*len(en.values)+20*len(en.rare))
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, en.first)
	switch kind {
	case KindSpike:
		s := en.spike
		if s == nil {
			s = &spikeBase{}
		}
		b = append(b, 's')
		b = binary.AppendVarint(b, s.firstHour)
		b = binary.AppendVarint(b, s.hour)
		b = binary.AppendUvarint(b, uint64(s.count))
		if s.alerted {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(s.buckets)))
		for _, h := range s.buckets {
			b = append(b, h.how)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(h.sum))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(h.sq))
		}
	case KindImpossibleTravel:
		p := en.travel
		if p == nil {
			p = &place{}
		}
		b = append(b, 't')
		b = binary.AppendVarint(b, p.t)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.lat))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.lon))
	case KindRare:
		b = append(b, 'r')
		b = binary.AppendUvarint(b, uint64(len(en.rare)))
		for _, v := range en.rare {
			b = binary.LittleEndian.AppendUint64(b, v.h)
			b = binary.AppendUvarint(b, uint64(v.epoch))
			b = binary.AppendUvarint(b, uint64(v.cur))
			b = binary.AppendUvarint(b, uint64(v.prev))
			b = binary.AppendUvarint(b, uint64(v.alerted))
		}
	default:
		b = append(b, 'f')
		b = binary.AppendUvarint(b, uint64(len(en.values)))
		for _, v := range en.values {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return b
}

type stateReader struct {
	b   []byte
	err bool
}

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) uvarint(limit uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) byte1() byte {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) u32() uint32 {
	if len(r.b) < 4 {
		r.err = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *stateReader) u64() uint64 {
	if len(r.b) < 8 {
		r.err = true
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// decodeEntity reads encodeEntity's form, checking that it is the kind
// the rule keeps.
func decodeEntity(b []byte, kind string) (*entity, error) {
	r := &stateReader{b: b}
	if r.byte1() != stateVersion {
		return nil, errState
	}
	en := &entity{first: r.varint()}
	tag := r.byte1()
	want := map[string]byte{KindFirstSeen: 'f', KindRare: 'r', KindSpike: 's', KindImpossibleTravel: 't'}[kind]
	if tag != want {
		return nil, errState
	}
	switch tag {
	case 'f':
		n := r.uvarint(uint64(len(r.b) / 8))
		en.values = make([]uint64, 0, n)
		for range n {
			v := r.u64()
			if len(en.values) > 0 && v <= en.values[len(en.values)-1] {
				return nil, errState // sorted, unique: binary search needs it
			}
			en.values = append(en.values, v)
		}
	case 'r':
		n := r.uvarint(uint64(len(r.b) / 12))
		en.rare = make([]rareVal, 0, n)
		for range n {
			v := rareVal{h: r.u64(), epoch: uint32(r.uvarint(math.MaxUint32)), cur: uint32(r.uvarint(math.MaxUint32)),
				prev: uint32(r.uvarint(math.MaxUint32)), alerted: uint32(r.uvarint(math.MaxUint32))}
			if len(en.rare) > 0 && v.h <= en.rare[len(en.rare)-1].h {
				return nil, errState
			}
			en.rare = append(en.rare, v)
		}
	case 's':
		s := &spikeBase{firstHour: r.varint(), hour: r.varint(), count: uint32(r.uvarint(math.MaxUint32))}
		s.alerted = r.byte1() == 1
		n := r.uvarint(hoursPerWeek)
		for range n {
			h := hourBucket{how: r.byte1(), sum: math.Float32frombits(r.u32()), sq: math.Float32frombits(r.u32())}
			if h.how >= hoursPerWeek || (len(s.buckets) > 0 && h.how <= s.buckets[len(s.buckets)-1].how) {
				return nil, errState
			}
			s.buckets = append(s.buckets, h)
		}
		if s.hour < s.firstHour {
			return nil, errState
		}
		en.spike = s
	case 't':
		p := &place{t: r.varint(), lat: math.Float32frombits(r.u32()), lon: math.Float32frombits(r.u32())}
		if !(math.Abs(float64(p.lat)) <= 90 && math.Abs(float64(p.lon)) <= 180) {
			return nil, errState
		}
		en.travel = p
	}
	if r.err || len(r.b) != 0 {
		return nil, errState
	}
	return en, nil
}
