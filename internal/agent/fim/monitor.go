package fim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Bounds of the realtime path.
const (
	// roundDelay gathers the watches' events for this long before they
	// are handled together.
	roundDelay = 100 * time.Millisecond
	// maxDirty bounds the paths waiting for a round: past it the round
	// becomes a rescan of every watched path (counted as an overflow).
	maxDirty = 65536
	// watcherBuffer is the depth of fsnotify's event channel.
	watcherBuffer = 4096
	// maxDirsRound bounds the directories a round reconciles one by one;
	// past it the round reconciles the watched paths whole.
	maxDirsRound = 64
	// flushEvery is the number of changes emitted at once during a scan.
	flushEvery = 512
	// saveEvery bounds how often realtime changes rewrite the baseline
	// file (a crash in between makes the next start report them again).
	saveEvery = 30 * time.Second
)

// watcher is what the monitor needs of fsnotify (replaced in tests).
type watcher interface {
	Add(path string) error
	Remove(path string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

type fsWatcher struct{ w *fsnotify.Watcher }

func (f fsWatcher) Add(p string) error            { return f.w.Add(p) }
func (f fsWatcher) Remove(p string) error         { return f.w.Remove(p) }
func (f fsWatcher) Events() <-chan fsnotify.Event { return f.w.Events }
func (f fsWatcher) Errors() <-chan error          { return f.w.Errors }
func (f fsWatcher) Close() error                  { return f.w.Close() }
func newFSWatcher() (watcher, error) {
	w, err := fsnotify.NewBufferedWatcher(watcherBuffer)
	return fsWatcher{w}, err
}

var _ watcher = fsWatcher{}

// change is a difference found, waiting to be emitted: old nil for a
// created file, cur nil for a deleted one.
type change struct {
	path     string
	old, cur *entry
	action   string
	changed  []string
}

// Monitor watches the paths of its Options.
type Monitor struct {
	o    Options
	file string
	base *baseline
	lim  *limiter
	w    watcher
	gen  uint32
	// dirs are the directories seen under the roots, by the scan that
	// last saw them; unwatched are those whose watch failed.
	dirs      map[string]uint32
	unwatched map[string]bool
	dirty     map[string]fsnotify.Op
	rescanAll bool
	pending   []change
	creates   int
	lastSave  time.Time
	unsaved   bool

	files, overflows, watchErrors, overLimit, scans atomic.Int64
}

// New checks o and returns a monitor; Run starts it.
func New(o Options) (*Monitor, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.newWatcher == nil {
		o.newWatcher = newFSWatcher
	}
	return &Monitor{o: o, file: filepath.Join(o.Dir, BaselineFile), lim: newLimiter(o.HashRate),
		dirs: map[string]uint32{}, unwatched: map[string]bool{}, dirty: map[string]fsnotify.Op{}}, nil
}

// Health returns the monitor's counters (safe from any goroutine).
func (m *Monitor) Health() Health {
	return Health{Files: m.files.Load(), Overflows: m.overflows.Load(), WatchErrors: m.watchErrors.Load(),
		OverLimit: m.overLimit.Load(), Scans: m.scans.Load()}
}

// Run loads the baseline (or builds it, silently, at the first run and
// for a path added since), adds the watches, scans every path for what
// changed while the agent was not running, then handles the watches'
// events until ctx ends, scanning in full every ScanInterval.
func (m *Monitor) Run(ctx context.Context) error {
	err := m.run(ctx)
	if ctx.Err() != nil {
		return nil // stopped, maybe in the middle of a scan
	}
	return err
}

func (m *Monitor) run(ctx context.Context) error {
	w, err := m.o.newWatcher()
	if err != nil {
		return fmt.Errorf("fim: starting the watches: %w", err)
	}
	m.w = w
	defer w.Close()
	base, err := loadBaseline(m.file)
	if err != nil {
		// Nothing to compare with: the baseline is built again.
		m.o.Log.Warn("fim: the baseline cannot be read; building it again without events", "err", err)
	}
	fresh := map[string]bool{}
	if base == nil {
		base = &baseline{files: map[string]*entry{}}
		for _, r := range m.o.Paths {
			fresh[r] = true
		}
	} else {
		for _, r := range m.o.Paths {
			fresh[r] = !slices.Contains(base.roots, r)
		}
		// Files of a path no longer watched leave without events.
		for p := range base.files {
			if !m.inScope(p) {
				delete(base.files, p)
			}
		}
	}
	base.roots = slices.Clone(m.o.Paths)
	m.base = base
	m.files.Store(int64(len(base.files)))
	// The parents are watched so that a watched path created, replaced
	// or removed is seen too.
	for _, r := range m.o.Paths {
		if d := filepath.Dir(r); d != r {
			m.watch(d, false)
		}
	}
	for _, r := range m.o.Paths {
		if err := m.reconcile(ctx, r, TriggerScan, fresh[r]); err != nil {
			return err
		}
	}
	m.afterScan()
	m.o.Log.Info("fim baseline ready", "files", len(m.base.files), "paths", len(m.o.Paths))
	if m.o.onReady != nil {
		m.o.onReady()
	}
	defer m.save()

	scan := time.NewTicker(m.o.ScanInterval)
	defer scan.Stop()
	retry := time.NewTicker(m.o.retryInterval)
	defer retry.Stop()
	var round <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return errors.New("fim: the watches stopped")
			}
			m.note(ev)
		case err, ok := <-w.Errors():
			if !ok {
				return errors.New("fim: the watches stopped")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				m.overflows.Add(1)
				m.o.Log.Warn("fim: the kernel's event queue overflowed; rescanning")
			} else {
				m.watchErrors.Add(1)
				m.o.Log.Warn("fim: watch error; rescanning", "err", err)
			}
			m.rescanAll = true
		case <-round:
			round = nil
			if err := m.round(ctx); err != nil {
				return err
			}
		case <-scan.C:
			for _, r := range m.o.Paths {
				if err := m.reconcile(ctx, r, TriggerScan, false); err != nil {
					return err
				}
			}
			m.afterScan()
		case <-retry.C:
			if err := m.retryUnwatched(ctx); err != nil {
				return err
			}
		}
		if round == nil && (len(m.dirty) > 0 || m.rescanAll) {
			round = time.After(roundDelay)
		}
	}
}

