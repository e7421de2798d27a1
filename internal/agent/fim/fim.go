// Package fim is the agent's file integrity monitoring: it keeps a
// baseline of the files under the watched paths (SHA-256, size, mode,
// owner, mtime, inode), watches them in real time (inotify through
// fsnotify) and scans them in full on a schedule, and reports each
// difference from the baseline as an event (created, modified, deleted,
// attributes_modified) with the values before and after. A kernel queue
// overflow or a watch that cannot be added makes it scan the tree again,
// so that a burst is counted and nothing is missed.
package fim

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults and bounds of Options.
const (
	// DefaultMaxHashSize bounds the files hashed: a larger file is
	// compared by size and mtime only (its events say so).
	DefaultMaxHashSize = 64 << 20
	// DefaultMaxFiles bounds the files in the baseline.
	DefaultMaxFiles = 1_000_000
	// DefaultScanInterval is the period of the scheduled full scans.
	DefaultScanInterval = 12 * time.Hour
	// MinScanInterval is the shortest ScanInterval accepted.
	MinScanInterval = time.Minute
	// DefaultHashRate bounds the bytes hashed a second, so that a scan
	// takes a fraction of a core (SHA-256 runs at 400 MB/s to 2 GB/s).
	DefaultHashRate = 32 << 20
	// MinHashRate is the smallest HashRate accepted.
	MinHashRate = 1 << 20
	// MaxPaths bounds the watched paths and the ignore patterns.
	MaxPaths = 1024
	// BaselineFile is the baseline's file in the agent's data directory.
	BaselineFile = "fim-baseline"
)

// Actions of an Event.
const (
	Created            = "created"
	Modified           = "modified"
	Deleted            = "deleted"
	AttributesModified = "attributes_modified"
)

// Triggers of an Event: what found the change.
const (
	// TriggerRealtime is a change the watches reported.
	TriggerRealtime = "realtime"
	// TriggerScan is a change a full scan found (at start or scheduled).
	TriggerScan = "scan"
	// TriggerRescan is a change a rescan found after a kernel queue
	// overflow or where a watch could not be added.
	TriggerRescan = "rescan"
)

// Why a State carries no SHA-256.
const (
	OmitTooLarge   = "too_large"
	OmitUnreadable = "unreadable"
	OmitSymlink    = "symlink"
)

// Types of a State.
const (
	TypeFile    = "file"
	TypeSymlink = "symlink"
)

// Event is one change of one file.
type Event struct {
	Action string `json:"action"`
	Path   string `json:"path"`
	// Before is the baseline's state (nil for created), After the
	// file's (nil for deleted).
	Before *State `json:"before,omitempty"`
	After  *State `json:"after,omitempty"`
	// Changed names what differs: sha256, size, type, target, mode,
	// uid, gid, mtime, inode.
	Changed []string `json:"changed,omitempty"`
	Trigger string   `json:"trigger"`
}

