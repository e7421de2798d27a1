package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	srcA = netip.MustParseAddr("192.0.2.1")
	srcB = netip.MustParseAddr("192.0.2.2")
)

// refusal returns the reason of a refused Begin, or nil.
func refusal(t *testing.T, err error) error {
	t.Helper()
	if err == nil {
		return nil
	}
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RefusedError", err)
	}
	if re.RetryAfter < time.Second || re.RetryAfter%time.Second != 0 {
		t.Errorf("got RetryAfter %v, want whole seconds, at least 1", re.RetryAfter)
	}
	return re.Err
}

// fail makes n failed attempts of user from src, each one done before the
// next begins.
func fail(t *testing.T, th *Throttle, user string, known bool, src netip.Addr, n int) {
	t.Helper()
	for i := range n {
		r, err := th.Begin(user, known, src)
		if err != nil {
			t.Fatalf("failure %d of %s from %s: Begin: %v", i+1, user, src, err)
		}
		r.Done(false)
	}
}

func TestThrottleHashingCaps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lim       LoginLimits
		sources   []netip.Addr // one attempt from each, all in progress together
		wantAdmit int
	}{
		{"per source", LoginLimits{MaxHashing: 10, MaxHashingPerSource: 2}, []netip.Addr{srcA, srcA, srcA, srcA}, 2},
		{"global", LoginLimits{MaxHashing: 3, MaxHashingPerSource: 2}, []netip.Addr{srcA, srcB, netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4")}, 3},
		{"both", LoginLimits{MaxHashing: 3, MaxHashingPerSource: 1}, []netip.Addr{srcA, srcA, srcB, srcB}, 2},
		{"IPv6 /64 is one source", LoginLimits{MaxHashing: 10, MaxHashingPerSource: 2},
			[]netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::ffff:1")}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := NewThrottle(tc.lim, newFakeClock().Now)
			var held []*Reservation
			for i, src := range tc.sources {
				r, err := th.Begin(fmt.Sprintf("user%d", i), true, src)
				if reason := refusal(t, err); reason != nil {
					if !errors.Is(reason, ErrLoginBusy) {
						t.Errorf("attempt %d: got %v, want ErrLoginBusy", i, reason)
					}
					continue
				}
				held = append(held, r)
			}
			if got := len(held); got != tc.wantAdmit {
				t.Errorf("got %d checks admitted together, want %d", got, tc.wantAdmit)
			}
			if got := th.Stats().InFlight; got != tc.wantAdmit {
				t.Errorf("got %d in flight, want %d", got, tc.wantAdmit)
			}
			if err := th.Precheck(tc.sources[len(tc.sources)-1]); !errors.Is(refusal(t, err), ErrLoginBusy) {
				t.Errorf("Precheck with the slots taken: got %v, want ErrLoginBusy", err)
			}
			for _, r := range held {
				r.Done(true)
				r.Done(true) // a second Done changes nothing
			}
			if st := th.Stats(); st.InFlight != 0 {
				t.Errorf("after Done: got %d in flight, want 0", st.InFlight)
			}
			if _, err := th.Begin("late", true, tc.sources[0]); err != nil {
				t.Errorf("after the others are done: got %v, want admitted", err)
			}
		})
	}
}

func TestThrottleDefaults(t *testing.T) {
	d := DefaultLoginLimits()
	if d.MaxHashing != max(1, runtime.GOMAXPROCS(0)/2) || d.MaxHashingPerSource != 2 || d.MaxFailures != 5 || d.LockBase != 15*time.Second || d.LockMax != 15*time.Minute {
		t.Errorf("got %+v, want max(1, GOMAXPROCS/2), 2 per source, 5 failures, 15s..15m", d)
	}
	if got := NewThrottle(LoginLimits{MaxFailures: 7}, nil).Limits(); got.MaxFailures != 7 || got.MaxEntries != d.MaxEntries {
		t.Errorf("got %+v, want MaxFailures 7 and the other defaults", got)
	}
	if got := NewThrottle(LoginLimits{MaxHashing: 1, MaxHashingPerSource: 4}, nil).Limits().MaxHashingPerSource; got != 1 {
		t.Errorf("got MaxHashingPerSource %d with MaxHashing 1, want 1", got)
	}
}