// note records a watch's event for the next round.
func (m *Monitor) note(ev fsnotify.Event) {
	if m.rescanAll || !m.inScope(ev.Name) {
		return
	}
	if len(m.dirty) >= maxDirty {
		m.overflows.Add(1)
		m.o.Log.Warn("fim: too many changes waiting; rescanning", "waiting", len(m.dirty))
		m.rescanAll = true
		clear(m.dirty)
		return
	}
	m.dirty[ev.Name] |= ev.Op
}

// round handles the changes noted since the last round.
func (m *Monitor) round(ctx context.Context) error {
	defer func() {
		if m.o.onRound != nil {
			m.o.onRound()
		}
	}()
	if m.rescanAll {
		m.rescanAll = false
		clear(m.dirty)
		for _, r := range m.o.Paths {
			if err := m.reconcile(ctx, r, TriggerRescan, false); err != nil {
				return err
			}
		}
		m.afterScan()
		return nil
	}
	paths := make([]string, 0, len(m.dirty))
	for p := range m.dirty {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	ops := m.dirty
	m.dirty = map[string]fsnotify.Op{}
	var files, dirs []string
	for _, p := range paths {
		fi, err := os.Lstat(p)
		isDir := err == nil && fi.IsDir()
		_, known := m.dirs[p]
		switch {
		case isDir && known && ops[p]&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) == 0:
			// A directory's own attributes: directories are not in the
			// baseline.
		case isDir || known:
			dirs = append(dirs, p)
		default:
			files = append(files, p)
		}
	}
	if len(dirs) > maxDirsRound {
		// Each directory's reconciliation looks through the whole
		// baseline: past a few, one pass over the watched paths costs
		// less (unchanged files are not hashed again).
		dirs, files = slices.Clone(m.o.Paths), nil
	}
	for _, p := range dirs {
		if err := m.reconcile(ctx, p, TriggerRealtime, false); err != nil {
			return err
		}
	}
	for _, p := range files {
		m.gen++
		if err := m.check(ctx, p, TriggerRealtime, true, false); err != nil {
			return err
		}
	}
	if err := m.flush(TriggerRealtime, false); err != nil {
		return err
	}
	if m.unsaved && time.Since(m.lastSave) >= saveEvery {
		m.save()
	}
	return nil
}

