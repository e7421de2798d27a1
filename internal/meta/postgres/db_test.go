package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/meta/postgres"
)

func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }

// emptySchema returns a database handle on a fresh, unmigrated schema and
// the DSN that reaches it.
func emptySchema(t *testing.T) (*sql.DB, string) {
	t.Helper()
	c := metatest.PostgresCluster(t)
	_, dsn := c.Schema(t, "")
	db, err := postgres.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db, _ := emptySchema(t)
	s := postgres.Schema
	if s.Latest() != meta.SQLite.Latest() {
		t.Fatalf("latest version: got %d, want SQLite's %d", s.Latest(), meta.SQLite.Latest())
	}
	for i, m := range s.Steps {
		if m.Version != i+1 || m.Name == "" {
			t.Errorf("step %d: version %d name %q, want version %d and a name", i, m.Version, m.Name, i+1)
		}
		from, to, err := s.MigrateTo(ctx, db, m.Version)
		if err != nil {
			t.Fatalf("step %d: %v", m.Version, err)
		}
		if from != m.Version-1 || to != m.Version {
			t.Errorf("step %d: migrated %d -> %d", m.Version, from, to)
		}
	}
	from, to, err := s.Migrate(ctx, db)
	if err != nil || from != s.Latest() || to != s.Latest() {
		t.Errorf("second run: %d -> %d, %v; want nothing to do", from, to, err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, 'from the future', 0)`, s.Latest()+1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Migrate(ctx, db); !errors.Is(err, meta.ErrTooNew) {
		t.Errorf("database of a newer version: got %v, want ErrTooNew", err)
	}
}

// TestConcurrentMigrate: four processes' worth of handles migrate one
// new database at once; each step runs once.
func TestConcurrentMigrate(t *testing.T) {
	_, dsn := emptySchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := postgres.OpenDB(dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			_, _, err = postgres.Schema.Migrate(context.Background(), db)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestSchemaMatchesSQLite: at the latest version both engines have the
// same tables, each with the same columns, and the same indexes. (The
// explicit rowid of the PostgreSQL tables listed in insertion order is
// SQLite's implicit one.)
func TestSchemaMatchesSQLite(t *testing.T) {
	lite := metatest.Open(t)
	pg := metatest.OpenPostgres(t)
	shape := func(db *sql.DB, tablesQ, indexesQ string) (map[string][]string, []string) {
		t.Helper()
		tables := map[string][]string{}
		for _, name := range strs(t, db, tablesQ) {
			if name == "schema_migrations" {
				continue
			}
			var cols []string
			for _, c := range strs(t, db, `SELECT name FROM pragma_table_info(?)`, name) {
				if c != "rowid" {
					cols = append(cols, c)
				}
			}
			sort.Strings(cols)
			tables[name] = cols
		}
		return tables, strs(t, db, indexesQ)
	}
	lt, li := shape(lite, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
		`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name`)
	pt, pi := shape(pg, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`,
		`SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key' ORDER BY 1`)
	if d := cmp.Diff(lt, pt); d != "" {
		t.Errorf("tables and columns differ (-sqlite +postgres):\n%s", d)
	}
	if d := cmp.Diff(li, pi); d != "" {
		t.Errorf("indexes differ (-sqlite +postgres):\n%s", d)
	}
}

