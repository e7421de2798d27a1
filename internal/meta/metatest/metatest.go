// Package metatest helps the tests of the packages that keep state in the
// metadata database: it opens a migrated database, in SQLite in a test's
// temporary directory or in PostgreSQL in a schema of its own on a
// private cluster (Engines runs a test once per engine), and checks with
// EXPLAIN QUERY PLAN that a hot-path statement reaches its rows through an
// index instead of scanning a table (SQLite's plans).
package metatest

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/meta"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// DSN returns the data source name of the metadata database at path,
// opened the way the store opens meta.db: WAL, a busy timeout, and write
// transactions that begin IMMEDIATE.
func DSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

// Engine names a metadata database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// engines maps the name of a test that Engines started to its engine.
var engines sync.Map

// Engines runs f as a subtest per engine, named after it ("sqlite",
// "postgres"); within f and its subtests, Open and OpenPath open that
// engine's database. The PostgreSQL subtest skips where PostgreSQL is not
// installed, and fails there when the CI environment variable is set.
func Engines(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, e := range []Engine{SQLite, Postgres} {
		t.Run(string(e), func(t *testing.T) {
			if e == Postgres {
				PostgresCluster(t)
			}
			engines.Store(t.Name(), e)
			t.Cleanup(func() { engines.Delete(t.Name()) })
			f(t)
		})
	}
}

// EngineOf returns the engine that Open gives tb: the one of the Engines
// subtest tb is in, or SQLite.
func EngineOf(tb testing.TB) Engine {
	name := tb.Name()
	for {
		if e, ok := engines.Load(name); ok {
			return e.(Engine)
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return SQLite
		}
		name = name[:i]
	}
}

// Open returns a database at the latest schema of the test's engine (in
// SQLite, in a temporary directory), closed when the test ends.
func Open(tb testing.TB) *sql.DB {
	tb.Helper()
	if EngineOf(tb) == Postgres {
		return openPostgres(tb, "")
	}
	return OpenPath(tb, filepath.Join(tb.TempDir(), "meta.db"))
}

// OpenPath opens (and migrates) the database at path, closed when the test
// ends. Tests that reopen a database after a restart use it. In
// PostgreSQL, path names a schema: each OpenPath of one path opens the
// same one.
func OpenPath(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	if EngineOf(tb) == Postgres {
		return openPostgres(tb, path)
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, _, err := meta.Migrate(context.Background(), db); err != nil {
		tb.Fatalf("migrating %s: %v", path, err)
	}
	return db
}

// Plan returns the lines of EXPLAIN QUERY PLAN for query with args.
func Plan(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}

// indexed matches a plan line that reaches a table's rows by a key: an
// index (covering or not), the primary key of a WITHOUT ROWID table, or
// the rowid.
var indexed = regexp.MustCompile(`^SEARCH \S+( AS \S+)? USING (INDEX|COVERING INDEX|PRIMARY KEY|INTEGER PRIMARY KEY|ROWID)\b`)

// Problems returns the lines of a plan that read a table without a key:
// a SCAN of a table (a full table or index scan), or a SEARCH that uses
// neither an index nor a primary key. Other lines (a temporary B-tree for
// ORDER BY, a subquery's heading) are no table access and pass.
func Problems(plan []string) []string {
	var bad []string
	for _, l := range plan {
		switch {
		case l == "SCAN CONSTANT ROW":
		case strings.HasPrefix(l, "SCAN "):
			bad = append(bad, l)
		case strings.HasPrefix(l, "SEARCH ") && !indexed.MatchString(l):
			bad = append(bad, l)
		}
	}
	return bad
}

// Statement is one hot-path statement with representative arguments.
type Statement struct {
	// Name says where the statement comes from (a constant, or the
	// function whose statement the test mirrors).
	Name  string
	Query string
	Args  []any
	// Index, when set, is the index the plan must use: the one that makes
	// the statement cost the rows it returns. An index that only narrows
	// the search (a status and time range, where the key names one row)
	// is a scan of every open row by another name.
	Index string
	// Sorts allows a temporary B-tree for ORDER BY (which sorts the rows
	// one key found, not the table); without it such a line fails too.
	Sorts bool
}

// CheckIndexed runs EXPLAIN QUERY PLAN on every statement against db and
// fails the test for each one that reads a table without a key (in a
// PostgreSQL subtest of Engines it checks nothing). The
// metadata database is never ANALYZEd, so the plans of a migrated empty
// database are the plans production runs.
func CheckIndexed(t *testing.T, db *sql.DB, stmts []Statement) {
	t.Helper()
	if EngineOf(t) == Postgres {
		// The plans are SQLite's; the same test checks them in its
		// sqlite subtest.
		return
	}
	for _, s := range stmts {
		t.Run(s.Name, func(t *testing.T) {
			plan, err := Plan(context.Background(), db, s.Query, s.Args...)
			if err != nil {
				t.Fatalf("EXPLAIN QUERY PLAN: %v\n%s", err, s.Query)
			}
			t.Logf("plan: %q", plan)
			bad := Problems(plan)
			if !s.Sorts {
				for _, l := range plan {
					if strings.HasPrefix(l, "USE TEMP B-TREE") {
						bad = append(bad, l)
					}
				}
			}
			if s.Index != "" && !usesIndex(plan, s.Index) {
				t.Errorf("plan uses the wrong index: got %q, want a SEARCH using index %s\n%s", plan, s.Index, s.Query)
			}
			if len(bad) > 0 {
				t.Errorf("plan reads without an index: got %q in plan %q, want every table reached by SEARCH ... USING an index or primary key\n%s", bad, plan, s.Query)
			}
		})
	}
}

// usesIndex reports whether a plan searches by the index named name.
func usesIndex(plan []string, name string) bool {
	for _, l := range plan {
		if strings.HasPrefix(l, "SEARCH ") && (strings.Contains(l, " INDEX "+name+" ") || strings.HasSuffix(l, " INDEX "+name)) {
			return true
		}
	}
	return false
}
