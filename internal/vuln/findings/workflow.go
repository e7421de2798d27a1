package findings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/ids"
)

// Acceptance statuses.
const (
	AcceptPending  = "pending"
	AcceptApproved = "approved"
	AcceptRejected = "rejected"
)

// Acceptance is a request to accept a finding's risk until a date, and
// what became of it.
type Acceptance struct {
	ID             string    `json:"id"`
	Finding        string    `json:"finding"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason"`
	Expires        time.Time `json:"expires"`
	RequestedBy    string    `json:"requested_by"`
	Requested      time.Time `json:"requested"`
	DecidedBy      string    `json:"decided_by,omitempty"`
	Decided        time.Time `json:"decided,omitzero"`
	DecisionReason string    `json:"decision_reason,omitempty"`
}

// checkReason checks a reason a person gave.
func checkReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(reason)
	if required && reason == "" {
		return "", fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if err := checkText("reason", reason, MaxReasonLen); err != nil {
		return "", err
	}
	return reason, nil
}

// head reads a finding's state and history position inside tx.
func head(ctx context.Context, tx *sql.Tx, id string) (state string, seq int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT state, history_seq FROM vuln_findings WHERE id = ?`, id).Scan(&state, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	return state, seq, err
}

// SetState changes a finding's state by hand: false_positive (with a
// reason) from an open state; open (triaged) from new; reopened from
// false_positive or risk_accepted. It returns the state before.
func (s *Service) SetState(ctx context.Context, id, to, actor, reason string) (string, error) {
	reason, err := checkReason(reason, to == StateFalsePositive)
	if err != nil {
		return "", err
	}
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	from, seq, err := head(ctx, tx, id)
	if err != nil {
		return "", err
	}
	ok := false
	switch to {
	case StateFalsePositive:
		ok = IsActive(from)
	case StateOpen:
		ok = from == StateNew
	case StateReopened:
		ok = from == StateFalsePositive || from == StateRiskAccepted
	default:
		return from, fmt.Errorf("%w: state %q: want false_positive, open or reopened", ErrInvalid, to)
	}
	if !ok {
		return from, fmt.Errorf("%w: cannot go from %s to %s", ErrConflict, from, to)
	}
	now := s.now()
	closed, storedReason := int64(0), ""
	if to == StateFalsePositive {
		closed, storedReason = now.UnixNano(), reason
	}
	// Reopened by hand is a new episode: alerted again once past due.
	alerted := "sla_alerted"
	if to == StateReopened {
		alerted = "0"
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET state = ?, closed = ?, reason = ?, accepted_until = 0,
		sla_alerted = `+alerted+`, history_seq = ? WHERE id = ?`,
		to, closed, storedReason, seq+1, id); err != nil {
		return from, err
	}
	if err := addHistory(ctx, tx, id, seq+1, now, actor, "state", from, to, reason); err != nil {
		return from, err
	}
	return from, tx.Commit()
}