func strs(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDriver: what the driver does between the domain packages' SQL and
// PostgreSQL, against the server.
func TestDriver(t *testing.T) {
	ctx := context.Background()
	db := metatest.OpenPostgres(t)
	hostile := []string{"a\x00b", "\xff\xfe", "x\uE000y", "'; DROP TABLE users; --", "?", "plain"}
	for i, name := range hostile {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, username, hash, role, created, disabled) VALUES (?, ?, '?', 'admin', ?, ?)`,
			fmt.Sprint("u", i), name, int64(1)<<62, i%2 == 0); err != nil {
			t.Fatalf("inserting %q: %v", name, err)
		}
	}
	for i, name := range hostile {
		var id, hash string
		var disabled bool
		var created int64
		if err := db.QueryRowContext(ctx, `SELECT id, hash, created, disabled FROM users WHERE username = ?`, name).Scan(&id, &hash, &created, &disabled); err != nil {
			t.Fatalf("looking up %q: %v", name, err)
		}
		if id != fmt.Sprint("u", i) || hash != "?" || created != 1<<62 || disabled != (i%2 == 0) {
			t.Errorf("user %q: got %s %q %d %v, want u%d \"?\" %d %v", name, id, hash, created, disabled, i, int64(1)<<62, i%2 == 0)
		}
	}
	got := strs(t, db, `SELECT username FROM users ORDER BY id`)
	if d := cmp.Diff(hostile, got); d != "" {
		t.Errorf("usernames read back (-want +got):\n%s", d)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO users (id, username, hash, role, created) VALUES ('u9', ?, '', 'admin', 0)`, "plain")
	if !meta.IsUniqueViolation(err) {
		t.Errorf("duplicate username: got %v, want a unique violation", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_log SET actor = 'x'`); err != nil {
		t.Errorf("update of no rows: %v", err)
	}
}

// TestWriterLock: read-then-write transactions from two handles (two
// processes) on one database never lose an update: each transaction
// holds the writer lock from its start.
func TestWriterLock(t *testing.T) {
	ctx := context.Background()
	db1 := metatest.OpenPostgresAt(t, "writer-lock")
	db2 := metatest.OpenPostgresAt(t, "writer-lock")
	if _, err := db1.Exec(`INSERT INTO suppressions (id, rule_id, query, reason, author, created) VALUES ('s', '*', '', '', '', 0)`); err != nil {
		t.Fatal(err)
	}
	const each = 50
	var wg sync.WaitGroup
	for _, db := range []*sql.DB{db1, db2, db1, db2} {
		wg.Go(func() {
			for range each {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				var n int64
				if err := tx.QueryRow(`SELECT hits FROM suppressions WHERE id = 's'`).Scan(&n); err != nil {
					t.Error(err)
					tx.Rollback()
					return
				}
				if _, err := tx.Exec(`UPDATE suppressions SET hits = ? WHERE id = 's'`, n+1); err != nil {
					t.Error(err)
					tx.Rollback()
					return
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int64
	if err := db1.QueryRow(`SELECT hits FROM suppressions WHERE id = 's'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4*each {
		t.Errorf("hits after %d read-then-write transactions: got %d, want %d", 4*each, n, 4*each)
	}
}

// TestAuditConcurrentProcesses: two handles (as two processes) append to
// the audit log at once, alone and inside larger transactions; the chain
// verifies and holds every entry.
func TestAuditConcurrentProcesses(t *testing.T) {
	ctx := context.Background()
	db1 := metatest.OpenPostgresAt(t, "audit")
	db2 := metatest.OpenPostgresAt(t, "audit")
	var logs []*audit.Log
	for _, db := range []*sql.DB{db1, db2} {
		l, err := audit.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		l, db := logs[w%2], []*sql.DB{db1, db2}[w%2]
		wg.Go(func() {
			for i := range each {
				var err error
				if i%2 == 0 {
					err = l.Record(ctx, fmt.Sprint("w", w), "test.append", fmt.Sprint(i), nil, map[string]string{"v": "\x00\xff"})
				} else {
					err = inTx(ctx, db, func(tx *sql.Tx) error {
						return l.RecordTx(ctx, tx, audit.Entry{Actor: fmt.Sprint("w", w), Action: "test.a", Target: fmt.Sprint(i)},
							audit.Entry{Actor: fmt.Sprint("w", w), Action: "test.b", Target: fmt.Sprint(i)})
					})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := int64(writers * (each/2 + each%2 + 2*(each/2)))
	rep, err := audit.Verify(ctx, db2)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries != want || rep.HeadSeq != want {
		t.Errorf("Verify: got %+v (break %+v), want OK with %d entries", rep, rep.Break, want)
	}
}

func inTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// TestAuditAppendOnly: the triggers refuse changing, deleting and
// truncating entries, with SQLite's messages.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := metatest.OpenPostgres(t)
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "admin", "user.create", "u1", nil, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`,
		`DELETE FROM audit_log WHERE seq = 1`,
		`TRUNCATE audit_log`,
		`INSERT INTO audit_log (id, time, actor, action, target, seq, prev, hash) SELECT id, time, actor, action, target, seq, prev, hash FROM audit_log WHERE seq = 1
			ON CONFLICT (id) DO UPDATE SET actor = 'mallory'`,
		`INSERT INTO audit_log (id, time, actor, action, target) VALUES ('x', 1, 'mallory', 'user.create', 'u')`,
	} {
		_, err := db.ExecContext(ctx, q)
		if err == nil {
			t.Errorf("%s: got nil error, want it refused", q)
		} else if !strings.Contains(err.Error(), "append-only") && !strings.Contains(err.Error(), "null value") {
			t.Errorf("%s: got %v, want the append-only trigger's error or a NOT NULL violation", q, err)
		}
	}
	rep, err := l.Verify(ctx)
	if err != nil || !rep.OK || rep.Entries != 1 {
		t.Errorf("Verify: got %+v, %v; want OK with 1 entry", rep, err)
	}
}