// State is what the baseline knows of a file.
type State struct {
	Type string `json:"type"`
	Size int64  `json:"size"`
	// Mode holds the permission bits with setuid, setgid and sticky
	// (07777).
	Mode uint32 `json:"mode"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	// Mtime is the modification time in Unix nanoseconds.
	Mtime int64  `json:"mtime"`
	Inode uint64 `json:"inode"`
	// SHA256 is the content's hash in lowercase hex; empty when
	// HashOmitted says why.
	SHA256      string `json:"sha256,omitempty"`
	HashOmitted string `json:"hash_omitted,omitempty"`
	// Target is a symbolic link's target (links are not followed).
	Target string `json:"target,omitempty"`
}

// Health counts what the monitor did since it started.
type Health struct {
	// Files is the number of files in the baseline.
	Files int64
	// Overflows counts kernel queue overflows (each made a rescan).
	Overflows int64
	// WatchErrors counts the failed attempts to watch a directory (the
	// inotify watch limit, say; retried, and the tree rescanned, every
	// minute) and the watches' other errors.
	WatchErrors int64
	// OverLimit counts the times a file was left out of the baseline
	// because it held MaxFiles files.
	OverLimit int64
	// Scans counts the full scans and rescans done.
	Scans int64
}

// Options configure a Monitor.
type Options struct {
	// Paths are the files and directories watched (recursively).
	Paths []string
	// Ignore are glob patterns (filepath.Match) of paths left out: a
	// pattern with a '/' matches the whole path, one without matches
	// the base name. An ignored directory is not entered.
	Ignore []string
	// Dir is where the baseline is kept.
	Dir string
	// MaxHashSize bounds the files hashed (0: DefaultMaxHashSize).
	MaxHashSize int64
	// MaxFiles bounds the baseline (0: DefaultMaxFiles).
	MaxFiles int
	// ScanInterval is the period of full scans (0: DefaultScanInterval).
	ScanInterval time.Duration
	// HashRate bounds the bytes hashed a second (0: DefaultHashRate).
	HashRate int64
	// Emit stores events durably (the agent's disk buffer): the baseline
	// takes a change only once its event is emitted.
	Emit func([]Event) error
	Log  *slog.Logger

	// Test hooks. newWatcher replaces fsnotify; retryInterval is the
	// period of the rescans of unwatched directories (MinScanInterval);
	// onRound is called after each round of changes is handled, onReady
	// once the first scan is done.
	newWatcher    func() (watcher, error)
	retryInterval time.Duration
	onRound       func()
	onReady       func()
}

// Validate fills the defaults and checks the bounds.
func (o *Options) Validate() error {
	if len(o.Paths) == 0 {
		return errors.New("fim: no path to watch")
	}
	if len(o.Paths) > MaxPaths || len(o.Ignore) > MaxPaths {
		return fmt.Errorf("fim: at most %d paths and %d ignore patterns", MaxPaths, MaxPaths)
	}
	for i, p := range o.Paths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("--fim %q: want an absolute path", p)
		}
		o.Paths[i] = filepath.Clean(p)
	}
	for _, g := range o.Ignore {
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("--fim-ignore %q: %w", g, err)
		}
	}
	if o.MaxHashSize == 0 {
		o.MaxHashSize = DefaultMaxHashSize
	}
	if o.MaxHashSize < 0 {
		return fmt.Errorf("--fim-max-hash-size: want at least 0, got %d", o.MaxHashSize)
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxFiles < 0 {
		return fmt.Errorf("--fim-max-files: want at least 1, got %d", o.MaxFiles)
	}
	if o.ScanInterval == 0 {
		o.ScanInterval = DefaultScanInterval
	}
	if o.ScanInterval < MinScanInterval {
		return fmt.Errorf("--fim-scan-interval: want at least %s, got %s", MinScanInterval, o.ScanInterval)
	}
	if o.HashRate == 0 {
		o.HashRate = DefaultHashRate
	}
	if o.HashRate < MinHashRate {
		return fmt.Errorf("--fim-hash-rate: want at least %d bytes/s, got %d", MinHashRate, o.HashRate)
	}
	if o.Dir == "" || o.Emit == nil {
		return errors.New("fim: no data directory or no emitter")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.retryInterval == 0 {
		o.retryInterval = MinScanInterval
	}
	return nil
}

// ignored reports whether p matches an ignore pattern.
func ignored(patterns []string, p string) bool {
	base := filepath.Base(p)
	for _, g := range patterns {
		name := base
		if strings.ContainsRune(g, '/') {
			name = p
		}
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

// under reports whether p is root or inside it (both clean).
func under(p, root string) bool {
	if p == root {
		return true
	}
	if len(p) <= len(root) || !strings.HasPrefix(p, root) {
		return false
	}
	// A root ending in a separator is the file system's ("/", `C:\`).
	return os.IsPathSeparator(root[len(root)-1]) || os.IsPathSeparator(p[len(root)])
}

// Kinds of an entry.
const (
	kindFile uint8 = iota
	kindSymlink
)

// Reasons of an entry without a hash (0: hashed).
const (
	omitNone uint8 = iota
	omitTooLarge
	omitUnreadable
	omitSymlink
)

var omitNames = [...]string{"", OmitTooLarge, OmitUnreadable, OmitSymlink}

// entry is one file of the baseline.
type entry struct {
	kind   uint8
	omit   uint8
	mode   uint32
	uid    uint32
	gid    uint32
	size   int64
	mtime  int64
	ctime  int64
	inode  uint64
	hash   [32]byte
	target string
	// gen is the scan that last saw the entry (not stored).
	gen uint32
}

func (e *entry) state() *State {
	s := &State{Type: TypeFile, Size: e.size, Mode: e.mode, UID: e.uid, GID: e.gid, Mtime: e.mtime, Inode: e.inode, Target: e.target}
	if e.kind == kindSymlink {
		s.Type = TypeSymlink
	}
	if e.omit == omitNone {
		s.SHA256 = hex.EncodeToString(e.hash[:])
	} else if int(e.omit) < len(omitNames) {
		s.HashOmitted = omitNames[e.omit]
	}
	return s
}

// diff compares the baseline's entry with the file's: the action
// (modified when the content, type or link target changed; else
// attributes_modified when the mode, owner, mtime or inode changed; else
// "") and what changed. A file without a hash on either side is compared
// by size and mtime.
func diff(old, cur *entry) (string, []string) {
	var changed []string
	content := false
	if old.kind != cur.kind {
		changed, content = append(changed, "type"), true
	}
	if old.omit == omitNone && cur.omit == omitNone && old.kind == kindFile && cur.kind == kindFile && old.hash != cur.hash {
		changed, content = append(changed, "sha256"), true
	}
	if old.size != cur.size {
		changed, content = append(changed, "size"), true
	}
	if old.target != cur.target {
		changed, content = append(changed, "target"), true
	}
	if old.mode != cur.mode {
		changed = append(changed, "mode")
	}
	if old.uid != cur.uid {
		changed = append(changed, "uid")
	}
	if old.gid != cur.gid {
		changed = append(changed, "gid")
	}
	if old.mtime != cur.mtime {
		changed = append(changed, "mtime")
		// Unhashed content is known to change by its mtime.
		if old.kind == kindFile && cur.kind == kindFile && (old.omit != omitNone || cur.omit != omitNone) {
			content = true
		}
	}
	if old.inode != cur.inode {
		changed = append(changed, "inode")
	}
	switch {
	case content:
		return Modified, changed
	case len(changed) > 0:
		return AttributesModified, changed
	}
	return "", nil
}
