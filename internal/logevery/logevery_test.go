package logevery

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	var e Every
	if !e.Due(time.Hour) {
		t.Fatal("first call: got false, want true")
	}
	if e.Due(time.Hour) {
		t.Fatal("second call within the interval: got true, want false")
	}
	if !e.Due(0) {
		t.Fatal("after the interval: got false, want true")
	}
	// Among concurrent callers, one gets true.
	var f Every
	var yes atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if f.Due(time.Hour) {
				yes.Add(1)
			}
		})
	}
	wg.Wait()
	if yes.Load() != 1 {
		t.Errorf("%d concurrent callers got true, want 1", yes.Load())
	}
}
