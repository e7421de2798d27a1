package db

import (
	"context"
	"sync"

	"github.com/vigilsec/vigil/internal/vuln/osv"
)

// Hit is an advisory whose affected ranges include a package version.
type Hit struct {
	Advisory string
	Package  osv.Package
	// Affected is the index of the matching entry in the record's
	// affected list; Match the range and interval that include the
	// version (the evidence).
	Affected int
	Match    osv.Match
}

// Matcher matches package versions against the database: one indexed
// lookup per distinct package, each package's advisories compiled once,
// and each distinct (package, version) evaluated once — a fleet shares
// most of its versions, so matching many assets costs little more than
// matching their distinct versions. It is safe for concurrent use; its
// caches live as long as it does (a scan, a matching run).
type Matcher struct {
	db       *DB
	mu       sync.RWMutex
	packages map[[2]string][]compiled
	results  map[[3]string][]Hit
}

type compiled struct {
	advisory string
	idx      int
	pkg      osv.Package
	m        *osv.Matcher
}

// Matcher returns a new matcher over the database.
func (db *DB) Matcher() *Matcher {
	return &Matcher{db: db, packages: map[[2]string][]compiled{}, results: map[[3]string][]Hit{}}
}

// Match returns the advisories whose ranges for (ecosystem, name) include
// version. For Debian and Ubuntu, name is the source package: the
// distributions' advisories name source packages. The hits are shared
// between callers: do not modify them.
func (m *Matcher) Match(ctx context.Context, ecosystem, name, version string) ([]Hit, error) {
	rkey := [3]string{ecosystem, name, version}
	m.mu.RLock()
	hits, ok := m.results[rkey]
	m.mu.RUnlock()
	if ok {
		return hits, nil
	}
	key := [2]string{ecosystem, name}
	m.mu.RLock()
	cs, ok := m.packages[key]
	m.mu.RUnlock()
	if !ok {
		entries, err := m.db.Lookup(ctx, ecosystem, name)
		if err != nil {
			return nil, err
		}
		cs = make([]compiled, len(entries))
		for i := range entries {
			e := &entries[i]
			cs[i] = compiled{advisory: e.Advisory, idx: e.Index, pkg: e.Affected.Package, m: osv.Compile(&e.Affected)}
		}
		m.mu.Lock()
		m.packages[key] = cs
		m.mu.Unlock()
	}
	for _, c := range cs {
		if mt, ok := c.m.Match(version); ok {
			hits = append(hits, Hit{Advisory: c.advisory, Package: c.pkg, Affected: c.idx, Match: mt})
		}
	}
	m.mu.Lock()
	m.results[rkey] = hits
	m.mu.Unlock()
	return hits, nil
}
