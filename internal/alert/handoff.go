package alert

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
// A journal record is a detection's alert (JSON, without its rendered
// event) and its event (event.AppendBinary):
//
//	uvarint(len(alert JSON)) | alert JSON | event binary (empty: no event)

// HandoffName is the journal's name in the alert_handoff table.
const HandoffName = "alerts"

// encodePending returns p's journal record.
func encodePending(p *pending) ([]byte, error) {
	a := p.a
	a.Event = nil
	js, err := json.Marshal(&a)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(js)+binary.MaxVarintLen32+512)
	b = binary.AppendUvarint(b, uint64(len(js)))
	b = append(b, js...)
	if p.ev != nil {
		b = event.AppendBinary(b, p.ev, p.ev.Timestamp())
	}
	return b, nil
}

// decodePending decodes a journal record.
func decodePending(b []byte) (*pending, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errors.New("journal record: bad alert length")
	}
	b = b[k:]
	p := &pending{}
	if err := json.Unmarshal(b[:n], &p.a); err != nil {
		return nil, fmt.Errorf("journal record: %w", err)
	}
	if p.a.ID == "" || p.a.RuleID == "" {
		return nil, errors.New("journal record: alert without id or rule")
	}
	if p.a.Entities == nil {
		p.a.Entities = map[string][]string{}
	}
	p.a.DedupKey = DedupKey(p.a.RuleID, p.a.Group, p.a.Entities)
	if rest := b[n:]; len(rest) > 0 {
		ev, err := event.DecodeBinary(rest)
		if err != nil {
			return nil, fmt.Errorf("journal record: %w", err)
		}
		p.ev = ev
	}
	return p, nil
}

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
	rec, err := encodePending(p)
	if err != nil {
		r.journalFailed(err)
	}
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
	if rec != nil {
		if seq, err := r.opts.Journal.Append(rec); err != nil {
			r.journalFailed(err)
		} else {
			p.seq = seq
		}
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
	if r.lastJournalLog.due(10 * time.Second) {
		r.log.Error("alert hand-off journal failed: detections are queued in memory only until it works again", "err", err, "not_durable_total", n)
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
