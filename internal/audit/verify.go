package audit

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrNoLog is returned by Verify when the database has no audit_log table.
var ErrNoLog = errors.New("no audit log in this database")

// ErrNotChained is returned by Verify when audit_log has no seq and hash
// columns yet: it was written by a version of Vigil before the chain, and
// the next start of the server adopts its entries.
var ErrNotChained = errors.New("audit log has no hash chain yet (written by an older version of Vigil; starting vigil serve once adopts its entries)")

// Break reasons.
const (
	BreakGap       = "gap"       // a seq is missing: an entry was deleted
	BreakPrev      = "prev"      // prev is not the previous entry's hash: entries were removed or reordered
	BreakHash      = "hash"      // the stored hash is not the hash of the entry: it was changed
	BreakUnchained = "unchained" // entries without a seq: written around the chain
	BreakAnchor    = "anchor"    // an entry's hash differs from, or the chain ends before, an anchor
)

// Anchor is an entry's seq and hash as an earlier Report gave them (its
// head), kept somewhere else. Verify checks that the chain still passes
// through it: the one thing the chain cannot show by itself is that its
// newest entries were dropped, or rewritten all the way to the end.
type Anchor struct {
	Seq  int64
	Hash string // hex
}

// ParseAnchor parses "SEQ:HASH".
func ParseAnchor(s string) (Anchor, error) {
	seq, h, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	var sum [32]byte
	if !ok || err != nil || n < 1 || !decodeHash(strings.ToLower(h), &sum) {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, a seq from 1 and a hex SHA-256", s)
	}
	return Anchor{Seq: n, Hash: strings.ToLower(h)}, nil
}

// Break is the first place where the chain does not hold.
type Break struct {
	// Seq is the first entry that does not verify; for a gap, the
	// missing seq.
	Seq     int64  `json:"seq"`
	Reason  string `json:"reason"` // one of the Break* constants
	Message string `json:"message"`
}

// Report is the outcome of Verify.
type Report struct {
	OK bool `json:"ok"`
	// Entries is how many entries verified, from seq 1: all of them when
	// OK, those before the break otherwise.
	Entries int64 `json:"entries"`
	// HeadSeq and HeadHash are the last verified entry's seq and hash.
	// Kept somewhere else (a ticket, a log shipped off the host), they
	// are an Anchor for later runs: the chain alone cannot tell a
	// truncated log from a shorter one.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash,omitempty"`
	Break    *Break `json:"break,omitempty"`
}

// Verify walks the chain; see the package function Verify.
func (l *Log) Verify(ctx context.Context, anchors ...Anchor) (Report, error) {
	return Verify(ctx, l.db, anchors...)
}

