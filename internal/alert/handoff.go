package alert

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/entity"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/journal"
)

// The durable hand-off. Detection runs in the pipeline's workers and must
// never wait for the alert writer, so detections cross a bounded queue in
// memory; with Options.Journal each one is also appended to a journal on
// disk before it is queued, and the pipeline syncs the journal before it
// stores the events (SyncDetections). The writer commits, in the same
// transaction as the alerts, the number of the last journal record they
// contain (table alert_handoff), then releases the journal up to it. So a
// crash at any point leaves every detection of a stored event either
// committed or in the journal after the committed number, and
// ReplayJournal at the next start commits those: exactly once, since the
// committed number moves with the alerts.
//
// A journal record is a detection's alert (without its rendered event)
// and its event (event.AppendBinary), in a binary form that costs no
// reflection (the alert path writes one per detection under a wave):
//
//	version(1)=1 | id | rule id | rule title | level | uvarint n, n tags |
//	varint count | first seen | last seen | uvarint kinds, each: kind,
//	uvarint n, n values | uvarint n, n (key, value) group pairs |
//	incident id | status | campaign(1) | varint entity count | event binary
//	(to the end; empty: no event)
//
// where a string is uvarint length + bytes and a time is varint Unix
// seconds + uvarint nanoseconds.

// HandoffName is the journal's name in the alert_handoff table.
const HandoffName = "alerts"

const recordVersion = 1

// errBadRecord reports a journal record that does not decode.
var errBadRecord = errors.New("bad journal record")

// appendPending appends p's journal record to b.
func appendPending(b []byte, p *pending) []byte {
	a := &p.a
	b = append(b, recordVersion)
	for _, s := range []string{a.ID, a.RuleID, a.RuleTitle, a.Level} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(a.Tags)))
	for _, t := range a.Tags {
		b = appendStr(b, t)
	}
	b = binary.AppendVarint(b, a.Count)
	b = appendTime(b, a.FirstSeen)
	b = appendTime(b, a.LastSeen)
	b = binary.AppendUvarint(b, uint64(len(a.Entities)))
	for kind, vs := range a.Entities {
		b = appendStr(b, kind)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendStr(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(a.Group)))
	for k, v := range a.Group {
		b = appendStr(b, k)
		b = appendStr(b, v)
	}
	b = appendStr(b, a.IncidentID)
	b = appendStr(b, a.Status)
	campaign := byte(0)
	if a.Campaign {
		campaign = 1
	}
	b = append(b, campaign)
	b = binary.AppendVarint(b, a.EntityCount)
	if p.ev != nil {
		b = event.AppendBinary(b, p.ev, p.ev.Timestamp())
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// recordReader reads a journal record; its first error sticks.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail() {
	if r.err == nil {
		r.err = errBadRecord
	}
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that take at least a byte each.
func (r *recordReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *recordReader) str() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *recordReader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *recordReader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// decodePending decodes a journal record.
func decodePending(b []byte) (*pending, error) {
	r := &recordReader{b: b}
	if v := r.byte1(); r.err == nil && v != recordVersion {
		return nil, fmt.Errorf("journal record version %d: %w", v, errBadRecord)
	}
	p := &pending{}
	a := &p.a
	a.ID, a.RuleID, a.RuleTitle, a.Level = r.str(), r.str(), r.str(), r.str()
	if n := r.count(); n > 0 {
		a.Tags = make([]string, 0, n)
		for range n {
			a.Tags = append(a.Tags, r.str())
		}
	}
	a.Count = r.varint()
	a.FirstSeen, a.LastSeen = r.time(), r.time()
	a.Entities = entity.Entities{}
	for range r.count() {
		kind := r.str()
		n := r.count()
		vs := make([]string, 0, n)
		for range n {
			vs = append(vs, r.str())
		}
		if r.err == nil {
			a.Entities[kind] = vs
		}
	}
	if n := r.count(); n > 0 {
		a.Group = make(map[string]string, n)
		for range n {
			k, v := r.str(), r.str()
			a.Group[k] = v
		}
	}
	a.IncidentID, a.Status = r.str(), r.str()
	a.Campaign = r.byte1() == 1
	a.EntityCount = r.varint()
	if r.err != nil {
		return nil, r.err
	}
	if a.ID == "" || a.RuleID == "" {
		return nil, fmt.Errorf("alert without id or rule: %w", errBadRecord)
	}
	a.DedupKey = DedupKey(a.RuleID, a.Group, a.Entities)
	if len(r.b) > 0 {
		ev, err := event.DecodeBinary(r.b)
		if err != nil {
			return nil, fmt.Errorf("journal record: %w", err)
		}
		p.ev = ev
	}
	return p, nil
}

// recordBufs recycles the buffers records are encoded into (the journal
// copies a record as it appends it).
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// queue hands p to the writer: through the journal when there is one
// (see the top of this file), else in memory only. Past the queue's bound
// p is shed and counted.
func (r *Recorder) queue(p *pending) {
	if r.opts.Journal == nil {
		select {
		case r.ch <- p:
		default:
			r.shedOne(p.a.RuleID)
		}
		return
	}
	buf := recordBufs.Get().(*[]byte)
	rec := appendPending((*buf)[:0], p)
	defer func() {
		if cap(rec) <= 64<<10 {
			*buf = rec[:0]
			recordBufs.Put(buf)
		}
	}()
	// Under handoffMu a record's number and its place in the queue agree
	// (the writer commits the highest number of a batch as "all before
	// it are done"), and only the writer takes from the queue, so a free
	// slot seen here stays free until the send.
	r.handoffMu.Lock()
	defer r.handoffMu.Unlock()
	if len(r.ch) == cap(r.ch) {
		r.shedOne(p.a.RuleID)
		return
	}
	if seq, err := r.opts.Journal.Append(rec); err != nil {
		r.journalFailed(err)
	} else {
		p.seq = seq
	}
	r.ch <- p
}

// journalFailed counts a detection queued without its journal record (in
// memory only: a crash before it is committed loses it), and says so in
// the log at most every ten seconds.
func (r *Recorder) journalFailed(err error) {
	n := r.journalErrs.Add(1)
	if r.opts.OnJournalError != nil {
		r.opts.OnJournalError()
	}
	if r.lastJournalLog.Due(10 * time.Second) {
		r.log.Error("alert hand-off journal failed: from now until the next start, detections are queued in memory only (a crash loses those not yet committed)", "err", err, "not_durable_total", n)
	}
}

// SyncDetections makes every detection handed over so far durable (the
// pipeline calls it before it stores a batch of events). Without a
// journal it does nothing.
func (r *Recorder) SyncDetections() error {
	j := r.opts.Journal
	if j == nil || !j.Pending() {
		return nil
	}
	if err := j.Sync(); err != nil {
		r.journalFailed(err)
		return err
	}
	return nil
}

// handoffCommitted returns the number of the last journal record whose
// detection is committed.
func handoffCommitted(ctx context.Context, db *sql.DB) (uint64, error) {
	var seq int64
	err := db.QueryRowContext(ctx, `SELECT seq FROM alert_handoff WHERE journal = ?`, HandoffName).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the alert hand-off position: %w", err)
	}
	return uint64(seq), nil
}

