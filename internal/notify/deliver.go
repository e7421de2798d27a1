package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/ids"
)

// Outbox row modes: a single row is sent on its own; an overflow row
// exceeded the route's rate limit and waits for the next digest.
const (
	modeSingle   = "single"
	modeOverflow = "overflow"
)

// maxDigestItems bounds one digest message; more rows go into the next one.
const maxDigestItems = 1000

// batchSize is how many due rows a worker reads at a time.
const batchSize = 64

// message is one delivery: a notification or a digest.
type message struct {
	route      *Route
	event      string // alert, incident, digest or test
	deliveryID string // "<route id>:<notification or digest id>"
	n          *Notification
	d          *Digest
}

// deliveryError classifies a failed delivery.
type deliveryError struct {
	err error
	// permanent failures (4xx other than 408/429, SMTP 5xx, bad config)
	// are tried MaxPermanentTries times only.
	permanent  bool
	retryAfter time.Duration
	// status is the receiver's answer ("500 Internal Server Error"), when
	// it answered: the one thing a route test reports.
	status string
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

func permanent(err error) error { return &deliveryError{err: err, permanent: true} }

// sender delivers messages of one route type. A sender belongs to one
// worker and is not used concurrently.
type sender interface {
	send(ctx context.Context, m *message) error
	close()
}

func (n *Notifier) newSender(r *Route) sender {
	if o := outputs[r.Type]; o != nil {
		return o.newSender(n)
	}
	return errSender{fmt.Errorf("unknown route type %q", r.Type)}
}

type errSender struct{ err error }

func (s errSender) send(context.Context, *message) error { return permanent(s.err) }
func (errSender) close()                                 {}

// worker delivers the outbox rows of one route, one message at a time, so
// that a route's messages arrive in order and its rate limit holds.
type worker struct {
	n       *Notifier
	id      string
	wakeCh  chan struct{}
	stopCh  chan struct{}
	bucket  bucket
	blocked time.Time // no delivery before this (route backing off)
	sender  sender
	stype   string // type the sender was made for
}

func newWorker(n *Notifier, id string) *worker {
	return &worker{n: n, id: id, wakeCh: make(chan struct{}, 1), stopCh: make(chan struct{})}
}

func (w *worker) poke() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *worker) stop() { close(w.stopCh) }

