// Package searchlimit bounds what searches may cost a server: how many run
// at once (in all and per user), how long an excess search waits for a
// turn, how long one may run, and the groups and memory each may use (the
// store enforces those two from the request). The API and the console run
// their searches through one Limiter.
package searchlimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigilsec/vigil/internal/store"
)

// Limits are the bounds. A zero field takes its default.
type Limits struct {
	// MaxConcurrent bounds the searches running at once, all users
	// together (default 4).
	MaxConcurrent int
	// MaxPerUser bounds the searches of one user (or API token) running
	// at once (default 3: the console's search page runs three).
	MaxPerUser int
	// QueueWait is how long a search past either bound waits for a turn
	// before it is refused with a *BusyError (default 2s; negative: not
	// at all).
	QueueWait time.Duration
	// MaxQueued bounds the searches waiting at once; past it a search is
	// refused at once (default 64).
	MaxQueued int
	// Timeout bounds one search's run (default 30s).
	Timeout time.Duration
	// MaxGroups bounds an aggregate's groups (default
	// store.DefaultMaxGroups).
	MaxGroups int
	// MaxBytes is one search's memory budget (default
	// store.DefaultMaxBytes).
	MaxBytes int64
}

// Defaults returns the default limits.
func Defaults() Limits {
	return Limits{
		MaxConcurrent: 4,
		MaxPerUser:    3,
		QueueWait:     2 * time.Second,
		MaxQueued:     64,
		Timeout:       30 * time.Second,
		MaxGroups:     store.DefaultMaxGroups,
		MaxBytes:      store.DefaultMaxBytes,
	}
}

func (l Limits) withDefaults() Limits {
	d := Defaults()
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = d.MaxConcurrent
	}
	if l.MaxPerUser <= 0 {
		l.MaxPerUser = d.MaxPerUser
	}
	if l.QueueWait == 0 {
		l.QueueWait = d.QueueWait
	}
	if l.MaxQueued <= 0 {
		l.MaxQueued = d.MaxQueued
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxGroups == 0 {
		l.MaxGroups = d.MaxGroups
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	return l
}

// BusyError refuses a search that found no turn within the queue wait.
type BusyError struct {
	// PerUser is set when the caller's own searches filled their share.
	PerUser bool
	// Limit is the bound that was full.
	Limit int
	// RetryAfter is a fair time to try again.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	secs := retrySeconds(e.RetryAfter)
	if e.PerUser {
		return fmt.Sprintf("too many searches of yours running (limit %d per user): retry in %d s", e.Limit, secs)
	}
	return fmt.Sprintf("too many searches running (limit %d): retry in %d s", e.Limit, secs)
}

// TimeoutError stops a search that ran past the timeout.
type TimeoutError struct {
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("query exceeded %s: narrow the time range or the filter, or raise search.timeout", formatSeconds(e.Timeout))
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// errTimedOut is the cause of a search context that reached the timeout.
var errTimedOut = errors.New("search timeout")

// Limiter runs searches within Limits. It is safe for concurrent use.
type Limiter struct {
	lim Limits

	mu      sync.Mutex
	running int
	queued  int
	users   map[string]int
	changed chan struct{} // closed and replaced when a search ends

	runningGauge prometheus.GaugeFunc
	refused      *prometheus.CounterVec

	// reserve, if set, holds each running search's memory budget (see
	// ReserveWith).
	reserve func(bytes int64) (release func())
}

// ReserveWith makes each search, while it runs, reserve its memory budget
// with fn, which returns the function that gives it back: the server
// raises its soft memory limit by as much (internal/memlimit). Call it
// before the first search.
func (l *Limiter) ReserveWith(fn func(bytes int64) (release func())) { l.reserve = fn }

// New returns a Limiter with l's bounds (defaults for its zero fields).
func New(l Limits) *Limiter {
	lm := &Limiter{lim: l.withDefaults(), users: map[string]int{}, changed: make(chan struct{})}
	lm.runningGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_search_running", Help: "Searches running now.",
	}, func() float64 {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		return float64(lm.running)
	})
	lm.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_search_refused_total", Help: "Searches refused or stopped by a search limit, by reason (busy, timeout, groups, memory).",
	}, []string{"reason"})
	for _, r := range []string{"busy", "timeout", "groups", "memory"} {
		lm.refused.WithLabelValues(r)
	}
	return lm
}