// retryUnwatched tries again the watches that failed, and rescans their
// directories, whose changes no watch reports.
func (m *Monitor) retryUnwatched(ctx context.Context) error {
	dirs := make([]string, 0, len(m.unwatched))
	for d := range m.unwatched {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	if len(dirs) > maxDirsRound {
		// As in a round: one pass over the watched paths costs less
		// than many directories' (each looks through the baseline).
		for _, r := range m.o.Paths {
			if err := m.reconcile(ctx, r, TriggerRescan, false); err != nil {
				return err
			}
		}
		for _, d := range dirs {
			if _, ok := m.dirs[d]; !ok {
				delete(m.unwatched, d)
			}
		}
		return nil
	}
	for _, d := range dirs {
		// reconcile adds the directories' watches again (watch drops
		// them from unwatched once added).
		if err := m.reconcile(ctx, d, TriggerRescan, false); err != nil {
			return err
		}
		if _, ok := m.dirs[d]; !ok {
			delete(m.unwatched, d)
		}
	}
	return nil
}

// inScope reports whether p is under a watched path and neither it nor
// a directory between it and that path is ignored.
func (m *Monitor) inScope(p string) bool {
	for _, r := range m.o.Paths {
		if !under(p, r) {
			continue
		}
		for q := p; q != r && len(q) > len(r); q = filepath.Dir(q) {
			if ignored(m.o.Ignore, q) {
				return false
			}
		}
		return true
	}
	return false
}

// watch adds a watch on dir (once).
func (m *Monitor) watch(dir string, tree bool) {
	if tree {
		if _, ok := m.dirs[dir]; ok {
			m.dirs[dir] = m.gen
			if !m.unwatched[dir] {
				return
			}
		}
		m.dirs[dir] = m.gen
	}
	if err := m.w.Add(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return
		}
		if tree {
			m.unwatched[dir] = true
		}
		n := m.watchErrors.Add(1)
		if n <= 10 || n%1000 == 0 {
			m.o.Log.Warn("fim: a directory cannot be watched; it is rescanned every minute instead", "dir", dir, "err", err, "errors", n)
		}
		return
	}
	delete(m.unwatched, dir)
}

// reconcile compares the tree at root (a directory, a file, or nothing)
// with the baseline, emits the differences (none when silent) and updates
// the baseline. Directories found are watched; directories and files no
// longer there leave.
func (m *Monitor) reconcile(ctx context.Context, root, trigger string, silent bool) error {
	if trigger != TriggerRealtime {
		m.scans.Add(1)
	}
	m.gen++
	gen := m.gen
	// Directories that could not be read: what the baseline has under
	// them is kept, not reported deleted.
	var unreadable []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if d != nil || !errors.Is(err, fs.ErrNotExist) {
				unreadable = append(unreadable, p)
				m.o.Log.Debug("fim: cannot read", "path", p, "err", err)
			}
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if p != root && ignored(m.o.Ignore, p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			m.watch(p, true)
			return nil
		}
		if t := d.Type(); t.IsRegular() || t&fs.ModeSymlink != 0 {
			return m.check(ctx, p, trigger, false, silent)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for p, e := range m.base.files {
		if e.gen != gen && under(p, root) && !underAny(p, unreadable) {
			m.pending = append(m.pending, change{path: p, old: e, action: Deleted})
		}
	}
	for d, g := range m.dirs {
		if g != gen && under(d, root) && !underAny(d, unreadable) {
			delete(m.dirs, d)
			delete(m.unwatched, d)
			m.w.Remove(d) // already gone with the directory, most often
		}
	}
	return m.flush(trigger, silent)
}

func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if under(p, r) {
			return true
		}
	}
	return false
}

