package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenWithMeta: with Options.Meta the store hands out that database,
// creates no meta.db of its own, and closes it when it closes.
func TestOpenWithMeta(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	other, err := OpenMeta(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	db, err := Open(ctx, dir, Options{Meta: other})
	if err != nil {
		t.Fatal(err)
	}
	if db.Meta() != other {
		t.Errorf("Meta: got %p, want the database of Options.Meta %p", db.Meta(), other)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("meta.db in the data directory: got %v, want none", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.PingContext(ctx); err == nil {
		t.Error("Options.Meta after the store closed: got an open database, want it closed")
	}
}