func (w *worker) run(ctx context.Context) {
	defer func() {
		if w.sender != nil {
			w.sender.close()
		}
	}()
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stopCh:
			return
		default:
		}
		r, ok := w.n.route(w.id)
		if !ok {
			return
		}
		r = r.clone()
		next, busy, err := w.step(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.n.log.Error("notification outbox", "route", r.Name, "route_id", r.ID, "err", err)
			next = w.n.opts.Now().Add(w.n.opts.BackoffMin)
			busy = false
		}
		if busy {
			continue
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			d := max(next.Sub(w.n.opts.Now()), time.Millisecond)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-w.stopCh:
			return
		case <-w.wakeCh:
		case <-tc:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// row is one outbox row as the worker needs it.
type row struct {
	nid      string
	payload  string
	attempts int
	created  int64
}

// step does at most one delivery. It reports whether it did work (then the
// caller steps again at once) or else when work is next due (zero: only
// when woken).
func (w *worker) step(ctx context.Context, r *Route) (next time.Time, busy bool, err error) {
	now := w.n.opts.Now()
	if !r.Enabled {
		return time.Time{}, false, nil
	}
	if now.Before(w.blocked) {
		return w.blocked, false, nil
	}
	w.bucket.configure(r.RateLimit, w.n.opts.RateWindow)

	// 1. A digest formed earlier (possibly by a previous run) is resent
	// as the same digest, so its delivery id stays stable.
	var did string
	err = w.n.db.QueryRowContext(ctx, `SELECT digest_id FROM notify_outbox
		WHERE route_id = ? AND state = 'pending' AND digest_id != '' AND next_attempt <= ?
		ORDER BY rowid LIMIT 1`, r.ID, now.UnixMilli()).Scan(&did)
	switch {
	case err == nil:
		return time.Time{}, true, w.sendDigest(ctx, r, did)
	case !errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, fmt.Errorf("reading digests: %w", err)
	}

	// 2. Digest routes batch everything per interval.
	if r.Digest > 0 {
		var oldest sql.NullInt64
		if err := w.n.db.QueryRowContext(ctx, `SELECT MIN(created) FROM notify_outbox
			WHERE route_id = ? AND state = 'pending' AND digest_id = ''`, r.ID).Scan(&oldest); err != nil {
			return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
		}
		if !oldest.Valid {
			return w.nextDue(ctx, r)
		}
		due := time.UnixMilli(oldest.Int64).Add(r.Digest)
		if now.Before(due) {
			return w.earliest(ctx, r, due)
		}
		if !w.bucket.take(now) {
			return w.bucket.next(now), false, nil
		}
		did, err := w.formDigest(ctx, r, "")
		if err != nil || did == "" {
			return time.Time{}, err == nil && did != "", err
		}
		return time.Time{}, true, w.sendDigest(ctx, r, did)
	}

	// 3. Rows that overflowed the rate limit go out as one digest with the
	// next free slot; until then new rows join them, keeping order.
	var overflow int
	if err := w.n.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notify_outbox
		WHERE route_id = ? AND state = 'pending' AND digest_id = '' AND mode = 'overflow'`, r.ID).Scan(&overflow); err != nil {
		return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
	}
	if overflow > 0 {
		if w.bucket.take(now) {
			did, err := w.formDigest(ctx, r, modeOverflow)
			if err != nil || did == "" {
				return time.Time{}, false, err
			}
			return time.Time{}, true, w.sendDigest(ctx, r, did)
		}
		if err := w.overflowDue(ctx, r, now); err != nil {
			return time.Time{}, false, err
		}
		return w.bucket.next(now), false, nil
	}

	// 4. Single messages, oldest first.
	rows, err := w.n.db.QueryContext(ctx, `SELECT notification_id, payload, attempts, created FROM notify_outbox
		WHERE route_id = ? AND state = 'pending' AND digest_id = '' AND mode = 'single' AND next_attempt <= ?
		ORDER BY rowid LIMIT ?`, r.ID, now.UnixMilli(), batchSize)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
	}
	var due []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.nid, &x.payload, &x.attempts, &x.created); err != nil {
			rows.Close()
			return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
		}
		due = append(due, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
	}
	if len(due) == 0 {
		return w.nextDue(ctx, r)
	}
	for _, x := range due {
		if ctx.Err() != nil {
			return time.Time{}, false, ctx.Err()
		}
		if !w.bucket.take(w.n.opts.Now()) {
			if err := w.overflowDue(ctx, r, w.n.opts.Now()); err != nil {
				return time.Time{}, false, err
			}
			return time.Time{}, true, nil
		}
		if err := w.sendSingle(ctx, r, x); err != nil {
			return time.Time{}, false, err
		}
		if w.n.opts.Now().Before(w.blocked) {
			return w.blocked, false, nil
		}
	}
	return time.Time{}, true, nil
}

// overflowDue moves the route's due single rows into the overflow digest.
func (w *worker) overflowDue(ctx context.Context, r *Route, now time.Time) error {
	_, err := w.n.db.ExecContext(ctx, `UPDATE notify_outbox SET mode = 'overflow'
		WHERE route_id = ? AND state = 'pending' AND digest_id = '' AND mode = 'single' AND next_attempt <= ?`,
		r.ID, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("moving rate-limited notifications to digest: %w", err)
	}
	return nil
}

// nextDue returns when the route's next pending row is due.
func (w *worker) nextDue(ctx context.Context, r *Route) (time.Time, bool, error) {
	return w.earliest(ctx, r, time.Time{})
}

func (w *worker) earliest(ctx context.Context, r *Route, t time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := w.n.db.QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM notify_outbox
		WHERE route_id = ? AND state = 'pending' AND (digest_id != '' OR ? = 0)`, r.ID, boolInt(r.Digest > 0)).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("reading outbox: %w", err)
	}
	if next.Valid {
		nt := time.UnixMilli(next.Int64)
		if t.IsZero() || nt.Before(t) {
			t = nt
		}
	}
	return t, false, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *worker) senderFor(r *Route) sender {
	if w.sender == nil || w.stype != r.Type {
		if w.sender != nil {
			w.sender.close()
		}
		w.sender = w.n.newSender(r)
		w.stype = r.Type
	}
	return w.sender
}

