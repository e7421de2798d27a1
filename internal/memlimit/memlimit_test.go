package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

// fake returns a Limit whose applied values are recorded instead of set on
// the runtime.
func fake(base int64) (*Limit, *[]int64) {
	var got []int64
	l := &Limit{base: base, set: func(v int64) int64 { got = append(got, v); return 0 }}
	l.apply()
	return l, &got
}

func TestReserveRaisesAndRestores(t *testing.T) {
	l, got := fake(400 << 20)
	r1 := l.Reserve(256 << 20)
	r2 := l.Reserve(256 << 20)
	if c, want := l.Current(), int64(912<<20); c != want {
		t.Fatalf("with two searches: got limit %d, want %d", c, want)
	}
	r1()
	r1() // a second call changes nothing
	if c, want := l.Current(), int64(656<<20); c != want {
		t.Fatalf("after one ended: got limit %d, want %d", c, want)
	}
	r2()
	if c, want := l.Current(), int64(400<<20); c != want {
		t.Fatalf("after both ended: got limit %d, want %d", c, want)
	}
	want := []int64{400 << 20, 656 << 20, 912 << 20, 656 << 20, 400 << 20}
	if len(*got) != len(want) {
		t.Fatalf("applied %v, want %v", *got, want)
	}
	for i := range want {
		if (*got)[i] != want[i] {
			t.Fatalf("applied %v, want %v", *got, want)
		}
	}
}

func TestZeroBaseLeavesRuntimeAlone(t *testing.T) {
	l, got := fake(0)
	l.Reserve(1 << 30)()
	if len(*got) != 0 || l.Current() != 0 {
		t.Fatalf("a zero base applied %v (current %d); want nothing", *got, l.Current())
	}
}

func TestReserveSaturates(t *testing.T) {
	l, _ := fake(math.MaxInt64 - 10)
	defer l.Reserve(100)()
	if c := l.Current(); c != math.MaxInt64 {
		t.Fatalf("got %d, want the largest limit", c)
	}
}

func TestNewSetsRuntimeLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	l := New(300 << 20)
	release := l.Reserve(100 << 20)
	if got := debug.SetMemoryLimit(-1); got != 400<<20 {
		t.Fatalf("runtime limit during a reservation: got %d, want %d", got, 400<<20)
	}
	release()
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("runtime limit after it: got %d, want %d", got, 300<<20)
	}
}
