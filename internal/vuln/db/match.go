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

// Matcher matches package versions against the database, compiling each
// package's advisories once (one indexed lookup per distinct package).
// It is safe for concurrent use; its cache lives as long as it does.
type Matcher struct {
	db    *DB
	mu    sync.Mutex
	cache map[[2]string][]compiled
}

type compiled struct {
	advisory string
	idx      int
	pkg      osv.Package
	m        *osv.Matcher
}

// Matcher returns a new matcher over the database.
func (db *DB) Matcher() *Matcher {
	return &Matcher{db: db, cache: map[[2]string][]compiled{}}
}

// Match returns the advisories whose ranges for (ecosystem, name) include
// version. For Debian and Ubuntu, name is the source package: the
// distributions' advisories name source packages.
func (m *Matcher) Match(ctx context.Context, ecosystem, name, version string) ([]Hit, error) {
	key := [2]string{ecosystem, name}
	m.mu.Lock()
	cs, ok := m.cache[key]
	m.mu.Unlock()
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
		m.cache[key] = cs
		m.mu.Unlock()
	}
	var hits []Hit
	for _, c := range cs {
		if mt, ok := c.m.Match(version); ok {
			hits = append(hits, Hit{Advisory: c.advisory, Package: c.pkg, Affected: c.idx, Match: mt})
		}
	}
	return hits, nil
}
