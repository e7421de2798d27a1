package meta

import (
	"sync"
	"sync/atomic"
	"time"
)

// WriteLock serialises the heavy writers of the metadata database within
// the process, the alert path first. SQLite lets one writer in at a time
// and makes the others retry with growing sleeps; under a wave, the
// response runner recording thousands of blocks and the alert writer
// folding thousands of detections then took turns badly: the alert writer
// slept in the busy handler while its queue filled. Through this lock the
// in-process writers hand the database over in order instead, and an
// urgent writer (the alert path) goes before background ones (the runner
// catches up when the wave's alerts are in).
type WriteLock struct {
	mu     sync.Mutex
	urgent atomic.Int32 // urgent writers waiting for or holding mu
}

// Urgent returns the lock as taken by the alert path.
func (l *WriteLock) Urgent() sync.Locker { return urgentLock{l} }

// Background returns the lock as taken by background writers, which wait
// while an urgent writer wants the database.
func (l *WriteLock) Background() sync.Locker { return backgroundLock{l} }

type urgentLock struct{ l *WriteLock }

func (u urgentLock) Lock() {
	u.l.urgent.Add(1)
	u.l.mu.Lock()
}

func (u urgentLock) Unlock() {
	u.l.urgent.Add(-1)
	u.l.mu.Unlock()
}

type backgroundLock struct{ l *WriteLock }

func (b backgroundLock) Lock() {
	for {
		for b.l.urgent.Load() > 0 {
			// An urgent writer holds the lock for a batch (milliseconds):
			// polling costs nothing measurable and needs no wake-up
			// bookkeeping in the urgent path.
			time.Sleep(time.Millisecond)
		}
		b.l.mu.Lock()
		if b.l.urgent.Load() == 0 {
			return
		}
		b.l.mu.Unlock()
	}
}

func (b backgroundLock) Unlock() { b.l.mu.Unlock() }
