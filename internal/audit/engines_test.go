package audit

import (
	"database/sql"
	"testing"
)

// engineHooks let the tests of this package run on both metadata engines
// without importing metatest, which imports package meta, which imports
// this package for its migration: the external test package sets them
// (engines_ext_test.go).
var engineHooks struct {
	engines    func(t *testing.T, f func(t *testing.T))
	openPath   func(tb testing.TB, path string) *sql.DB
	onPostgres func(tb testing.TB) bool
}

// engines runs f once per engine (metatest.Engines).
func engines(t *testing.T, f func(t *testing.T)) { engineHooks.engines(t, f) }

// onPostgres reports whether tb runs on PostgreSQL, where newLog opens a
// migrated PostgreSQL schema instead of an SQLite file.
func onPostgres(tb testing.TB) bool { return engineHooks.onPostgres(tb) }

// SetEngineHooks is how engines_ext_test.go sets engineHooks.
func SetEngineHooks(e func(t *testing.T, f func(t *testing.T)), open func(tb testing.TB, path string) *sql.DB, pg func(tb testing.TB) bool) {
	engineHooks.engines, engineHooks.openPath, engineHooks.onPostgres = e, open, pg
}
