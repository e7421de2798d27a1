package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	metaschema "github.com/vigilsec/vigil/internal/meta"
)

// metaCacheKiB is the page cache of each meta.db connection: 1,024 pages
// of 4 KiB. (16 MiB was tried under the storm benchmark: no faster, and
// 35 MB more peak RSS, because a connection's cache is dropped whenever
// another connection commits.)
const metaCacheKiB = 4 << 10

// OpenMeta opens the metadata database of the data directory dir (its
// meta.db, created when missing) exactly as Open does, and migrates it to
// the latest schema. It starts nothing and takes no lock on the directory:
// commands that change state beside a running server (vigil user --data)
// use it, and SQLite's WAL and busy timeout let them share the file with
// the server. The caller closes the database.
func OpenMeta(ctx context.Context, dir string) (*sql.DB, error) {
	// Write transactions on the meta database begin IMMEDIATE: several
	// packages write it concurrently (alerts, incidents, notifications,
	// sessions), and a deferred transaction that reads first and writes
	// later fails with SQLITE_BUSY_SNAPSHOT, which the busy timeout does
	// not retry, whenever another writer commits in between.
	meta, err := sql.Open("sqlite", dsn(filepath.Join(dir, "meta.db"), metaCacheKiB, metaPageSize, false)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening store meta database in %q: %w", dir, err)
	}
	if err := meta.PingContext(ctx); err != nil {
		meta.Close()
		return nil, fmt.Errorf("opening store meta database in %q: %w", dir, err)
	}
	if _, _, err := metaschema.Migrate(ctx, meta); err != nil {
		meta.Close()
		return nil, fmt.Errorf("migrating the metadata database in %q: %w", dir, err)
	}
	return meta, nil
}
