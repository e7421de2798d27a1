package ingesttest

import (
	"sync"
	"time"
)

// notifier wakes the goroutines waiting for a change. Its zero value is
// ready; it is guarded by its owner's mutex.
type notifier struct {
	ch chan struct{} // closed and cleared on every change; made by a waiter
}

// notify wakes every waiter. Call it with the owner's mutex held.
func (n *notifier) notify() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// waitFor waits until cond holds, checking it after every change that n
// reports, and reports whether it did before WaitTimeout. cond is called
// without mu held.
func waitFor(mu *sync.Mutex, n *notifier, cond func() bool) bool {
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	for {
		mu.Lock()
		if n.ch == nil {
			n.ch = make(chan struct{})
		}
		// Taken before cond runs, so that no change after it is missed.
		changed := n.ch
		mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-timeout.C:
			return false
		}
	}
}