// saveHandoff records, in the batch's transaction, the last journal
// record the batch holds.
func saveHandoff(ctx context.Context, tx *sql.Tx, seq uint64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_handoff (journal, seq) VALUES (?, ?)
		ON CONFLICT (journal) DO UPDATE SET seq = excluded.seq`, HandoffName, int64(seq))
	return err
}

// ReplayJournal queues the detections the journal holds past the last
// committed one (a crash or a failed shutdown left them), and returns how
// many. The server calls it once its hooks are in place (so replayed
// detections open incidents and run playbooks like any other) and before
// the pipeline starts. A damaged journal segment is logged; its records
// before the damage are replayed.
func (r *Recorder) ReplayJournal(ctx context.Context) (int, error) {
	j := r.opts.Journal
	if j == nil {
		return 0, nil
	}
	after, err := handoffCommitted(ctx, r.store.db)
	if err != nil {
		return 0, err
	}
	n := 0
	err = j.Replay(after, func(seq uint64, rec []byte) error {
		p, err := decodePending(rec)
		if err != nil {
			r.log.Error("alert hand-off journal: a record does not decode; skipped", "seq", seq, "err", err)
			return nil
		}
		p.seq = seq
		n++
		select {
		case r.ch <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if errors.Is(err, journal.ErrCorrupt) {
		r.log.Warn("alert hand-off journal: a segment ends in damage (a crash during a write loses only detections of events not yet stored)", "err", err)
		err = nil
	}
	if err := j.Release(after); err != nil {
		r.log.Warn("alert hand-off journal: removing committed segments", "err", err)
	}
	return n, err
}

// JournalErrors returns how many detections were queued without their
// journal record since start.
func (r *Recorder) JournalErrors() int64 { return r.journalErrs.Load() }
