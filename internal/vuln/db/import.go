package db

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/vuln/osv"
)

// Limits bound what an import reads, against archives and files built to
// exhaust memory or disk (a zip bomb declares small sizes and inflates to
// gigabytes: sizes are counted as the data is read, not taken from the
// headers).
type Limits struct {
	// MaxFileBytes bounds a JSON or CSV file, after gzip decompression.
	MaxFileBytes int64
	// MaxArchiveEntries bounds the entries of one zip archive.
	MaxArchiveEntries int
	// MaxEntryBytes bounds one decompressed archive entry.
	MaxEntryBytes int64
	// MaxArchiveBytes bounds the decompressed size of one archive.
	MaxArchiveBytes int64
	// MaxEPSSRows bounds the rows of an EPSS file.
	MaxEPSSRows int
	// MaxDownloadBytes bounds a file fetched from a URL.
	MaxDownloadBytes int64
}

// DefaultLimits are well above the published data (the largest OSV
// export, Debian's, has tens of thousands of records and a few hundred
// MB; EPSS scores about 300,000 CVEs).
var DefaultLimits = Limits{
	MaxFileBytes:      512 << 20,
	MaxArchiveEntries: 1_000_000,
	MaxEntryBytes:     osv.MaxRecordBytes,
	MaxArchiveBytes:   8 << 30,
	MaxEPSSRows:       5_000_000,
	MaxDownloadBytes:  4 << 30,
}

// ErrLimit is wrapped by an import refused for exceeding a Limits bound.
var ErrLimit = errors.New("import limit exceeded")

// ErrUnsafeName is wrapped by an import refused because an archive entry's
// name is absolute or climbs out of the archive with "..".
var ErrUnsafeName = errors.New("unsafe archive entry name")

// ImportStats counts what an import did.
type ImportStats struct {
	// Files is the number of files read (an archive counts once).
	Files int `json:"files"`
	// Records is the number of OSV records added or replaced.
	Records int `json:"records"`
	// Replaced is how many of Records replaced a stored record.
	Replaced int `json:"replaced"`
	// Older is the number of records skipped because the stored record
	// with the same id was modified later.
	Older int `json:"older"`
	// Withdrawn is the number of withdrawn records (removed if stored).
	Withdrawn int `json:"withdrawn"`
	// Skipped is the number of files and archive entries that are not
	// data (README, directories, other extensions in a folder).
	Skipped int `json:"skipped"`
	// Ecosystems counts the affected packages imported per ecosystem.
	Ecosystems map[string]int `json:"ecosystems"`
	KEV        int            `json:"kev"`
	EPSS       int            `json:"epss"`
}

// importer is one import: one transaction.
type importer struct {
	db    *DB
	tx    *sql.Tx
	stats ImportStats
	now   string
	// newest is the newest modified time per ecosystem imported.
	newest map[string]string

	getModified, delAdvisory, delAffected, delAliases, insAdvisory, insAffected, insAlias *sql.Stmt
}

