package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

// TestSQLiteErrorClasses: the driver's errors of a unique key and of a
// writer held out past the busy timeout are classified as such, also
// wrapped, and other errors are neither.
func TestSQLiteErrorClasses(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if _, _, err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	b := NewSQLite(db)
	if b.Name() != "sqlite" || b.DB() != db || b.Schema() != SQLite {
		t.Fatalf("backend: got %q %p %p, want sqlite, the database, SQLite", b.Name(), b.DB(), b.Schema())
	}
	insert := `INSERT INTO users (id, username, hash, role, created) VALUES (?, ?, '', 'admin', 0)`
	if _, err := db.Exec(insert, "u1", "alice"); err != nil {
		t.Fatal(err)
	}
	_, errPK := db.Exec(insert, "u1", "bob")
	_, errUnique := db.Exec(insert, "u2", "alice")
	_, errSyntax := db.Exec(`INSERT INTO nowhere VALUES (1)`)

	// A second connection that wants to write while the first holds the
	// write lock gives up at once with a busy timeout of 0.
	other := openDBAt(t, db, "&_pragma=busy_timeout(0)")
	hold, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	_, errBusy := other.BeginTx(ctx, nil)

	for _, tt := range []struct {
		name              string
		err               error
		unique, retryable bool
	}{
		{"primary key", errPK, true, false},
		{"unique index", errUnique, true, false},
		{"wrapped", fmt.Errorf("storing user: %w", errUnique), true, false},
		{"syntax", errSyntax, false, false},
		{"busy", errBusy, false, true},
		{"nil", nil, false, false},
		{"sentinel", fmt.Errorf("x: %w", ErrRetryable), false, true},
		{"other", errors.New("UNIQUE"), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUniqueViolation(tt.err); got != tt.unique {
				t.Errorf("IsUniqueViolation(%v): got %v, want %v", tt.err, got, tt.unique)
			}
			if got := IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable(%v): got %v, want %v", tt.err, got, tt.retryable)
			}
		})
	}
}

// openDBAt opens a second handle on the file of db with extra parameters.
func openDBAt(t *testing.T, db *sql.DB, extra string) *sql.DB {
	t.Helper()
	var file string
	if err := db.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(WAL)&_txlock=immediate"+extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}