func (w *worker) sendSingle(ctx context.Context, r *Route, x row) error {
	nt := new(Notification)
	if err := json.Unmarshal([]byte(x.payload), nt); err != nil {
		// Cannot happen for rows Notify wrote; do not retry garbage.
		return w.finish(ctx, r, []string{x.nid}, "", x.attempts+1, x.created, permanentDead(err))
	}
	m := &message{route: r, event: nt.Kind, deliveryID: r.ID + ":" + nt.ID, n: nt}
	sendErr := w.senderFor(r).send(ctx, m)
	if ctx.Err() != nil && sendErr != nil {
		return ctx.Err() // shutting down: the row stays pending as it was
	}
	return w.finish(ctx, r, []string{x.nid}, "", x.attempts+1, x.created, sendErr)
}

// deadNow marks an error that must not be retried at all.
type deadNow struct{ error }

func permanentDead(err error) error { return deadNow{err} }

// formDigest assigns a new digest id to up to maxDigestItems undigested
// pending rows of the route (of the given mode, or any) and returns it, or
// "" when there was nothing to digest.
func (w *worker) formDigest(ctx context.Context, r *Route, mode string) (string, error) {
	did := "digest-" + ids.New()
	res, err := w.n.db.ExecContext(ctx, `UPDATE notify_outbox SET digest_id = ?, next_attempt = 0
		WHERE digest_id = '' AND rowid IN (SELECT rowid FROM notify_outbox
			WHERE route_id = ? AND state = 'pending' AND digest_id = '' AND (? = '' OR mode = ?)
			ORDER BY rowid LIMIT ?)`,
		did, r.ID, mode, mode, maxDigestItems)
	if err != nil {
		return "", fmt.Errorf("forming digest: %w", err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return "", nil
	}
	return did, nil
}

func (w *worker) sendDigest(ctx context.Context, r *Route, did string) error {
	rows, err := w.n.db.QueryContext(ctx, `SELECT notification_id, payload, attempts, created FROM notify_outbox
		WHERE route_id = ? AND state = 'pending' AND digest_id = ? ORDER BY rowid`, r.ID, did)
	if err != nil {
		return fmt.Errorf("reading digest %s: %w", did, err)
	}
	var ids []string
	var items []*Notification
	attempts, oldest := 0, int64(0)
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.nid, &x.payload, &x.attempts, &x.created); err != nil {
			rows.Close()
			return fmt.Errorf("reading digest %s: %w", did, err)
		}
		nt := new(Notification)
		if json.Unmarshal([]byte(x.payload), nt) != nil {
			nt = &Notification{ID: x.nid, Title: "(unreadable notification)"}
		}
		ids = append(ids, x.nid)
		items = append(items, nt)
		attempts = max(attempts, x.attempts)
		if oldest == 0 || x.created < oldest {
			oldest = x.created
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading digest %s: %w", did, err)
	}
	if len(ids) == 0 {
		return nil
	}
	d := buildDigest(did, r, items, w.n.opts.Now())
	m := &message{route: r, event: KindDigest, deliveryID: r.ID + ":" + did, d: d}
	sendErr := w.senderFor(r).send(ctx, m)
	if ctx.Err() != nil && sendErr != nil {
		return ctx.Err()
	}
	return w.finish(ctx, r, ids, did, attempts+1, oldest, sendErr)
}

