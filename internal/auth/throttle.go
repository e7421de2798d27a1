package auth

import (
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Sign-in throttling. Every password check reserves its place before the
// hash runs, under one lock, so that simultaneous attempts cannot all pass
// a check that only the finished ones update:
//
//   - a hashing slot: at most MaxHashing checks run at once over all
//     sources and MaxHashingPerSource for one source; argon2id holds
//     19 MiB per check, so this bounds what sign-in can take;
//   - one attempt of each failure budget that applies: the user from this
//     source (MaxFailures), the source for any user (MaxSourceFailures) and
//     the user from anywhere (MaxUserFailures). An attempt in progress
//     counts as a failure until it is done, so no more attempts run than
//     the budget has left.
//
// A budget used up locks its key for LockBase, doubling with each further
// failure up to LockMax. A success clears the user's record for its source
// and makes the source known for the user: the user-wide lock, which
// failures from other sources can trigger, does not apply to a source the
// user signed in from within Remember. Records without a failure for
// Forget are dropped; at most MaxEntries are kept (least recently used
// first out, never one with an attempt in progress).

// LoginLimits bound sign-in attempts. A zero field takes its default
// (DefaultLoginLimits).
type LoginLimits struct {
	// MaxHashing bounds the password checks running at once (default
	// max(1, GOMAXPROCS/2): hashing never takes more than half the CPUs,
	// so a storm of sign-ins leaves the rest of the server responsive).
	MaxHashing int `koanf:"max_hashing"`
	// MaxHashingPerSource bounds those from one source (default 2; never
	// more than MaxHashing).
	MaxHashingPerSource int `koanf:"max_hashing_per_source"`
	// MaxFailures locks a user name for one source after this many
	// failures from it (default 5).
	MaxFailures int `koanf:"max_failures"`
	// MaxSourceFailures locks a source after this many failures for any
	// user names (default 20).
	MaxSourceFailures int `koanf:"max_source_failures"`
	// MaxUserFailures locks an existing user after this many failures from
	// all sources together, except for sources the user signed in from
	// (default 100).
	MaxUserFailures int `koanf:"max_user_failures"`
	// LockBase is the first lock's length (default 15s); each further
	// failure doubles it, up to LockMax (default 15m).
	LockBase time.Duration `koanf:"lock_base"`
	LockMax  time.Duration `koanf:"lock_max"`
	// Forget drops the failures of a key after this long without one
	// (default 1h).
	Forget time.Duration `koanf:"forget"`
	// Remember is how long a successful sign-in exempts its source from
	// the user-wide lock (default 30 days).
	Remember time.Duration `koanf:"remember"`
	// MaxEntries bounds the records kept (default 100,000: about 35 MB).
	MaxEntries int `koanf:"max_entries"`
}

// DefaultLoginLimits returns the limits used for zero fields.
func DefaultLoginLimits() LoginLimits {
	return LoginLimits{
		MaxHashing:          max(1, runtime.GOMAXPROCS(0)/2),
		MaxHashingPerSource: 2,
		MaxFailures:         5,
		MaxSourceFailures:   20,
		MaxUserFailures:     100,
		LockBase:            15 * time.Second,
		LockMax:             15 * time.Minute,
		Forget:              time.Hour,
		Remember:            30 * 24 * time.Hour,
		MaxEntries:          100_000,
	}
}

func (l LoginLimits) withDefaults() LoginLimits {
	d := DefaultLoginLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxHashing, d.MaxHashing)
	set(&l.MaxHashingPerSource, d.MaxHashingPerSource)
	set(&l.MaxFailures, d.MaxFailures)
	set(&l.MaxSourceFailures, d.MaxSourceFailures)
	set(&l.MaxUserFailures, d.MaxUserFailures)
	set(&l.MaxEntries, d.MaxEntries)
	setD(&l.LockBase, d.LockBase)
	setD(&l.LockMax, d.LockMax)
	setD(&l.Forget, d.Forget)
	setD(&l.Remember, d.Remember)
	l.LockMax = max(l.LockMax, l.LockBase)
	l.MaxHashingPerSource = min(l.MaxHashingPerSource, l.MaxHashing)
	return l
}

// Reasons a sign-in is refused before its password is checked; a
// *RefusedError wraps one of them.
var (
	// ErrLoginBusy means too many password checks are running (for
	// everyone, or for the source).
	ErrLoginBusy = errors.New("too many sign-ins in progress")
	// ErrLoginLocked means a failure budget is used up, or would be by
	// the attempts already in progress.
	ErrLoginLocked = errors.New("too many failed sign-ins")
)

