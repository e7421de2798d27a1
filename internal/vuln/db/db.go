// Package db is Vigil's local advisory database: OSV records, the CISA
// Known Exploited Vulnerabilities catalog and FIRST EPSS scores in one
// SQLite file, indexed by (ecosystem, package name) so that matching a
// package is one lookup, and by alias so that one vulnerability published
// under several identifiers (GO-…, GHSA-…, CVE-…) is one finding.
//
// An import is one transaction however many files, folders and archives it
// reads: a file that cannot be read whole changes nothing. Re-importing
// replaces a record by id unless the stored one was modified later.
package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/vigilsec/vigil/internal/vuln/osv"
)

// FileName is the database file's name inside its directory.
const FileName = "vulndb.sqlite"

// ErrNoDatabase is returned by Open with ReadOnly when there is no
// database in the directory yet.
var ErrNoDatabase = errors.New("no advisory database")

const schemaVersion = 1

var schema = []string{
	`CREATE TABLE IF NOT EXISTS advisories (
		id TEXT PRIMARY KEY,
		modified TEXT NOT NULL,
		source TEXT NOT NULL,
		record BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS affected (
		advisory TEXT NOT NULL,
		ecosystem TEXT NOT NULL,
		name TEXT NOT NULL,
		idx INTEGER NOT NULL,
		data BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS affected_package ON affected(ecosystem, name)`,
	`CREATE INDEX IF NOT EXISTS affected_advisory ON affected(advisory)`,
	// kind is "alias" (the same vulnerability) or "upstream" (the one a
	// distribution's advisory derives from).
	`CREATE TABLE IF NOT EXISTS aliases (
		alias TEXT NOT NULL,
		advisory TEXT NOT NULL,
		kind TEXT NOT NULL,
		PRIMARY KEY (alias, advisory)
	) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS aliases_advisory ON aliases(advisory)`,
	`CREATE TABLE IF NOT EXISTS kev (
		cve TEXT PRIMARY KEY,
		date_added TEXT NOT NULL,
		due_date TEXT NOT NULL,
		ransomware TEXT NOT NULL,
		vendor TEXT NOT NULL,
		product TEXT NOT NULL,
		name TEXT NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS epss (
		cve TEXT PRIMARY KEY,
		score REAL NOT NULL,
		percentile REAL NOT NULL
	) WITHOUT ROWID`,
	// sources says when each kind of data was last imported and how old
	// the data itself is (KEV's dateReleased, EPSS's score_date, the
	// newest OSV modified time per ecosystem).
	`CREATE TABLE IF NOT EXISTS sources (
		name TEXT PRIMARY KEY,
		imported_at TEXT NOT NULL,
		data_time TEXT NOT NULL,
		detail TEXT NOT NULL
	) WITHOUT ROWID`,
}

// DB is an open advisory database.
type DB struct {
	sql  *sql.DB
	path string
	// Limits bound what an import reads; Open sets DefaultLimits.
	Limits Limits
	// HTTPClient fetches the http:// and https:// paths of an import;
	// Open sets one with a 30-minute timeout.
	HTTPClient *http.Client
	now        func() time.Time
}

// Options configure Open.
type Options struct {
	// ReadOnly opens an existing database for lookups only (vigil scan);
	// a missing one is ErrNoDatabase.
	ReadOnly bool
}

