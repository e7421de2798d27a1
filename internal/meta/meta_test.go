package meta

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "meta.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateFresh(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	from, to, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || to != Latest() {
		t.Errorf("migrated %d -> %d, want 0 -> %d", from, to, Latest())
	}
	from, to, err = Migrate(ctx, db)
	if err != nil || from != Latest() || to != Latest() {
		t.Errorf("second run: %d -> %d, %v; want nothing to do", from, to, err)
	}
	for _, table := range []string{"alerts", "alert_members", "incidents", "incident_actions", "audit_log", "users", "api_tokens",
		"console_sessions", "notify_outbox", "response_blocks", "entity_risk", "suppressions"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: %d, %v", table, n, err)
		}
	}
}

// TestUpgradeFromV0 builds a database as Vigil wrote it before
// migrations (the schema of cc4d348, with rows in it), migrates it, and
// checks that every row is still there and the new columns have their
// defaults.
func TestUpgradeFromV0(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	for _, s := range schemaV0 {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	seed := []string{
		`INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, event, dedup_key) VALUES ('a1', 'r1', 'Rule', 'high', 3, '[]', 4, 1, 2, '{"source.ip":["203.0.113.5"]}', '{}', 'k1')`,
		`INSERT INTO incidents (id, title, status, severity, source, created, updated) VALUES ('i1', 'Incident', 'new', 'high', 'alert', 1, 2)`,
		`INSERT INTO users (id, username, hash, role, created) VALUES ('u1', 'alice', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'admin', 1)`,
		`INSERT INTO api_tokens (id, name, hash, role, created) VALUES ('t1', 'ci', x'00112233', 'admin', 1)`,
		`INSERT INTO audit_log (id, time, actor, action, target) VALUES ('e1', 1, 'alice', 'user.create', 'u1')`,
	}
	for _, s := range seed {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	from, to, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || to != Latest() {
		t.Errorf("migrated %d -> %d, want 0 -> %d", from, to, Latest())
	}
	var count, campaign, n int
	if err := db.QueryRow(`SELECT count, campaign, entity_count FROM alerts WHERE id = 'a1'`).Scan(&count, &campaign, &n); err != nil {
		t.Fatal(err)
	}
	if count != 4 || campaign != 0 || n != 0 {
		t.Errorf("alert after upgrade: count %d campaign %d entity_count %d, want 4 0 0", count, campaign, n)
	}
	for _, q := range []string{`SELECT count(*) FROM incidents WHERE id = 'i1'`, `SELECT count(*) FROM users WHERE username = 'alice'`,
		`SELECT count(*) FROM api_tokens WHERE hash = x'00112233'`, `SELECT count(*) FROM audit_log WHERE id = 'e1'`} {
		var got int
		if err := db.QueryRow(q).Scan(&got); err != nil || got != 1 {
			t.Errorf("%s: %d, %v; want 1", q, got, err)
		}
	}
}

// TestEachStepFromPrevious applies the steps one at a time, each from the
// version before it.
func TestEachStepFromPrevious(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	for _, m := range Migrations() {
		from, to, err := migrateTo(ctx, db, m.Version)
		if err != nil {
			t.Fatalf("step %d: %v", m.Version, err)
		}
		if from != m.Version-1 || to != m.Version {
			t.Errorf("step %d: migrated %d -> %d", m.Version, from, to)
		}
		if v, err := Version(ctx, db); err != nil || v != m.Version {
			t.Errorf("after step %d: version %d, %v", m.Version, v, err)
		}
	}
}

func TestTooNewRefused(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, 'from the future', 0)`, Latest()+1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Migrate(ctx, db); !errors.Is(err, ErrTooNew) {
		t.Errorf("got %v, want ErrTooNew", err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	// The file exists (in WAL mode) before the processes race, as the
	// store creates it when it opens; two first opens of a new file can
	// fail on the WAL switch, which the busy handler does not cover.
	first, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Ping(); err != nil {
		t.Fatal(err)
	}
	first.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			_, _, err = Migrate(ctx, db)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