// TestThrottleReservesBeforeCheck: attempts in progress count against the
// failure budget, so no more run than it has left, and the lock then
// doubles up to LockMax.
func TestThrottleReservesBeforeCheck(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(LoginLimits{MaxHashing: 100, MaxHashingPerSource: 100, MaxFailures: 5, LockBase: 15 * time.Second, LockMax: time.Minute}, clk.Now)
	var held []*Reservation
	for range 5 {
		r, err := th.Begin("alice", true, srcA)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	if _, err := th.Begin("alice", true, srcA); !errors.Is(refusal(t, err), ErrLoginLocked) {
		t.Fatalf("6th attempt while 5 are in progress: got %v, want ErrLoginLocked", err)
	}
	for _, r := range held {
		r.Done(false)
	}
	_, err := th.Begin("alice", true, srcA)
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrLoginLocked) || re.RetryAfter != 15*time.Second {
		t.Fatalf("after 5 failures: got %v, want locked for 15s", err)
	}
	for _, want := range []time.Duration{30 * time.Second, time.Minute, time.Minute} {
		clk.Advance(th.Limits().LockMax) // past any lock
		fail(t, th, "alice", true, srcA, 1)
		_, err := th.Begin("alice", true, srcA)
		if !errors.As(err, &re) || re.RetryAfter != want {
			t.Errorf("got %v, want locked for %v", err, want)
		}
	}
}

// TestThrottleSimultaneous: of 100 simultaneous attempts at most
// MaxFailures are admitted, however they interleave.
func TestThrottleSimultaneous(t *testing.T) {
	th := NewThrottle(LoginLimits{MaxHashing: 1000, MaxHashingPerSource: 1000, MaxFailures: 5}, nil)
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		admitted []*Reservation
	)
	for range 100 {
		wg.Go(func() {
			<-start
			if r, err := th.Begin("alice", true, srcA); err == nil {
				mu.Lock()
				admitted = append(admitted, r)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(admitted) != 5 {
		t.Errorf("got %d of 100 simultaneous attempts admitted, want 5", len(admitted))
	}
	for _, r := range admitted {
		r.Done(false)
	}
	if _, err := th.Begin("alice", true, srcA); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("after the admitted ones failed: got %v, want ErrLoginLocked", err)
	}
}

func TestThrottleOtherSources(t *testing.T) {
	clk := newFakeClock()
	lim := LoginLimits{MaxFailures: 5, MaxSourceFailures: 8, MaxUserFailures: 12, LockBase: 2 * time.Hour, LockMax: 2 * time.Hour, Remember: time.Hour}
	th := NewThrottle(lim, clk.Now)

	// Five failures from A lock alice for A only.
	fail(t, th, "alice", true, srcA, 5)
	if _, err := th.Begin("alice", true, srcA); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("alice from A after 5 failures: got %v, want ErrLoginLocked", err)
	}
	r, err := th.Begin("alice", true, srcB)
	if err != nil {
		t.Fatalf("alice from B: got %v, want admitted", err)
	}
	r.Done(true) // B is now a source alice signed in from

	// Failures for other names from A reach the source budget (8): A is
	// locked for everyone, B is not.
	fail(t, th, "bob", true, srcA, 3)
	for _, u := range []string{"carol", "bob"} {
		if _, err := th.Begin(u, true, srcA); !errors.Is(err, ErrLoginLocked) {
			t.Errorf("%s from A after 8 failures from A: got %v, want ErrLoginLocked", u, err)
		}
	}
	if err := th.Precheck(srcA); !errors.Is(refusal(t, err), ErrLoginLocked) {
		t.Errorf("Precheck of A after 8 failures from A: got %v, want ErrLoginLocked", err)
	}
	if err := th.Precheck(srcB); err != nil {
		t.Errorf("Precheck of B: got %v, want nil", err)
	}
	r, err = th.Begin("carol", true, srcB)
	if err != nil {
		t.Fatalf("carol from B: got %v, want admitted", err)
	}
	r.Done(false)

	// Failures from many sources reach alice's user-wide budget (12):
	// new sources are locked out, B (where alice signed in) is not.
	for i := range 7 {
		fail(t, th, "alice", true, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 1)
	}
	if _, err := th.Begin("alice", true, netip.MustParseAddr("203.0.113.9")); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("alice from a new source after 12 failures from all: got %v, want ErrLoginLocked", err)
	}
	r, err = th.Begin("alice", true, srcB)
	if err != nil {
		t.Fatalf("alice from B, where she signed in: got %v, want admitted", err)
	}
	r.Done(true)
	// Once B's success is older than Remember, B is a source like any other.
	clk.Advance(lim.Remember + time.Second)
	if _, err := th.Begin("alice", true, srcB); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("alice from B after Remember: got %v, want ErrLoginLocked", err)
	}
}

