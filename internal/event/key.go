package event

import (
	"sync"
	"sync/atomic"
)

// Key is an interned field name. Keys are process-wide and stable for the
// life of the process; the zero Key is never assigned to a name.
type Key uint32

// MaxKeys bounds the number of distinct field names interned, so that
// hostile input with endless new field names cannot grow the table without
// limit. Names past the bound all map to OverflowKey.
const MaxKeys = 1 << 20

// OverflowKey is returned by Intern once MaxKeys names exist. Its name is
// "_overflow".
const OverflowKey Key = MaxKeys

// keyTable is copy-on-write for lock-free reads: readers load the current
// snapshot; writers copy under mu.
type keyTable struct {
	byName map[string]Key
	names  []string // index = Key
}

var (
	keysMu sync.Mutex
	keys   atomic.Pointer[keyTable]
	// pending holds names added since the last snapshot, so that Intern does
	// not copy the whole table on every new name.
	pending   map[string]Key
	pendNames []string
)

func init() {
	keys.Store(&keyTable{byName: map[string]Key{}, names: []string{""}})
	pending = map[string]Key{}
	initBinaryKeys()
}

// Intern returns the key for name, assigning a new one the first time.
// It is safe for concurrent use; the common case (a known name) takes no lock.
func Intern(name string) Key {
	t := keys.Load()
	if k, ok := t.byName[name]; ok {
		return k
	}
	return internSlow(name)
}

func internSlow(name string) Key {
	keysMu.Lock()
	defer keysMu.Unlock()
	t := keys.Load()
	if k, ok := t.byName[name]; ok {
		return k
	}
	if k, ok := pending[name]; ok {
		// Publish the pending names so the next lookup is lock-free.
		publishLocked()
		return k
	}
	n := len(t.names) + len(pendNames)
	if n >= MaxKeys {
		return OverflowKey
	}
	k := Key(n)
	name = string([]byte(name)) // own the bytes: callers may pass unsafe strings
	pending[name] = k
	pendNames = append(pendNames, name)
	// Publish in growing batches: amortized O(1) per name, and a name seen
	// twice is published at once.
	if len(pendNames) >= len(t.names)/4+1 {
		publishLocked()
	}
	return k
}

func publishLocked() {
	if len(pendNames) == 0 {
		return
	}
	t := keys.Load()
	nt := &keyTable{
		byName: make(map[string]Key, len(t.byName)+len(pending)),
		names:  make([]string, len(t.names), len(t.names)+len(pendNames)),
	}
	for n, k := range t.byName {
		nt.byName[n] = k
	}
	copy(nt.names, t.names)
	for n, k := range pending {
		nt.byName[n] = k
	}
	nt.names = append(nt.names, pendNames...)
	keys.Store(nt)
	pending = map[string]Key{}
	pendNames = nil
}

// Lookup returns the key of name if it has been interned.
func Lookup(name string) (Key, bool) {
	t := keys.Load()
	if k, ok := t.byName[name]; ok {
		return k, true
	}
	keysMu.Lock()
	defer keysMu.Unlock()
	k, ok := pending[name]
	return k, ok
}

// Name returns the field name of k.
func (k Key) Name() string {
	if k == OverflowKey {
		return "_overflow"
	}
	t := keys.Load()
	if int(k) < len(t.names) {
		return t.names[k]
	}
	keysMu.Lock()
	defer keysMu.Unlock()
	publishLocked()
	t = keys.Load()
	if int(k) < len(t.names) {
		return t.names[k]
	}
	return ""
}

// NumKeys returns how many names have been interned.
func NumKeys() int {
	keysMu.Lock()
	defer keysMu.Unlock()
	return len(keys.Load().names) + len(pendNames) - 1
}
