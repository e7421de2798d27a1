// Package ingesttest holds test doubles for the ingest contract: a Sink
// that records what inputs hand over and Stats that count what they do,
// both with waits that wake on every change instead of polling.
package ingesttest

import (
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Stats records what inputs count, safe for concurrent use.
type Stats struct {
	mu       sync.Mutex
	received map[string]int
	rejected map[string]int
	changed  notifier
}

var _ ingest.Stats = (*Stats)(nil)

// NewStats returns empty Stats.
func NewStats() *Stats {
	return &Stats{received: map[string]int{}, rejected: map[string]int{}}
}

// Received implements ingest.Stats.
func (s *Stats) Received(input string, n int) {
	s.mu.Lock()
	s.received[input] += n
	s.changed.notify()
	s.mu.Unlock()
}

// Rejected implements ingest.Stats.
func (s *Stats) Rejected(input, reason string, n int) {
	s.mu.Lock()
	s.rejected[input+"/"+reason] += n
	s.changed.notify()
	s.mu.Unlock()
}

// ReceivedCount returns how many messages input counted as read.
func (s *Stats) ReceivedCount(input string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[input]
}

// RejectedCount returns how many messages input refused for reason.
func (s *Stats) RejectedCount(input, reason string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected[input+"/"+reason]
}

// WaitRejected waits until input has refused at least n messages for
// reason, and fails tb after WaitTimeout.
func (s *Stats) WaitRejected(tb testing.TB, input, reason string, n int) {
	tb.Helper()
	if !waitFor(&s.mu, &s.changed, func() bool { return s.RejectedCount(input, reason) >= n }) {
		tb.Fatalf("waiting for %d %s messages rejected as %s: timed out after %v with %d", n, input, reason, WaitTimeout, s.RejectedCount(input, reason))
	}
}

// WaitReceived waits until input has counted at least n messages read, and
// fails tb after WaitTimeout.
func (s *Stats) WaitReceived(tb testing.TB, input string, n int) {
	tb.Helper()
	if !waitFor(&s.mu, &s.changed, func() bool { return s.ReceivedCount(input) >= n }) {
		tb.Fatalf("waiting for %d %s messages received: timed out after %v with %d", n, input, WaitTimeout, s.ReceivedCount(input))
	}
}
