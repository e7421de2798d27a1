package db

import (
	"context"
	"fmt"
	"time"
)

// EcosystemStatus counts the stored advisories of one ecosystem.
type EcosystemStatus struct {
	Ecosystem  string    `json:"ecosystem"`
	Advisories int       `json:"advisories"`
	Packages   int       `json:"packages"`
	Newest     time.Time `json:"newest_modified"`
}

// SourceStatus says when a kind of data ("osv:Go", "kev", "epss") was last
// imported and how old the data itself is.
type SourceStatus struct {
	Name       string    `json:"name"`
	ImportedAt time.Time `json:"imported_at"`
	DataTime   time.Time `json:"data_time"`
	Detail     string    `json:"detail"`
}

// Status describes the database's content.
type Status struct {
	Path       string            `json:"path"`
	Advisories int               `json:"advisories"`
	Aliases    int               `json:"aliases"`
	KEV        int               `json:"kev"`
	EPSS       int               `json:"epss"`
	Ecosystems []EcosystemStatus `json:"ecosystems"`
	Sources    []SourceStatus    `json:"sources"`
}

// Status counts the database's content per ecosystem and source.
func (db *DB) Status(ctx context.Context) (*Status, error) {
	s := &Status{Path: db.path}
	for _, c := range []struct {
		n *int
		q string
	}{
		{&s.Advisories, `SELECT count(*) FROM advisories`},
		{&s.Aliases, `SELECT count(*) FROM aliases`},
		{&s.KEV, `SELECT count(*) FROM kev`},
		{&s.EPSS, `SELECT count(*) FROM epss`},
	} {
		if err := db.sql.QueryRowContext(ctx, c.q).Scan(c.n); err != nil {
			return nil, fmt.Errorf("reading database status: %w", err)
		}
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT f.ecosystem, count(DISTINCT f.advisory), count(DISTINCT f.name), max(a.modified)
		FROM affected f JOIN advisories a ON a.id = f.advisory GROUP BY f.ecosystem ORDER BY f.ecosystem`)
	if err != nil {
		return nil, fmt.Errorf("reading database status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e      EcosystemStatus
			newest string
		)
		if err := rows.Scan(&e.Ecosystem, &e.Advisories, &e.Packages, &newest); err != nil {
			return nil, fmt.Errorf("reading database status: %w", err)
		}
		e.Newest, _ = time.Parse(timeLayout, newest)
		s.Ecosystems = append(s.Ecosystems, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading database status: %w", err)
	}
	rows2, err := db.sql.QueryContext(ctx, `SELECT name, imported_at, data_time, detail FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("reading database status: %w", err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var (
			src      SourceStatus
			imp, dat string
		)
		if err := rows2.Scan(&src.Name, &imp, &dat, &src.Detail); err != nil {
			return nil, fmt.Errorf("reading database status: %w", err)
		}
		src.ImportedAt, _ = time.Parse(timeLayout, imp)
		src.DataTime, _ = time.Parse(timeLayout, dat)
		s.Sources = append(s.Sources, src)
	}
	return s, rows2.Err()
}

// DataTime is when the newest data in the database was published or last
// refreshed: the latest of the sources' data times and import times. A
// scan reports the database's age from it (and never refuses to run
// because of it).
func (s *Status) DataTime() time.Time {
	var t time.Time
	for _, src := range s.Sources {
		if src.ImportedAt.After(t) {
			t = src.ImportedAt
		}
	}
	return t
}

// LastImport is when data was last imported (zero for an empty database):
// what vigil scan reports the data's age from, without counting the
// whole database as Status does.
func (db *DB) LastImport(ctx context.Context) (time.Time, error) {
	var last string
	if err := db.sql.QueryRowContext(ctx, `SELECT coalesce(max(imported_at), '') FROM sources`).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("reading database status: %w", err)
	}
	if last == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, last)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading database status: import time %q: %w", last, err)
	}
	return t, nil
}