// Open opens (creating it unless opts.ReadOnly) the database in dir.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	if strings.ContainsAny(dir, "?#") {
		return nil, fmt.Errorf("advisory database directory %q: ? and # are not allowed in the path", dir)
	}
	path := filepath.Join(dir, FileName)
	q := []string{"_pragma=busy_timeout(10000)", "_pragma=temp_store(memory)"}
	if opts.ReadOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s (vigil vulndb import fills it)", ErrNoDatabase, dir)
		}
		q = append(q, "_pragma=query_only(1)")
	} else {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("creating advisory database directory: %w", err)
		}
		// An import's transaction takes the write lock when it begins, so
		// that two imports queue (busy_timeout) instead of failing when
		// the second upgrades its read lock.
		q = append(q, "_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)", "_txlock=immediate")
	}
	sdb, err := sql.Open("sqlite", "file:"+path+"?"+strings.Join(q, "&"))
	if err != nil {
		return nil, fmt.Errorf("opening advisory database %s: %w", path, err)
	}
	db := &DB{sql: sdb, path: path, Limits: DefaultLimits, HTTPClient: &http.Client{Timeout: 30 * time.Minute}, now: time.Now}
	if err := db.migrate(ctx, opts.ReadOnly); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context, readOnly bool) error {
	var v int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("opening advisory database %s: %w", db.path, err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("advisory database %s has schema version %d, newer than this vigil's %d", db.path, v, schemaVersion)
	case readOnly:
		return fmt.Errorf("advisory database %s has schema version %d, want %d: run vigil vulndb import to upgrade it", db.path, v, schemaVersion)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating advisory database %s: %w", db.path, err)
	}
	defer tx.Rollback()
	for _, s := range schema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating advisory database %s: %w", db.path, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", schemaVersion)); err != nil {
		return fmt.Errorf("creating advisory database %s: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating advisory database %s: %w", db.path, err)
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Entry is one affected package of one advisory.
type Entry struct {
	Advisory string
	Index    int // in the record's affected list
	Affected osv.Affected
}

// Lookup returns the affected entries naming a package in an ecosystem:
// one indexed query.
func (db *DB) Lookup(ctx context.Context, ecosystem, name string) ([]Entry, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT advisory, idx, data FROM affected WHERE ecosystem = ? AND name = ? ORDER BY advisory, idx`, ecosystem, name)
	if err != nil {
		return nil, fmt.Errorf("looking up %s %s: %w", ecosystem, name, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e    Entry
			data []byte
		)
		if err := rows.Scan(&e.Advisory, &e.Index, &data); err != nil {
			return nil, fmt.Errorf("looking up %s %s: %w", ecosystem, name, err)
		}
		if err := json.Unmarshal(data, &e.Affected); err != nil {
			return nil, fmt.Errorf("looking up %s %s: advisory %s: %w", ecosystem, name, e.Advisory, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up %s %s: %w", ecosystem, name, err)
	}
	return out, nil
}

// Advisory returns a stored record by id, or nil when there is none.
func (db *DB) Advisory(ctx context.Context, id string) (*osv.Record, error) {
	var data []byte
	err := db.sql.QueryRowContext(ctx, `SELECT record FROM advisories WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading advisory %s: %w", id, err)
	}
	var r osv.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading advisory %s: %w", id, err)
	}
	return &r, nil
}

// KEV is an entry of the CISA Known Exploited Vulnerabilities catalog.
type KEV struct {
	CVE        string `json:"cve"`
	DateAdded  string `json:"date_added"`
	DueDate    string `json:"due_date"`
	Ransomware string `json:"known_ransomware_campaign_use"`
	Vendor     string `json:"vendor,omitempty"`
	Product    string `json:"product,omitempty"`
	Name       string `json:"name,omitempty"`
}

// KEV returns the catalog entry of a CVE, if it is in the catalog.
func (db *DB) KEV(ctx context.Context, cve string) (*KEV, error) {
	k := KEV{CVE: cve}
	err := db.sql.QueryRowContext(ctx, `SELECT date_added, due_date, ransomware, vendor, product, name FROM kev WHERE cve = ?`, cve).
		Scan(&k.DateAdded, &k.DueDate, &k.Ransomware, &k.Vendor, &k.Product, &k.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading KEV entry %s: %w", cve, err)
	}
	return &k, nil
}

// EPSS is a CVE's FIRST EPSS score: the probability of exploitation in the
// next 30 days and its percentile among all scored CVEs.
type EPSS struct {
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
}

// EPSS returns a CVE's score, if it has one.
func (db *DB) EPSS(ctx context.Context, cve string) (*EPSS, error) {
	var e EPSS
	err := db.sql.QueryRowContext(ctx, `SELECT score, percentile FROM epss WHERE cve = ?`, cve).Scan(&e.Score, &e.Percentile)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading EPSS score %s: %w", cve, err)
	}
	return &e, nil
}

// Related returns the identifiers known to name the same vulnerability as
// id (the aliases of its record and of records that list it as an alias),
// and the upstream identifiers its record derives from.
func (db *DB) Related(ctx context.Context, id string) (aliases, upstream []string, err error) {
	rows, err := db.sql.QueryContext(ctx, `
		SELECT alias, kind FROM aliases WHERE advisory = ?
		UNION SELECT advisory, kind FROM aliases WHERE alias = ? AND kind = 'alias'`, id, id)
	if err != nil {
		return nil, nil, fmt.Errorf("reading aliases of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, kind string
		if err := rows.Scan(&a, &kind); err != nil {
			return nil, nil, fmt.Errorf("reading aliases of %s: %w", id, err)
		}
		if a == id {
			continue
		}
		if kind == "upstream" {
			upstream = append(upstream, a)
		} else {
			aliases = append(aliases, a)
		}
	}
	return aliases, upstream, rows.Err()
}
