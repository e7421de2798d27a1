package meta

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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
	var bgTurns atomic.Int64
	urgentDone := make(chan struct{})
	stop := make(chan struct{})
	turn := make(chan struct{}, 1) // a background turn ended
	looping := make(chan struct{}) // the first background hold began
	var wg sync.WaitGroup
	wg.Go(func() {
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
			if bgTurns.Add(1) == 1 {
				close(looping)
			}
			// A background transaction that lasts until an urgent writer
			// asks for the lock: the case the lock is for.
			for l.urgent.Load() == 0 && !isClosed(urgentDone) {
				runtime.Gosched()
			}
			holding.Add(-1)
			bg.Unlock()
			select {
			case turn <- struct{}{}:
			default:
			}
		}
	})
	<-looping
	for i := range 50 {
		before := bgTurns.Load()
		ur.Lock()
		if holding.Add(1) != 1 {
			t.Error("two holders")
		}
		// The hold in progress when we asked may have begun after we read
		// the count; none may begin while we wait.
		if began := bgTurns.Load() - before; began > 1 {
			t.Errorf("urgent Lock %d: %d background holds began while it waited, want at most the one in progress", i, began)
		}
		holding.Add(-1)
		ur.Unlock()
	}
	close(urgentDone)
	select {
	case <-turn: // a turn that may have ended before
	default:
	}
	select {
	case <-turn:
	case <-time.After(10 * time.Second):
		t.Error("the background writer got no turn after the urgent one was done")
	}
	close(stop)
	wg.Wait()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestWriteLockOrder: a background writer that asked for the lock
// before an urgent one still gets it after it. In a testing/synctest
// bubble, so that "asked" is exact: the background writer waits on the
// fake clock inside Lock.
func TestWriteLockOrder(t *testing.T) {
	// A lock that made C wait on its mutex instead would leave synctest.Wait
	// waiting (a mutex wait is not durable): fail then, on the real clock,
	// rather than at the test binary's timeout.
	watchdog := time.AfterFunc(10*time.Second, func() {
		panic("TestWriteLockOrder: the background writer never waited inside Lock on the clock")
	})
	defer watchdog.Stop()
	synctest.Test(t, func(t *testing.T) {
		var l WriteLock
		ur, bg := l.Urgent(), l.Background()
		ur.Lock() // A holds it
		order := make(chan string, 2)
		go func() { bg.Lock(); order <- "background"; bg.Unlock() }() // C asks first
		// C is inside Lock, waiting for the urgent writer to be done. It
		// is what would make a lock without priority, which serves C
		// first, fail.
		synctest.Wait()
		go func() { ur.Lock(); order <- "urgent"; ur.Unlock() }() // B asks second
		for l.urgent.Load() != 2 {
			runtime.Gosched() // until B has asked (a mutex wait is not one synctest sees)
		}
		ur.Unlock()
		if first, second := <-order, <-order; first != "urgent" || second != "background" {
			t.Errorf("got %s then %s, want the urgent writer first", first, second)
		}
	})
}
