// Package datadir guards a data directory so that one vigil serve at a
// time uses it.
//
// Two servers on one directory would both write its databases and each
// believe it owns the event ids, and neither would say so. The lock is an
// operating-system lock on DATA/vigil.lock (flock on Unix, LockFileEx on
// Windows), held by an open file for the life of the process: the kernel
// releases it when the process ends however it ends, so a lock left by a
// process killed with SIGKILL is never in the way; the file then still
// names that process, which the next start reports as a lock it took over.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrLocked is returned when another process holds the directory's lock.
var ErrLocked = errors.New("data directory is in use by another process")

// FileName is the lock file's name inside the data directory.
const FileName = "vigil.lock"

// Lock is a held lock on a data directory.
type Lock struct {
	f *os.File
	// Previous describes the process that last held the lock and did not
	// release it cleanly ("pid 1234 since 2026-12-07T09:00:00Z"), or "".
	Previous string
}

// Acquire locks dir, which must exist. When another process holds the
// lock it returns an error wrapping ErrLocked that names that process.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	owner := readOwner(f)
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := "another vigil process"
			if owner != "" {
				who = "another vigil process (" + owner + ")"
			}
			return nil, fmt.Errorf("%w: %s is used by %s; stop it first, or give this server its own --data", ErrLocked, dir, who)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	l := &Lock{f: f, Previous: owner}
	// Name this process in the file, for the message another start gives.
	stamp := fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(stamp), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("writing lock file: %w", err)
		}
	}
	return l, nil
}

// readOwner returns the owner line the lock file holds, or "".
func readOwner(f *os.File) string {
	b := make([]byte, 128)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if !strings.HasPrefix(s, "pid ") {
		return ""
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if _, err := strconv.Atoi(strings.Fields(s + " x")[1]); err != nil {
		return ""
	}
	return s
}

// Release empties the lock file and releases the lock. A clean release
// leaves nothing for the next start to report.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	terr := l.f.Truncate(0)
	uerr := unlockFile(l.f)
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(terr, uerr, cerr)
}