// timeLayout stores times so that string order is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Import reads OSV records (single JSON files, folders of them, zip
// archives such as OSV's per-ecosystem all.zip), CISA KEV catalogs and
// FIRST EPSS CSV files (gzip-compressed or not), recognised by their
// content, in one transaction: when any of them cannot be read whole, the
// database is left as it was.
func (db *DB) Import(ctx context.Context, paths ...string) (ImportStats, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return ImportStats{}, fmt.Errorf("starting import: %w", err)
	}
	defer tx.Rollback()
	im := &importer{db: db, tx: tx, now: formatTime(db.now()), newest: map[string]string{},
		stats: ImportStats{Ecosystems: map[string]int{}}}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&im.getModified, `SELECT modified FROM advisories WHERE id = ?`},
		{&im.delAdvisory, `DELETE FROM advisories WHERE id = ?`},
		{&im.delAffected, `DELETE FROM affected WHERE advisory = ?`},
		{&im.delAliases, `DELETE FROM aliases WHERE advisory = ?`},
		{&im.insAdvisory, `INSERT INTO advisories (id, modified, source, record) VALUES (?, ?, ?, ?)`},
		{&im.insAffected, `INSERT INTO affected (advisory, ecosystem, name, idx, data) VALUES (?, ?, ?, ?, ?)`},
		{&im.insAlias, `INSERT INTO aliases (alias, advisory, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`},
	} {
		if *p.st, err = tx.PrepareContext(ctx, p.q); err != nil {
			return ImportStats{}, fmt.Errorf("starting import: %w", err)
		}
	}
	for _, p := range paths {
		if err := im.path(ctx, p); err != nil {
			return ImportStats{}, err
		}
	}
	for eco, t := range im.newest {
		if err := im.source(ctx, "osv:"+eco, t, fmt.Sprintf("%d affected packages in the last import", im.stats.Ecosystems[eco])); err != nil {
			return ImportStats{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return ImportStats{}, fmt.Errorf("committing import: %w", err)
	}
	return im.stats, nil
}

func (im *importer) source(ctx context.Context, name, dataTime, detail string) error {
	_, err := im.tx.ExecContext(ctx, `INSERT INTO sources (name, imported_at, data_time, detail) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET imported_at = excluded.imported_at,
			data_time = CASE WHEN excluded.data_time > sources.data_time OR ? THEN excluded.data_time ELSE sources.data_time END,
			detail = excluded.detail`, name, im.now, dataTime, detail, !strings.HasPrefix(name, "osv:"))
	if err != nil {
		return fmt.Errorf("recording import of %s: %w", name, err)
	}
	return nil
}

// path imports a file, a folder (recursively) or a URL.
func (im *importer) path(ctx context.Context, p string) error {
	if strings.HasPrefix(p, "https://") || strings.HasPrefix(p, "http://") {
		return im.url(ctx, p)
	}
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("importing: %w", err)
	}
	if !st.IsDir() {
		return im.file(ctx, p, p)
	}
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("importing: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json", ".zip", ".csv", ".gz":
			return im.file(ctx, path, path)
		}
		im.stats.Skipped++
		return nil
	})
}

// url fetches a file (an all.zip export, the KEV feed, an EPSS file) into
// a temporary file, bounded, and imports it.
func (im *importer) url(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("importing %s: %w", u, err)
	}
	resp, err := im.db.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("importing: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("importing %s: %s", u, resp.Status)
	}
	tmp, err := os.CreateTemp("", "vigil-vulndb-*")
	if err != nil {
		return fmt.Errorf("importing %s: %w", u, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	max := im.db.Limits.MaxDownloadBytes
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("importing %s: %w", u, err)
	}
	if n > max {
		return fmt.Errorf("importing %s: %w: more than %d bytes", u, ErrLimit, max)
	}
	return im.file(ctx, tmp.Name(), u)
}

// file imports one file, recognised by its first bytes; name is how
// errors and the records' source name it (the path, or the URL it was
// fetched from).
func (im *importer) file(ctx context.Context, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("importing %s: not a regular file", name)
	}
	im.stats.Files++
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")) {
		if err := im.archive(ctx, f, st.Size(), name); err != nil {
			return fmt.Errorf("importing %s: %w", name, err)
		}
		return nil
	}
	var r io.Reader = f
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("importing %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := readLimited(r, im.db.Limits.MaxFileBytes)
	if err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	if err := im.data(ctx, data, filepath.Base(name)); err != nil {
		return fmt.Errorf("importing %s: %w", name, err)
	}
	return nil
}

// readLimited reads r whole, or fails past max bytes.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrLimit, max)
	}
	return data, nil
}

// data imports the content of one file: an OSV record, a KEV catalog or
// an EPSS CSV file.
func (im *importer) data(ctx context.Context, data []byte, source string) error {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		var probe struct {
			CatalogVersion  *string          `json:"catalogVersion"`
			Vulnerabilities *json.RawMessage `json:"vulnerabilities"`
		}
		if err := json.Unmarshal(trimmed, &probe); err == nil && probe.CatalogVersion != nil && probe.Vulnerabilities != nil {
			return im.kev(ctx, trimmed)
		}
		r, err := osv.Parse(trimmed)
		if err != nil {
			return err
		}
		return im.record(ctx, r, source)
	case bytes.HasPrefix(trimmed, []byte("#model_version")) || bytes.HasPrefix(trimmed, []byte("cve,")):
		return im.epss(ctx, trimmed)
	}
	return errors.New("not an OSV record, zip archive, KEV catalog or EPSS CSV file")
}

