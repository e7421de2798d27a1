package ingesttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Mode says how a Sink answers Offer.
type Mode int

// Modes.
const (
	// Accept takes the batch and reports it durable, from another
	// goroutine as the pipeline does.
	Accept Mode = iota
	// Full refuses the batch with ingest.ErrFull.
	Full
	// Closed refuses the batch with ingest.ErrClosed.
	Closed
	// Unavailable refuses the batch with ingest.ErrUnavailable: the store
	// is failing.
	Unavailable
	// Fail accepts the batch but does not keep it, and reports
	// ErrStoreFailed to done.
	Fail
	// Hold takes the batch and keeps its done until Release.
	Hold
)

// ErrStoreFailed is what a Sink in Fail mode reports to done.
var ErrStoreFailed = errors.New("ingesttest: storing failed: disk full")

// WaitTimeout bounds every wait of a Sink or Stats. Inside a testing/synctest bubble
// it is fake time, so a test that waits in vain fails at once.
const WaitTimeout = 10 * time.Second

// Sink is a fake ingest.Sink that records what it is given, for the tests
// of inputs. Its zero value takes everything. Tests wait for what they
// expect with WaitCount or WaitFor, which wake on every change of the sink
// instead of polling. A Sink is safe for concurrent use; set its exported
// fields before handing it to an input.
type Sink struct {
	// Mode says how Offer answers, once the answers given to Next are
	// used up. Enqueue ignores it.
	Mode Mode
	// Discard counts messages without keeping them (floods, benchmarks).
	Discard bool
	// Gate, when not nil, holds every Enqueue until it is closed (a full
	// pipeline) or the Enqueue's context ends.
	Gate chan struct{}

	mu      sync.Mutex
	next    []Mode
	msgs    []ingest.Raw
	count   int
	batches int
	offers  int
	waiting int
	held    []func(error)
	changed notifier
}

var _ ingest.Sink = (*Sink)(nil)

// Next sets the answers to the next offers, in order, before Mode applies
// again.
func (s *Sink) Next(modes ...Mode) {
	s.mu.Lock()
	s.next = append(s.next, modes...)
	s.mu.Unlock()
}

// Enqueue implements ingest.Sink: it waits at Gate, if there is one, then
// takes msgs.
func (s *Sink) Enqueue(ctx context.Context, msgs []ingest.Raw) error {
	if s.Gate != nil {
		s.mu.Lock()
		s.waiting++
		s.changedLocked()
		s.mu.Unlock()
		var err error
		select {
		case <-s.Gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiting--
		s.changedLocked()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.takeLocked(msgs)
	s.mu.Unlock()
	return nil
}

// Offer implements ingest.Sink, answering as Next or Mode says.
func (s *Sink) Offer(msgs []ingest.Raw, done func(error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offers++
	defer s.changedLocked()
	mode := s.Mode
	if len(s.next) > 0 {
		mode, s.next = s.next[0], s.next[1:]
	}
	switch mode {
	case Full:
		return ingest.ErrFull
	case Closed:
		return ingest.ErrClosed
	case Unavailable:
		return ingest.ErrUnavailable
	}
	if mode == Fail {
		// Not stored: the input must offer it again.
		if done != nil {
			go done(ErrStoreFailed)
		}
		return nil
	}
	s.takeLocked(msgs)
	if done == nil {
		return nil
	}
	switch mode {
	case Hold:
		s.held = append(s.held, done)
	default:
		go done(nil)
	}
	return nil
}

// Release calls the done of every batch held in Hold mode with err, and
// returns how many there were.
func (s *Sink) Release(err error) int {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.changedLocked()
	s.mu.Unlock()
	for _, done := range held {
		done(err)
	}
	return len(held)
}

func (s *Sink) takeLocked(msgs []ingest.Raw) {
	if !s.Discard {
		s.msgs = append(s.msgs, msgs...)
	}
	s.count += len(msgs)
	s.batches++
	s.changedLocked()
}

func (s *Sink) changedLocked() { s.changed.notify() }

// Messages returns a copy of the messages taken so far (none with
// Discard).
func (s *Sink) Messages() []ingest.Raw {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Raw(nil), s.msgs...)
}

// Lines returns the data of the messages taken so far, as strings.
func (s *Sink) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = string(m.Data)
	}
	return out
}

// Count returns how many messages the sink took, Discard or not.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Batches returns how many batches the sink took.
func (s *Sink) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// Offers returns how many times Offer was called, refused and failed
// calls included.
func (s *Sink) Offers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers
}

// Waiting returns how many Enqueue calls wait at the Gate.
func (s *Sink) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Held returns how many batches wait for Release.
func (s *Sink) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// WaitFor waits until cond, which reads the sink, holds. It checks cond
// whenever the sink changes, and fails tb after WaitTimeout.
func (s *Sink) WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if err := s.waitFor(cond); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

func (s *Sink) waitFor(cond func() bool) error {
	if waitFor(&s.mu, &s.changed, cond) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Errorf("timed out after %v: the sink took %d messages in %d batches (%d offers, %d at the gate, %d held)",
		WaitTimeout, s.count, s.batches, s.offers, s.waiting, len(s.held))
}

// WaitCount waits until the sink has taken at least n messages and
// returns what it holds.
func (s *Sink) WaitCount(tb testing.TB, n int) []ingest.Raw {
	tb.Helper()
	s.WaitFor(tb, fmt.Sprintf("%d messages", n), func() bool { return s.Count() >= n })
	return s.Messages()
}

// WaitLines is WaitCount returning Lines.
func (s *Sink) WaitLines(tb testing.TB, n int) []string {
	tb.Helper()
	s.WaitFor(tb, fmt.Sprintf("%d lines", n), func() bool { return s.Count() >= n })
	return s.Lines()
}