// Limits returns the bounds in force.
func (l *Limiter) Limits() Limits { return l.lim }

// Register adds the limiter's metrics to r.
func (l *Limiter) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{l.runningGauge, l.refused} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("registering search metrics: %w", err)
		}
	}
	return nil
}

// Running returns the number of searches running.
func (l *Limiter) Running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running
}

// Search runs req on st for user (any stable name of the caller: a user
// name, a token id) once a turn is free, within the timeout, with the
// group and memory bounds set on the request where it names none. Its
// errors besides the store's: a *BusyError when no turn came, a
// *TimeoutError past the timeout.
func (l *Limiter) Search(ctx context.Context, st store.Store, user string, req store.SearchRequest) (*store.Result, error) {
	release, err := l.acquire(ctx, user)
	if err != nil {
		if _, ok := errors.AsType[*BusyError](err); ok {
			l.refused.WithLabelValues("busy").Inc()
		}
		return nil, err
	}
	defer release()
	if req.MaxGroups == 0 {
		req.MaxGroups = l.lim.MaxGroups
	}
	if req.MaxBytes == 0 {
		req.MaxBytes = l.lim.MaxBytes
	}
	if l.reserve != nil {
		defer l.reserve(req.MaxBytes)()
	}
	sctx, cancel := context.WithTimeoutCause(ctx, l.lim.Timeout, errTimedOut)
	defer cancel()
	res, err := st.Search(sctx, req)
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() == nil && errors.Is(context.Cause(sctx), errTimedOut):
		l.refused.WithLabelValues("timeout").Inc()
		return nil, &TimeoutError{Timeout: l.lim.Timeout}
	case errors.Is(err, store.ErrTooManyGroups):
		l.refused.WithLabelValues("groups").Inc()
	case errors.Is(err, store.ErrMemoryBudget):
		l.refused.WithLabelValues("memory").Inc()
	}
	return nil, err
}

// acquire waits for a turn for user: at most QueueWait, behind at most
// MaxQueued others.
func (l *Limiter) acquire(ctx context.Context, user string) (release func(), err error) {
	var timer *time.Timer
	queued := false
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if queued {
			l.mu.Lock()
			l.queued--
			l.mu.Unlock()
		}
	}()
	for {
		l.mu.Lock()
		perUser := l.users[user] >= l.lim.MaxPerUser
		if !perUser && l.running < l.lim.MaxConcurrent {
			l.running++
			l.users[user]++
			l.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { l.release(user) }) }, nil
		}
		busy := &BusyError{PerUser: perUser, Limit: l.lim.MaxConcurrent, RetryAfter: max(l.lim.QueueWait, time.Second)}
		if perUser {
			busy.Limit = l.lim.MaxPerUser
		}
		if !queued && (l.lim.QueueWait < 0 || l.queued >= l.lim.MaxQueued) {
			l.mu.Unlock()
			return nil, busy
		}
		if !queued {
			queued = true
			l.queued++
		}
		changed := l.changed
		l.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(l.lim.QueueWait)
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, busy
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *Limiter) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if l.users[user]--; l.users[user] <= 0 {
		delete(l.users, user)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Public returns the HTTP status and the message a client gets for an
// error of Search, and the Retry-After seconds (0: none). Only errors about
// the request or its bounds keep their text; any other is "search failed"
// (the caller logs it in full: a store's error may name files).
func Public(err error) (status int, msg string, retryAfter int) {
	if be, ok := errors.AsType[*BusyError](err); ok {
		return http.StatusTooManyRequests, be.Error(), retrySeconds(be.RetryAfter)
	}
	if te, ok := errors.AsType[*TimeoutError](err); ok {
		return http.StatusServiceUnavailable, te.Error(), 0
	}
	if le, ok := errors.AsType[*store.LimitError](err); ok {
		key := "search.max_groups"
		if errors.Is(le, store.ErrMemoryBudget) {
			key = "search.max_query_memory"
		}
		return http.StatusUnprocessableEntity, le.Error() + ": narrow the query or raise " + key, 0
	}
	if errors.Is(err, store.ErrBadRequest) {
		return http.StatusBadRequest, err.Error(), 0
	}
	return http.StatusInternalServerError, "search failed (details in the server log)", 0
}
