// Package atomicfile replaces a small file whole or not at all: the
// content goes to a temporary file beside it, is fsynced, and is renamed
// over the old one, whose directory is then fsynced, so that a crash
// leaves either the old content or the new, never a mix, and the new
// one survives a power loss once Write returned. State files use it: the
// agent's identity, the server's agent CA, file offsets, a migration's
// position.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with b (created with mode when new).
func Write(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
