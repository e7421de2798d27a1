package meta

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteLockUrgentFirst: while a background writer loops on the lock,
// an urgent writer gets it after at most the one background hold in
// progress, and the background writer still gets turns once the urgent
// one is done.
func TestWriteLockUrgentFirst(t *testing.T) {
	var l WriteLock
	bg, ur := l.Background(), l.Urgent()
	var holding atomic.Int32
	stop := make(chan struct{})
	var bgTurns atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			bg.Lock()
			if holding.Add(1) != 1 {
				t.Error("two holders")
			}
			time.Sleep(2 * time.Millisecond) // a background transaction
			holding.Add(-1)
			bgTurns.Add(1)
			bg.Unlock()
		}
	}()
	for bgTurns.Load() == 0 {
		time.Sleep(time.Millisecond) // the background writer is looping
	}
	var worst time.Duration
	for range 50 {
		start := time.Now()
		ur.Lock()
		if holding.Add(1) != 1 {
			t.Error("two holders")
		}
		worst = max(worst, time.Since(start))
		holding.Add(-1)
		ur.Unlock()
	}
	before := bgTurns.Load()
	deadline := time.Now().Add(5 * time.Second)
	for bgTurns.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting for the background writer's next turn
	}
	close(stop)
	wg.Wait()
	if bgTurns.Load() == before {
		t.Error("the background writer got no turn after the urgent one was done")
	}
	// One background hold (2 ms) plus scheduling; far below a busy
	// handler's sleeps.
	if worst > 500*time.Millisecond {
		t.Errorf("an urgent Lock waited %v", worst)
	}
}

// TestWriteLockOrder: a background writer that asked for the lock
// before an urgent one still gets it after it.
func TestWriteLockOrder(t *testing.T) {
	var l WriteLock
	ur, bg := l.Urgent(), l.Background()
	ur.Lock() // A holds it
	order := make(chan string, 2)
	go func() { bg.Lock(); order <- "background"; bg.Unlock() }() // C asks first
	// Give C time to ask. Correctness does not depend on it (C never
	// takes the lock while an urgent writer waits); it is what would make
	// a lock without priority, which serves C first, fail.
	time.Sleep(20 * time.Millisecond)
	go func() { ur.Lock(); order <- "urgent"; ur.Unlock() }() // B asks second
	for l.urgent.Load() != 2 {
		time.Sleep(time.Millisecond) // until B is waiting
	}
	ur.Unlock()
	if first, second := <-order, <-order; first != "urgent" || second != "background" {
		t.Errorf("got %s then %s, want the urgent writer first", first, second)
	}
}
