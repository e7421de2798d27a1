package file

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// fileID identifies a file independently of its name.
type fileID struct {
	Dev uint64
	Ino uint64
}

// savedFile is one file's entry in the state file.
type savedFile struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	// FPLen bytes at the start of the file hash to FP (hex SHA-256).
	FPLen int    `json:"fp_len"`
	FP    string `json:"fp"`
}

type stateDoc struct {
	Version int         `json:"version"`
	Files   []savedFile `json:"files"`
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (map[fileID]savedFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[fileID]savedFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading file offsets %q: %w", path, err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decoding file offsets %q: %w", path, err)
	}
	m := make(map[fileID]savedFile, len(doc.Files))
	for _, f := range doc.Files {
		m[fileID{f.Dev, f.Ino}] = f
	}
	return m, nil
}

// saveState writes the state atomically: a temp file in the same directory,
// synced, renamed over the old one, and the directory synced.
func saveState(path string, files map[fileID]savedFile) error {
	doc := stateDoc{Version: 1, Files: make([]savedFile, 0, len(files))}
	for _, f := range files {
		doc.Files = append(doc.Files, f)
	}
	sort.Slice(doc.Files, func(i, j int) bool { return doc.Files[i].Path < doc.Files[j].Path })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding file offsets: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving file offsets: %w", err)
	}
	return nil
}

// fingerprint hashes the first n bytes of f (fewer if the file is shorter)
// and returns the hash and the number of bytes hashed.
func fingerprint(f *os.File, n int) (string, int, error) {
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	sum := sha256.Sum256(buf[:m])
	return hex.EncodeToString(sum[:]), m, nil
}
