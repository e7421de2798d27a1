package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondAcquireIsRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Previous != "" {
		t.Errorf("fresh directory: Previous = %q, want empty", l.Previous)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("pid %d since", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--data") {
		t.Errorf("error %q: want it to name the owner (%q) and the way out (--data)", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if l2.Previous != "" {
		t.Errorf("after a clean release: Previous = %q, want empty", l2.Previous)
	}
	l2.Release()
}

// TestStaleLockIsTakenOver: a lock file that names a process which no
// longer holds the lock (killed with SIGKILL) is taken over and reported.
func TestStaleLockIsTakenOver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("pid 4242 since 2026-12-07T09:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire over a stale lock: %v", err)
	}
	defer l.Release()
	if l.Previous != "pid 4242 since 2026-12-07T09:00:00Z" {
		t.Errorf("Previous = %q, want the stale owner", l.Previous)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if want := fmt.Sprintf("pid %d since", os.Getpid()); !strings.HasPrefix(string(b), want) {
		t.Errorf("lock file %q, want it to name this process", b)
	}
}

func TestGarbageLockFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("pid x\x00\xff"), 0o600)
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Previous != "" {
		t.Errorf("Previous = %q from a garbage file, want empty", l.Previous)
	}
}