// RefusedError is a sign-in refused without checking its password.
type RefusedError struct {
	// Err is ErrLoginBusy or ErrLoginLocked.
	Err error
	// RetryAfter is when trying again may succeed (at least a second).
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: retry in %v", e.Err, e.RetryAfter)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// unknownUser stands for every user name that names no user: the throttle
// never keeps what was typed into the user-name field unless it is a real
// user's name (it may be a password typed in the wrong field).
const unknownUser = "\x00unknown"

// key names a record: a user from a source (both set), a source (user
// empty) or a user from anywhere (src invalid).
type key struct {
	user string
	src  netip.Prefix
}

type kind int

const (
	kindPair kind = iota
	kindSource
	kindUser
)

func (k key) kind() kind {
	switch {
	case k.user == "":
		return kindSource
	case !k.src.IsValid():
		return kindUser
	}
	return kindPair
}

type record struct {
	key     key
	fails   int
	pending int       // attempts reserved, not yet done
	last    time.Time // last failure
	until   time.Time // locked until
	ok      time.Time // last success (pair records)
	elem    *list.Element
}

// Throttle limits sign-in attempts (see LoginLimits). It is safe for
// concurrent use.
type Throttle struct {
	lim LoginLimits
	now func() time.Time

	mu        sync.Mutex
	recs      map[key]*record
	lru       *list.List // of *record, most recently used first
	inflight  int
	perSource map[netip.Prefix]int

	checks, busy, locked, evicted atomic.Int64
}

// NewThrottle returns a Throttle with limits lim (zero fields: defaults)
// and clock now (nil: time.Now).
func NewThrottle(lim LoginLimits, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{lim: lim.withDefaults(), now: now, recs: map[key]*record{}, lru: list.New(), perSource: map[netip.Prefix]int{}}
}

// Limits returns the limits in force.
func (t *Throttle) Limits() LoginLimits { return t.lim }

// SourcePrefix is the key of a client address: the address itself for
// IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64, so
// single IPv6 addresses would be free to rotate). The zero Addr, an
// unknown source, maps to the zero Prefix's shared key.
func SourcePrefix(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

func (t *Throttle) threshold(k kind) int {
	switch k {
	case kindSource:
		return t.lim.MaxSourceFailures
	case kindUser:
		return t.lim.MaxUserFailures
	}
	return t.lim.MaxFailures
}

// getLocked returns the live record of k (forgetting a stale one), or nil.
func (t *Throttle) getLocked(k key, now time.Time) *record {
	r := t.recs[k]
	if r == nil {
		return nil
	}
	if r.pending == 0 && now.Sub(r.last) > t.lim.Forget && !now.Before(r.until) && now.Sub(r.ok) > t.lim.Remember {
		t.removeLocked(r)
		return nil
	}
	t.lru.MoveToFront(r.elem)
	return r
}

func (t *Throttle) removeLocked(r *record) {
	if t.recs[r.key] == r {
		delete(t.recs, r.key)
		t.lru.Remove(r.elem)
	}
}

// createLocked adds a record for k, evicting the least recently used one
// without an attempt in progress when the table is full.
func (t *Throttle) createLocked(k key) *record {
	for len(t.recs) >= t.lim.MaxEntries {
		e := t.lru.Back()
		for e != nil && e.Value.(*record).pending > 0 {
			e = e.Prev()
		}
		if e == nil {
			break // every record has an attempt in progress: at most 3 × MaxHashing
		}
		t.removeLocked(e.Value.(*record))
		t.evicted.Add(1)
	}
	r := &record{key: k}
	r.elem = t.lru.PushFront(r)
	t.recs[k] = r
	return r
}

// Reservation is a sign-in attempt allowed to check its password. Done
// must be called once it has been checked.
type Reservation struct {
	t    *Throttle
	src  netip.Prefix
	recs []*record
	done bool
}

// Precheck refuses at once, without reserving anything, a sign-in from
// src that Begin would refuse whatever its user name: every hashing slot
// (overall or the source's) is taken, or the source is locked. It saves
// looking the user up for the attempts a storm brings; Begin still decides.
func (t *Throttle) Precheck(src netip.Addr) error {
	p := SourcePrefix(src)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.recs[key{src: p}]; r != nil && r.until.After(now) {
		t.locked.Add(1)
		return &RefusedError{Err: ErrLoginLocked, RetryAfter: roundUp(r.until.Sub(now))}
	}
	if t.inflight >= t.lim.MaxHashing || t.perSource[p] >= t.lim.MaxHashingPerSource {
		t.busy.Add(1)
		return &RefusedError{Err: ErrLoginBusy, RetryAfter: time.Second}
	}
	return nil
}

// Begin reserves a password check for user (known: an existing user's
// name; otherwise every name counts as one unknown user) from source src,
// or refuses it with a *RefusedError.
func (t *Throttle) Begin(user string, known bool, src netip.Addr) (*Reservation, error) {
	if !known {
		user = unknownUser
	}
	p := SourcePrefix(src)
	keys := []key{{user: user, src: p}, {src: p}}
	if known {
		keys = append(keys, key{user: user})
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	pair := t.getLocked(keys[0], now)
	var wait time.Duration
	for _, k := range keys {
		r := pair
		if k != keys[0] {
			r = t.getLocked(k, now)
		}
		if r == nil {
			continue
		}
		if k.kind() == kindUser && pair != nil && !pair.ok.IsZero() && now.Sub(pair.ok) <= t.lim.Remember {
			continue // a source the user signed in from is not locked out by others' failures
		}
		n := t.threshold(k.kind())
		switch {
		case r.until.After(now):
			wait = max(wait, r.until.Sub(now))
		case r.fails >= n && r.pending > 0, r.fails < n && r.fails+r.pending >= n:
			// The attempts in progress would use the budget up (after a
			// lock has run out, its budget is one attempt at a time):
			// whether it locks is known as soon as they are done.
			wait = max(wait, time.Second)
		}
	}
	if wait > 0 {
		t.locked.Add(1)
		return nil, &RefusedError{Err: ErrLoginLocked, RetryAfter: roundUp(wait)}
	}
	if t.inflight >= t.lim.MaxHashing || t.perSource[p] >= t.lim.MaxHashingPerSource {
		t.busy.Add(1)
		return nil, &RefusedError{Err: ErrLoginBusy, RetryAfter: time.Second}
	}
	res := &Reservation{t: t, src: p, recs: make([]*record, 0, len(keys))}
	for i, k := range keys {
		r := pair
		if i > 0 {
			r = t.getLocked(k, now)
		}
		if r == nil {
			r = t.createLocked(k)
			if i == 0 {
				pair = r
			}
		}
		r.pending++
		res.recs = append(res.recs, r)
	}
	t.inflight++
	t.perSource[p]++
	t.checks.Add(1)
	return res, nil
}

func roundUp(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return max(d, time.Second)
}

// Done records the outcome of the reserved attempt: ok means the password
// was right (and the user may sign in). Calls after the first do nothing.
func (r *Reservation) Done(ok bool) {
	t := r.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	t.inflight--
	if t.perSource[r.src]--; t.perSource[r.src] <= 0 {
		delete(t.perSource, r.src)
	}
	for _, rec := range r.recs {
		rec.pending--
		k := rec.key.kind()
		switch {
		case ok && k == kindPair:
			rec.fails, rec.until, rec.ok = 0, time.Time{}, now
		case ok:
			// A success does not clear the source's or the user-wide
			// failures: an attacker holding one account could otherwise
			// reset their budget between guesses at others.
		default:
			rec.fails++
			rec.last = now
			if n := rec.fails - t.threshold(k); n >= 0 {
				rec.until = now.Add(min(t.lim.LockBase<<min(n, 16), t.lim.LockMax))
			}
		}
		if rec.fails == 0 && rec.pending == 0 && rec.ok.IsZero() {
			t.removeLocked(rec)
		}
	}
}

// Lock is a key that refuses sign-ins.
type Lock struct {
	// User is the user name, "" for a whole source, or "(unknown users)"
	// for the names that name no user.
	User string `json:"user,omitempty"`
	// Source is the source address or IPv6 /64; "" for a user-wide lock.
	Source   string    `json:"source,omitempty"`
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// UnknownUsers is Lock.User for the names that name no user.
const UnknownUsers = "(unknown users)"

// Locks returns up to limit locks in force, longest first, and how many
// there are in all.
func (t *Throttle) Locks(limit int) ([]Lock, int) {
	now := t.now()
	t.mu.Lock()
	var out []Lock
	for _, r := range t.recs {
		if !now.Before(r.until) {
			continue
		}
		l := Lock{User: r.key.user, Failures: r.fails, Until: r.until.UTC()}
		if l.User == unknownUser {
			l.User = UnknownUsers
		}
		if r.key.src.IsValid() {
			l.Source = prefixString(r.key.src)
		}
		out = append(out, l)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Until.Equal(out[j].Until) {
			return out[i].Until.After(out[j].Until)
		}
		return out[i].User+out[i].Source < out[j].User+out[j].Source
	})
	total := len(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}

func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Unlock clears the records of user (every source, and user-wide;
// UnknownUsers for the names that name no user) and of source (every user
// name, and source-wide); either may be empty / the zero Addr. It returns
// how many locks in force it lifted.
func (t *Throttle) Unlock(user string, source netip.Addr) int {
	if user == UnknownUsers {
		user = unknownUser
	}
	now := t.now()
	p := SourcePrefix(source)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, r := range t.recs {
		if (user != "" && k.user == user) || (source.IsValid() && k.src == p) {
			if now.Before(r.until) {
				n++
			}
			t.removeLocked(r)
		}
	}
	return n
}

// ThrottleStats are the throttle's counters since it was made.
type ThrottleStats struct {
	// Checks counts password checks allowed to run.
	Checks int64
	// Busy and Locked count attempts refused with ErrLoginBusy and
	// ErrLoginLocked.
	Busy, Locked int64
	// Evicted counts records dropped to stay within MaxEntries.
	Evicted int64
	// Entries and InFlight are the records kept and the checks running.
	Entries, InFlight int
}

// Stats returns the throttle's counters.
func (t *Throttle) Stats() ThrottleStats {
	t.mu.Lock()
	entries, inflight := len(t.recs), t.inflight
	t.mu.Unlock()
	return ThrottleStats{Checks: t.checks.Load(), Busy: t.busy.Load(), Locked: t.locked.Load(), Evicted: t.evicted.Load(),
		Entries: entries, InFlight: inflight}
}
