// Package ingesttest holds test doubles for the ingest contract.
package ingesttest

import (
	"sync"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Stats records what inputs count, safe for concurrent use.
type Stats struct {
	mu       sync.Mutex
	received map[string]int
	rejected map[string]int
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
	s.mu.Unlock()
}

// Rejected implements ingest.Stats.
func (s *Stats) Rejected(input, reason string, n int) {
	s.mu.Lock()
	s.rejected[input+"/"+reason] += n
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