// RequestAcceptance asks that the risk of an open finding be accepted
// until expires (in the future, at most MaxAcceptance away), for a
// reason. Another person approves or rejects it.
func (s *Service) RequestAcceptance(ctx context.Context, id, actor, reason string, expires time.Time) (Acceptance, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return Acceptance{}, err
	}
	now := s.now()
	if !expires.After(now) || expires.Sub(now) > MaxAcceptance {
		return Acceptance{}, fmt.Errorf("%w: expires must be in the future and at most 366 days away", ErrInvalid)
	}
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return Acceptance{}, err
	}
	defer done()
	state, seq, err := head(ctx, tx, id)
	if err != nil {
		return Acceptance{}, err
	}
	if !IsActive(state) {
		return Acceptance{}, fmt.Errorf("%w: a %s finding needs no risk acceptance", ErrConflict, state)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM vuln_acceptances WHERE finding = ? AND status = ?`, id, AcceptPending).Scan(&n); err != nil {
		return Acceptance{}, err
	}
	if n > 0 {
		return Acceptance{}, fmt.Errorf("%w: a risk acceptance is already pending", ErrConflict)
	}
	a := Acceptance{ID: ids.New(), Finding: id, Status: AcceptPending, Reason: reason, Expires: expires.UTC(), RequestedBy: actor, Requested: now}
	if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_acceptances (id, finding, status, reason, expires, requested_by, requested,
		decided_by, decided, decision_reason) VALUES (?, ?, ?, ?, ?, ?, ?, '', 0, '')`,
		a.ID, id, a.Status, reason, a.Expires.UnixNano(), actor, now.UnixNano()); err != nil {
		return Acceptance{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET history_seq = ? WHERE id = ?`, seq+1, id); err != nil {
		return Acceptance{}, err
	}
	if err := addHistory(ctx, tx, id, seq+1, now, actor, "acceptance_requested", state, state,
		reason+" (until "+a.Expires.Format(time.DateOnly)+")"); err != nil {
		return Acceptance{}, err
	}
	return a, tx.Commit()
}

// DecideAcceptance approves or rejects a finding's pending risk
// acceptance. The decider may not be the requester. Approval moves the
// finding to risk_accepted until the acceptance expires.
func (s *Service) DecideAcceptance(ctx context.Context, id, actor string, approve bool, reason string) (Acceptance, error) {
	reason, err := checkReason(reason, false)
	if err != nil {
		return Acceptance{}, err
	}
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return Acceptance{}, err
	}
	defer done()
	state, seq, err := head(ctx, tx, id)
	if err != nil {
		return Acceptance{}, err
	}
	var a Acceptance
	var expires, requested int64
	err = tx.QueryRowContext(ctx, `SELECT id, reason, expires, requested_by, requested FROM vuln_acceptances
		WHERE finding = ? AND status = ?`, id, AcceptPending).Scan(&a.ID, &a.Reason, &expires, &a.RequestedBy, &requested)
	if errors.Is(err, sql.ErrNoRows) {
		return Acceptance{}, fmt.Errorf("%w: no risk acceptance is pending", ErrConflict)
	}
	if err != nil {
		return Acceptance{}, err
	}
	a.Finding, a.Expires, a.Requested = id, time.Unix(0, expires).UTC(), time.Unix(0, requested).UTC()
	if a.RequestedBy == actor {
		return Acceptance{}, ErrSamePerson
	}
	now := s.now()
	a.Status, a.DecidedBy, a.Decided, a.DecisionReason = AcceptRejected, actor, now, reason
	to, action := state, "acceptance_rejected"
	if approve {
		if !IsActive(state) {
			return Acceptance{}, fmt.Errorf("%w: the finding is %s now", ErrConflict, state)
		}
		if !a.Expires.After(now) {
			return Acceptance{}, fmt.Errorf("%w: the requested expiry has passed", ErrConflict)
		}
		a.Status, to, action = AcceptApproved, StateRiskAccepted, "acceptance_approved"
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vuln_acceptances SET status = ?, decided_by = ?, decided = ?, decision_reason = ?
		WHERE id = ?`, a.Status, actor, now.UnixNano(), reason, a.ID); err != nil {
		return Acceptance{}, err
	}
	if approve {
		_, err = tx.ExecContext(ctx, `UPDATE vuln_findings SET state = ?, closed = ?, reason = ?, accepted_until = ?, history_seq = ?
			WHERE id = ?`, to, now.UnixNano(), a.Reason, expires, seq+1, id)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE vuln_findings SET history_seq = ? WHERE id = ?`, seq+1, id)
	}
	if err != nil {
		return Acceptance{}, err
	}
	hist := "requested by " + a.RequestedBy + ": " + a.Reason + " (until " + a.Expires.Format(time.DateOnly) + ")"
	if reason != "" {
		hist += "; " + reason
	}
	if err := addHistory(ctx, tx, id, seq+1, now, actor, action, state, to, hist); err != nil {
		return Acceptance{}, err
	}
	return a, tx.Commit()
}

// ExpireAcceptances reopens the risk-accepted findings whose acceptance
// has lapsed and returns how many.
func (s *Service) ExpireAcceptances(ctx context.Context) (int, error) {
	now := s.now()
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	rows, err := tx.QueryContext(ctx, `SELECT id, history_seq, accepted_until FROM vuln_findings WHERE state = ? AND accepted_until <= ?`,
		StateRiskAccepted, now.UnixNano())
	if err != nil {
		return 0, err
	}
	type lapsed struct {
		id       string
		seq, end int64
	}
	var ls []lapsed
	for rows.Next() {
		var l lapsed
		if err := rows.Scan(&l.id, &l.seq, &l.end); err != nil {
			rows.Close()
			return 0, err
		}
		ls = append(ls, l)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for _, l := range ls {
		if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET state = ?, closed = 0, accepted_until = 0, sla_alerted = 0,
			history_seq = ? WHERE id = ?`, StateReopened, l.seq+1, l.id); err != nil {
			return 0, err
		}
		if err := addHistory(ctx, tx, l.id, l.seq+1, now, "vigil:expiry", "acceptance_expired", StateRiskAccepted, StateReopened,
			"risk acceptance lapsed on "+time.Unix(0, l.end).UTC().Format(time.RFC3339)); err != nil {
			return 0, err
		}
	}
	return len(ls), tx.Commit()
}