// finish records the outcome of one delivery of the given rows.
func (w *worker) finish(ctx context.Context, r *Route, ids []string, did string, attempts int, created int64, sendErr error) error {
	now := w.n.opts.Now()
	where := `route_id = ? AND notification_id = ?`
	args := []any{r.ID, ""}
	if did != "" {
		where = `route_id = ? AND digest_id = ?`
		args = []any{r.ID, did}
	} else {
		args[1] = ids[0]
	}
	if sendErr == nil {
		_, err := w.n.db.ExecContext(ctx, `UPDATE notify_outbox SET state = 'delivered', attempts = ?, done = ?, last_error = ''
			WHERE `+where, append([]any{attempts, now.UnixMilli()}, args...)...)
		if err != nil {
			return fmt.Errorf("marking delivered: %w", err)
		}
		w.n.metrics.done.WithLabelValues(r.ID, stateDelivered).Add(float64(len(ids)))
		return nil
	}
	var de *deliveryError
	perm, retryAfter := false, time.Duration(0)
	if errors.As(sendErr, &de) {
		perm, retryAfter = de.permanent, de.retryAfter
	}
	var dn deadNow
	dead := errors.As(sendErr, &dn) ||
		(perm && attempts >= w.n.opts.MaxPermanentTries) ||
		now.Sub(time.UnixMilli(created)) >= w.n.opts.MaxAge
	msg := truncate(sendErr.Error(), 500)
	w.n.metrics.failures.WithLabelValues(r.ID).Inc()
	if dead {
		_, err := w.n.db.ExecContext(ctx, `UPDATE notify_outbox SET state = 'dead', attempts = ?, done = ?, last_error = ?
			WHERE `+where, append([]any{attempts, now.UnixMilli(), msg}, args...)...)
		if err != nil {
			return fmt.Errorf("marking dead: %w", err)
		}
		w.n.metrics.done.WithLabelValues(r.ID, stateDead).Add(float64(len(ids)))
		w.n.log.Error("notification dead, not retried", "route", r.Name, "route_id", r.ID,
			"messages", len(ids), "attempts", attempts, "err", msg)
		return nil
	}
	delay := w.backoff(attempts)
	if retryAfter > delay {
		delay = min(retryAfter, 24*time.Hour)
	}
	next := now.Add(delay)
	_, err := w.n.db.ExecContext(ctx, `UPDATE notify_outbox SET attempts = ?, next_attempt = ?, last_error = ?
		WHERE `+where, append([]any{attempts, next.UnixMilli(), msg}, args...)...)
	if err != nil {
		return fmt.Errorf("scheduling retry: %w", err)
	}
	// The receiver is down or refusing: hold the whole route, so that the
	// messages behind this one do not each hammer it.
	w.blocked = next
	w.n.log.Warn("notification delivery failed, will retry", "route", r.Name, "route_id", r.ID,
		"attempts", attempts, "retry_in", delay.Round(time.Millisecond), "err", msg)
	return nil
}

// backoff is the delay after the given number of failed attempts:
// exponential from BackoffMin, capped at BackoffMax, with jitter in
// [d/2, d] so that many routes do not retry in lockstep.
func (w *worker) backoff(attempts int) time.Duration {
	d := w.n.opts.BackoffMin
	for i := 1; i < attempts && d < w.n.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.n.opts.BackoffMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8ValidEnd(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func utf8ValidEnd(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s
}

// bucket is a token bucket: capacity limit, refilled at limit per window.
type bucket struct {
	limit  int
	window time.Duration
	tokens float64
	last   time.Time
}

func (b *bucket) configure(limit int, window time.Duration) {
	if b.limit != limit || b.window != window {
		b.limit, b.window = limit, window
		b.tokens, b.last = float64(limit), time.Time{}
	}
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(b.limit), b.tokens+float64(b.limit)*el.Seconds()/b.window.Seconds())
		b.last = now
	}
}

// take reports whether a message may go now, and counts it.
func (b *bucket) take(now time.Time) bool {
	if b.limit <= 0 {
		return true
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// next returns when the next token is available.
func (b *bucket) next(now time.Time) time.Time {
	if b.limit <= 0 {
		return now
	}
	b.refill(now)
	if b.tokens >= 1 {
		return now
	}
	need := (1 - b.tokens) * b.window.Seconds() / float64(b.limit)
	return now.Add(time.Duration(need*float64(time.Second)) + time.Millisecond)
}