// Verify walks the audit log in db in seq order, recomputing every hash,
// and reports the first break: a missing seq, a prev that is not the
// previous entry's hash, a stored hash that does not match the entry, or
// entries without a seq; and, for each anchor, that the entry at its seq
// still has its hash. It streams the entries (memory does not grow with
// the log) and only reads, so it runs on a read-only connection and beside
// a running server; it holds no write lock, so appends go on meanwhile and
// the walk sees the chain as it was when it started.
func Verify(ctx context.Context, db *sql.DB, anchors ...Anchor) (Report, error) {
	cols, err := columns(ctx, db)
	if err != nil {
		return Report{}, err
	}
	switch {
	case len(cols) == 0:
		return Report{}, ErrNoLog
	case !cols["seq"] || !cols["prev"] || !cols["hash"]:
		return Report{}, ErrNotChained
	}
	anchors = slices.Clone(anchors)
	slices.SortFunc(anchors, func(a, b Anchor) int { return cmp.Compare(a.Seq, b.Seq) })
	rep, err := walk(ctx, db, anchors)
	if err != nil || rep.Break != nil {
		return rep, err
	}
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE seq IS NULL`).Scan(&n); err != nil {
		return rep, fmt.Errorf("verifying audit log: %w", err)
	}
	if n > 0 {
		rep.OK = false
		rep.Break = &Break{Seq: rep.HeadSeq + 1, Reason: BreakUnchained, Message: fmt.Sprintf(
			"%d entries have no seq: written around the chain, by a version of Vigil before it (the server adopts them at its next start) or directly into the database", n)}
	}
	return rep, nil
}

func walk(ctx context.Context, db *sql.DB, anchors []Anchor) (Report, error) {
	rows, err := db.QueryContext(ctx, `SELECT seq, id, time, actor, action, target, before, after, prev, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("verifying audit log: %w", err)
	}
	defer rows.Close()
	var (
		rep                          Report
		prev, stored, sprev          [32]byte // prev starts as the genesis hash: zero
		buf                          []byte
		id, actor, action, target    sql.RawBytes
		before, after, prevHex, hHex sql.RawBytes
		r                            row
	)
	stop := func(b Break) (Report, error) {
		if rep.HeadSeq > 0 {
			rep.HeadHash = hex.EncodeToString(prev[:])
		}
		rep.Break = &b
		return rep, nil
	}
	for rows.Next() {
		// RawBytes reuse one buffer per column from row to row: nothing
		// is kept from one entry to the next but the previous hash.
		if err := rows.Scan(&r.seq, &id, &r.time, &actor, &action, &target, &before, &after, &prevHex, &hHex); err != nil {
			return rep, fmt.Errorf("verifying audit log after seq %d: %w", rep.HeadSeq, err)
		}
		switch want := rep.HeadSeq + 1; {
		case r.seq > want:
			return stop(Break{Seq: want, Reason: BreakGap, Message: fmt.Sprintf(
				"seq %d: missing (the entry after seq %d is seq %d): entries were deleted", want, rep.HeadSeq, r.seq)})
		case r.seq < want:
			// Only a first seq below 1 gets here: the unique index and
			// the order of the walk rule out the rest.
			return stop(Break{Seq: r.seq, Reason: BreakGap, Message: fmt.Sprintf("seq %d: out of range: the chain starts at seq 1", r.seq)})
		}
		if !decodeHash(string(prevHex), &sprev) || sprev != prev {
			return stop(Break{Seq: r.seq, Reason: BreakPrev, Message: fmt.Sprintf(
				"seq %d: prev is %q, want the hash of seq %d, %s: entries before it were removed, reordered or rewritten",
				r.seq, prevHex, rep.HeadSeq, hex.EncodeToString(prev[:]))})
		}
		r.id, r.actor, r.action, r.target = string(id), string(actor), string(action), string(target)
		r.before, r.after = before, after
		var h [32]byte
		h, buf = r.hash(prev, buf)
		if !decodeHash(string(hHex), &stored) || stored != h {
			return stop(Break{Seq: r.seq, Reason: BreakHash, Message: fmt.Sprintf(
				"seq %d: stored hash %q is not the hash of the entry's content, %s: the entry (id %s, action %s) was changed",
				r.seq, hHex, hex.EncodeToString(h[:]), id, action)})
		}
		for len(anchors) > 0 && anchors[0].Seq == r.seq {
			if got := hex.EncodeToString(h[:]); got != anchors[0].Hash {
				return stop(Break{Seq: r.seq, Reason: BreakAnchor, Message: fmt.Sprintf(
					"seq %d: hash %s, but the anchor recorded %s: the log was rewritten from this entry or before it on",
					r.seq, got, anchors[0].Hash)})
			}
			anchors = anchors[1:]
		}
		prev = h
		rep.Entries++
		rep.HeadSeq = r.seq
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("verifying audit log after seq %d: %w", rep.HeadSeq, err)
	}
	if len(anchors) > 0 {
		return stop(Break{Seq: anchors[0].Seq, Reason: BreakAnchor, Message: fmt.Sprintf(
			"seq %d: missing, but the anchor recorded it with hash %s: the chain ends at seq %d, entries at its end were removed",
			anchors[0].Seq, anchors[0].Hash, rep.HeadSeq)})
	}
	rep.OK = true
	if rep.HeadSeq > 0 {
		rep.HeadHash = hex.EncodeToString(prev[:])
	}
	return rep, nil
}