// checkEntryName refuses names that would leave a folder the archive
// were extracted into: absolute paths, drive letters, ".." components.
func checkEntryName(name string) error {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") || len(n) >= 2 && n[1] == ':' || strings.ContainsRune(n, 0) {
		return fmt.Errorf("%w: %q", ErrUnsafeName, name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return fmt.Errorf("%w: %q", ErrUnsafeName, name)
		}
	}
	return nil
}

// archive imports the .json entries of a zip archive.
func (im *importer) archive(ctx context.Context, f io.ReaderAt, size int64, path string) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return err
	}
	lim := im.db.Limits
	if len(zr.File) > lim.MaxArchiveEntries {
		return fmt.Errorf("%w: %d entries, more than %d", ErrLimit, len(zr.File), lim.MaxArchiveEntries)
	}
	files := make([]*zip.File, 0, len(zr.File))
	var declared uint64
	for _, zf := range zr.File {
		if err := checkEntryName(zf.Name); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
			im.stats.Skipped++
			continue
		}
		if zf.UncompressedSize64 > uint64(lim.MaxEntryBytes) {
			return fmt.Errorf("%s: %w: %d bytes, more than %d", zf.Name, ErrLimit, zf.UncompressedSize64, lim.MaxEntryBytes)
		}
		declared += zf.UncompressedSize64
		files = append(files, zf)
	}
	if declared > uint64(lim.MaxArchiveBytes) {
		return fmt.Errorf("%w: %d bytes uncompressed, more than %d", ErrLimit, declared, lim.MaxArchiveBytes)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var total int64
	source := filepath.Base(path)
	for _, zf := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
		// The headers may lie: count what actually inflates.
		data, err := readLimited(rc, min(lim.MaxEntryBytes, lim.MaxArchiveBytes-total))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
		total += int64(len(data))
		r, err := osv.Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
		if err := im.record(ctx, r, source); err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
	}
	return nil
}

// record stores one OSV record, replacing a stored one with the same id
// unless that was modified later; a withdrawn record removes it.
func (im *importer) record(ctx context.Context, r *osv.Record, source string) error {
	modified := formatTime(r.Modified)
	var old string
	err := im.getModified.QueryRowContext(ctx, r.ID).Scan(&old)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", r.ID, err)
	}
	if exists && old > modified {
		im.stats.Older++
		return nil
	}
	if exists {
		for _, st := range []*sql.Stmt{im.delAdvisory, im.delAffected, im.delAliases} {
			if _, err := st.ExecContext(ctx, r.ID); err != nil {
				return fmt.Errorf("%s: %w", r.ID, err)
			}
		}
	}
	if r.Withdrawn != nil {
		im.stats.Withdrawn++
		return nil
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%s: %w", r.ID, err)
	}
	if _, err := im.insAdvisory.ExecContext(ctx, r.ID, modified, source, rec); err != nil {
		return fmt.Errorf("%s: %w", r.ID, err)
	}
	for i, a := range r.Affected {
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("%s: %w", r.ID, err)
		}
		eco := a.Package.Ecosystem
		if _, err := im.insAffected.ExecContext(ctx, r.ID, eco, a.Package.Name, i, data); err != nil {
			return fmt.Errorf("%s: %w", r.ID, err)
		}
		im.stats.Ecosystems[eco]++
		if modified > im.newest[eco] {
			im.newest[eco] = modified
		}
	}
	for kind, ids := range map[string][]string{"alias": r.Aliases, "upstream": r.Upstream} {
		for _, id := range ids {
			if id == r.ID {
				continue
			}
			if _, err := im.insAlias.ExecContext(ctx, id, r.ID, kind); err != nil {
				return fmt.Errorf("%s: %w", r.ID, err)
			}
		}
	}
	im.stats.Records++
	if exists {
		im.stats.Replaced++
	}
	return nil
}