func TestThrottleSuccessClearsOnlyThePair(t *testing.T) {
	th := NewThrottle(LoginLimits{MaxFailures: 3, MaxSourceFailures: 5}, newFakeClock().Now)
	fail(t, th, "alice", true, srcA, 2)
	fail(t, th, "bob", true, srcA, 2)
	r, err := th.Begin("alice", true, srcA)
	if err != nil {
		t.Fatal(err)
	}
	r.Done(true)
	// alice's own budget from A is whole again (2 more failures do not
	// lock her), but A's source budget kept its 4 failures: the 5th locks A.
	fail(t, th, "alice", true, srcA, 1)
	if _, err := th.Begin("alice", true, srcA); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("after 5 failures from A (a success between): got %v, want ErrLoginLocked", err)
	}
}

func TestThrottleUnknownUsersShareOneKey(t *testing.T) {
	th := NewThrottle(LoginLimits{MaxFailures: 3}, newFakeClock().Now)
	for _, name := range []string{"nobody", "hunter2-password!", "x"} {
		fail(t, th, name, false, srcA, 1)
	}
	if _, err := th.Begin("another", false, srcA); !errors.Is(err, ErrLoginLocked) {
		t.Errorf("4th unknown name from A: got %v, want ErrLoginLocked", err)
	}
	r, err := th.Begin("alice", true, srcA)
	if err != nil {
		t.Fatalf("a real user from A: got %v, want admitted", err)
	}
	r.Done(true)
	locks, total := th.Locks(10)
	if total != 1 || len(locks) != 1 || locks[0].User != UnknownUsers || locks[0].Source != "192.0.2.1" {
		t.Fatalf("got locks %+v (total %d), want one for %s from 192.0.2.1", locks, total, UnknownUsers)
	}
	th.mu.Lock()
	for k := range th.recs {
		if strings.Contains(k.user, "hunter2") || k.user == "nobody" {
			t.Errorf("throttle keeps the typed name %q", k.user)
		}
	}
	th.mu.Unlock()
}

func TestThrottleForget(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(LoginLimits{MaxFailures: 3, Forget: time.Hour}, clk.Now)
	fail(t, th, "alice", true, srcA, 2)
	clk.Advance(time.Hour + time.Second)
	fail(t, th, "alice", true, srcA, 2) // the first two are forgotten: not locked
	if _, err := th.Begin("alice", true, srcA); err != nil {
		t.Errorf("2 failures after an hour without one: got %v, want admitted", err)
	}
}

// TestThrottleMaxEntries: the table never holds more than MaxEntries
// records; the least recently used go first, never one with an attempt
// in progress, and a lock someone keeps trying stays.
func TestThrottleMaxEntries(t *testing.T) {
	th := NewThrottle(LoginLimits{MaxEntries: 10, MaxFailures: 2, MaxHashing: 100, MaxHashingPerSource: 100}, newFakeClock().Now)
	fail(t, th, "alice", true, srcA, 2) // locks (alice, A): records pair, A, alice
	held, err := th.Begin("bob", true, srcB)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := th.Begin("alice", true, srcA); !errors.Is(err, ErrLoginLocked) {
			t.Fatalf("flood %d: alice from A: got %v, want ErrLoginLocked", i, err)
		}
		fail(t, th, fmt.Sprintf("u%d", i), true, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 1)
		if st := th.Stats(); st.Entries > 10 {
			t.Fatalf("flood %d: got %d entries, want at most 10", i, st.Entries)
		}
	}
	st := th.Stats()
	if st.Evicted == 0 {
		t.Error("got no evictions, want some")
	}
	th.mu.Lock()
	_, ok := th.recs[key{user: "bob", src: SourcePrefix(srcB)}]
	th.mu.Unlock()
	if !ok {
		t.Error("the record of an attempt in progress was evicted")
	}
	held.Done(false)
}