// check compares one file with the baseline (force: hash it whatever its
// times say), noting the difference.
func (m *Monitor) check(ctx context.Context, p, trigger string, force, silent bool) error {
	old := m.base.files[p]
	if old != nil {
		old.gen = m.gen
	}
	cur, err := m.examine(ctx, p, old, force)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.o.Log.Debug("fim: cannot examine", "path", p, "err", err)
		return nil
	}
	switch {
	case cur == nil && old != nil:
		m.pending = append(m.pending, change{path: p, old: old, action: Deleted})
	case cur == nil:
	case old == nil:
		if len(m.base.files)+m.creates >= m.o.MaxFiles {
			n := m.overLimit.Add(1)
			if n == 1 || n%10000 == 0 {
				m.o.Log.Error("fim: the baseline is full; files past the bound are not monitored", "max_files", m.o.MaxFiles, "left_out", n)
			}
			return nil
		}
		m.creates++
		cur.gen = m.gen
		m.pending = append(m.pending, change{path: p, cur: cur, action: Created})
	default:
		cur.gen = m.gen
		action, changed := diff(old, cur)
		if action == "" {
			*old = *cur // the same file (its change time may have moved)
			return nil
		}
		m.pending = append(m.pending, change{path: p, old: old, cur: cur, action: action, changed: changed})
	}
	if len(m.pending) >= flushEvery {
		return m.flush(trigger, silent)
	}
	return nil
}

// flush emits the pending changes (unless silent) and applies them to the
// baseline once emitted. Changes that cannot be emitted are not applied:
// the next rescan (within a minute) finds them again.
func (m *Monitor) flush(trigger string, silent bool) error {
	if len(m.pending) == 0 {
		return nil
	}
	pending := m.pending
	m.pending, m.creates = m.pending[:0], 0
	if !silent {
		evs := make([]Event, 0, len(pending))
		for _, c := range pending {
			ev := Event{Action: c.action, Path: c.path, Changed: c.changed, Trigger: trigger}
			if c.old != nil {
				ev.Before = c.old.state()
			}
			if c.cur != nil {
				ev.After = c.cur.state()
			}
			evs = append(evs, ev)
		}
		if err := m.o.Emit(evs); err != nil {
			m.o.Log.Error("fim: events not stored; rescanning later", "events", len(evs), "err", err)
			for _, c := range pending {
				m.unwatched[rootOf(m.o.Paths, c.path)] = true
			}
			return nil
		}
	}
	for _, c := range pending {
		if c.cur == nil {
			delete(m.base.files, c.path)
		} else if c.old != nil {
			*c.old = *c.cur
		} else {
			m.base.files[c.path] = c.cur
		}
	}
	m.files.Store(int64(len(m.base.files)))
	m.unsaved = true
	return nil
}

// rootOf returns the watched path p is under.
func rootOf(roots []string, p string) string {
	for _, r := range roots {
		if under(p, r) {
			return r
		}
	}
	return p
}

// afterScan saves the baseline and gives the memory a full scan used
// (the walk, the file's encoding) back to the system, so that the
// agent's resident size stays near what the baseline holds.
func (m *Monitor) afterScan() {
	m.save()
	debug.FreeOSMemory()
}

// save writes the baseline file if it changed.
func (m *Monitor) save() {
	if !m.unsaved && !m.lastSave.IsZero() {
		return
	}
	if err := m.base.save(m.file); err != nil {
		m.o.Log.Error("fim: saving the baseline", "err", err)
		return
	}
	m.unsaved, m.lastSave = false, time.Now()
}