func TestThrottleUnlock(t *testing.T) {
	th := NewThrottle(LoginLimits{MaxFailures: 2, MaxSourceFailures: 4}, newFakeClock().Now)
	fail(t, th, "alice", true, srcA, 2)
	fail(t, th, "bob", true, srcB, 2)
	fail(t, th, "nobody", false, srcB, 2) // B: 4 failures, locked for all
	locks, total := th.Locks(100)
	if total != 4 {
		t.Fatalf("got %d locks %+v, want 4: (alice, A), (bob, B), (unknown, B), B", total, locks)
	}
	if locks, total := th.Locks(1); len(locks) != 1 || total != 4 {
		t.Errorf("Locks(1): got %d of %d, want 1 of 4", len(locks), total)
	}
	if n := th.Unlock("alice", netip.Addr{}); n != 1 {
		t.Errorf("Unlock(alice): got %d lifted, want 1", n)
	}
	if r, err := th.Begin("alice", true, srcA); err != nil {
		t.Errorf("alice from A after Unlock: got %v, want admitted", err)
	} else {
		r.Done(true)
	}
	if n := th.Unlock("", srcB); n != 3 {
		t.Errorf("Unlock(B): got %d lifted, want 3", n)
	}
	if _, err := th.Begin("bob", true, srcB); err != nil {
		t.Errorf("bob from B after Unlock: got %v, want admitted", err)
	}
	if n := th.Unlock("nobody", netip.Addr{}); n != 0 {
		t.Errorf("Unlock of a name with no lock: got %d, want 0", n)
	}
}

// TestLoginThrottled: Service.Login reserves before it hashes: a refused
// attempt hashes nothing and says why.
func TestLoginThrottled(t *testing.T) {
	ctx := t.Context()
	s := openService(t)
	if _, err := s.CreateUser(ctx, "alice", "correct horse battery", RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	s.SetLoginThrottle(NewThrottle(LoginLimits{MaxFailures: 2}, clk.Now))
	for range 2 {
		if _, err := s.Login(ctx, Credentials{Username: "alice", Password: "wrong password", Source: srcA}); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("wrong password: got %v, want ErrBadLogin", err)
		}
	}
	before := s.LoginThrottle().Stats().Checks
	_, err := s.Login(ctx, Credentials{Username: "alice", Password: "correct horse battery", Source: srcA})
	if !errors.Is(err, ErrLoginLocked) {
		t.Fatalf("right password from a locked source: got %v, want ErrLoginLocked", err)
	}
	if got := s.LoginThrottle().Stats().Checks; got != before {
		t.Errorf("a refused attempt was checked: %d checks, want %d", got, before)
	}
	if p, err := s.Login(ctx, Credentials{Username: "alice", Password: "correct horse battery", Source: srcB}); err != nil || p.Name != "alice" {
		t.Errorf("right password from another source: got %v, %v, want alice", p, err)
	}
	if n := s.LoginThrottle().Unlock("alice", netip.Addr{}); n != 1 {
		t.Errorf("Unlock: got %d, want 1", n)
	}
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: "correct horse battery", Source: srcA}); err != nil {
		t.Errorf("after Unlock: got %v, want signed in", err)
	}
}

func BenchmarkThrottle(b *testing.B) {
	th := NewThrottle(LoginLimits{MaxFailures: 1 << 30, MaxSourceFailures: 1 << 30, MaxUserFailures: 1 << 30}, nil)
	i := 0
	for b.Loop() {
		i++
		r, err := th.Begin("alice", true, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if err != nil {
			b.Fatal(err)
		}
		r.Done(false)
	}
}
