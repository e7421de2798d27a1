package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// tailed is one open file being followed.
type tailed struct {
	id     fileID
	path   string
	format ingest.Format
	tags   []string
	f      *os.File
	// offset is where the next unread line starts: everything before it
	// was delivered durably (or dropped as the tail of an over-long line).
	offset int64
	// discarding is set while the rest of an over-long line is skipped.
	discarding bool
	// fp and fpLen fingerprint the file's first bytes.
	fp    string
	fpLen int
	// gone is when the file stopped matching its patterns (renamed away or
	// deleted); it is read to EOF and closed once quiet.
	gone time.Time
}

// Tailer follows the files matching its patterns. Create it with New and
// run it with Run (or Start and Wait).
type Tailer struct {
	cfg   Config
	sink  ingest.Sink
	stats ingest.Stats
	log   *slog.Logger

	files map[fileID]*tailed
	// saved holds the offsets to persist: those of the open files plus
	// entries loaded at startup for files not (yet) found again.
	saved map[fileID]savedFile
	buf   []byte
	// retryDelay is how long to wait after the sink refuses a batch.
	retryDelay time.Duration

	started atomic.Bool
	done    chan struct{}
}

// New validates cfg and returns a Tailer. It does not touch the files yet.
func New(cfg Config, sink ingest.Sink, stats ingest.Stats, log *slog.Logger) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("file input: nil sink")
	}
	cfg.setDefaults()
	cfg.Tags = slices.Clip(slices.Clone(cfg.Tags))
	if stats == nil {
		stats = nopStats{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tailer{
		cfg:        cfg,
		sink:       sink,
		stats:      stats,
		log:        log,
		files:      make(map[fileID]*tailed),
		buf:        make([]byte, max(cfg.BatchBytes, cfg.MaxLineSize+1)),
		retryDelay: cfg.PollInterval,
		done:       make(chan struct{}),
	}, nil
}

// Start loads the saved offsets and follows the files in the background
// until ctx is cancelled; Wait waits for that. An unreadable state file is
// an error here rather than a silent restart from scratch.
func (t *Tailer) Start(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("file input: already started")
	}
	saved, err := loadState(t.cfg.StateFile)
	if err != nil {
		close(t.done)
		return err
	}
	t.saved = saved
	go func() {
		defer close(t.done)
		t.loop(ctx)
	}()
	return nil
}

// Wait blocks until the tailer has stopped after its context was
// cancelled, with its files closed.
func (t *Tailer) Wait() {
	<-t.done
}

// Run is Start followed by Wait.
func (t *Tailer) Run(ctx context.Context) error {
	if err := t.Start(ctx); err != nil {
		return err
	}
	t.Wait()
	return nil
}

func (t *Tailer) loop(ctx context.Context) {
	defer t.closeAll()
	t.scan(true)
	lastScan := time.Now()
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	for {
		for _, tf := range t.ordered() {
			if err := t.follow(ctx, tf); err != nil {
				if ctx.Err() != nil {
					return
				}
				t.log.Warn("file input: reading failed", "path", tf.path, "err", err)
			}
		}
		if time.Since(lastScan) >= t.cfg.GlobInterval {
			t.scan(false)
			lastScan = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ordered returns the open files, those renamed away first (so that the
// end of a rotated file is read before the start of its successor), then
// by path.
func (t *Tailer) ordered() []*tailed {
	out := make([]*tailed, 0, len(t.files))
	for _, tf := range t.files {
		out = append(out, tf)
	}
	sort.Slice(out, func(i, j int) bool {
		gi, gj := !out[i].gone.IsZero(), !out[j].gone.IsZero()
		if gi != gj {
			return gi
		}
		return out[i].path < out[j].path
	})
	return out
}

func (t *Tailer) closeAll() {
	for id, tf := range t.files {
		tf.f.Close()
		delete(t.files, id)
	}
}

func idFor(path string, fi os.FileInfo) fileID {
	if id, ok := idOf(fi); ok {
		return id
	}
	h := fnv.New64a()
	h.Write([]byte(path))
	return fileID{Ino: h.Sum64()}
}

// scan evaluates the patterns, opens new files and marks files that no
// longer match as gone.
func (t *Tailer) scan(initial bool) {
	matched := make(map[fileID]bool)
	opened := 0
	for _, p := range t.cfg.Paths {
		paths, err := filepath.Glob(p.Glob)
		if err != nil {
			continue // validated in New
		}
		for _, path := range paths {
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id := idFor(path, fi)
			if matched[id] {
				continue // matched by an earlier pattern
			}
			matched[id] = true
			if tf, ok := t.files[id]; ok {
				tf.path = path // renamed within the patterns
				tf.gone = time.Time{}
				continue
			}
			if t.open(path, id, p, initial) {
				opened++
			}
		}
	}
	now := time.Now()
	for id, tf := range t.files {
		if !matched[id] && tf.gone.IsZero() {
			tf.gone = now
		}
	}
	if initial {
		// Offsets of files that are no longer there would otherwise be
		// kept forever.
		for id := range t.saved {
			if _, ok := t.files[id]; !ok {
				delete(t.saved, id)
			}
		}
	}
	if opened > 0 || initial {
		// Persist where new files start, so that lines appended before the
		// first batch and a restart are not skipped by starting at the end
		// again.
		t.save()
	}
}

// open starts following path, resuming from a saved offset when the
// file's identity and fingerprint match. It reports whether it did.
func (t *Tailer) open(path string, id fileID, p Path, initial bool) bool {
	f, err := os.Open(path)
	if err != nil {
		t.log.Warn("file input: cannot open", "path", path, "err", err)
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	if got := idFor(path, fi); got != id {
		// Replaced between Stat and Open: pick it up at the next scan.
		f.Close()
		return false
	}
	tf := &tailed{id: id, path: path, format: p.Format, tags: t.cfg.Tags, f: f}
	if len(p.Tags) > 0 {
		tf.tags = slices.Clip(slices.Concat(t.cfg.Tags, p.Tags))
	}
	size := fi.Size()
	s, known := t.saved[id]
	switch {
	case known && t.sameFile(f, s) && s.Offset <= size:
		tf.offset = s.Offset
	case known:
		// Same inode, other content or shorter than the offset: truncated
		// or replaced while we were not looking. Its lines are new.
		tf.offset = 0
	case initial && !t.cfg.StartAtBeginning && !p.FromBeginning:
		tf.offset = size
	}
	tf.fp, tf.fpLen, _ = fingerprint(f, t.cfg.FingerprintSize)
	t.files[id] = tf
	t.saved[id] = tf.savedState()
	t.log.Debug("file input: following", "path", path, "offset", tf.offset)
	return true
}

// sameFile reports whether f starts with the bytes fingerprinted in s.
func (t *Tailer) sameFile(f *os.File, s savedFile) bool {
	fp, n, err := fingerprint(f, s.FPLen)
	return err == nil && n == s.FPLen && fp == s.FP
}

func (tf *tailed) savedState() savedFile {
	return savedFile{Path: tf.path, Dev: tf.id.Dev, Ino: tf.id.Ino, Offset: tf.offset, FPLen: tf.fpLen, FP: tf.fp}
}

// follow delivers every complete line appended to tf since its offset.
func (t *Tailer) follow(ctx context.Context, tf *tailed) error {
	fi, err := tf.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", tf.path, err)
	}
	if fi.Size() < tf.offset {
		// Truncated in place (copytruncate): start over.
		t.log.Info("file input: file truncated, reading from the start", "path", tf.path, "offset", tf.offset, "size", fi.Size())
		tf.offset, tf.discarding = 0, false
		tf.fp, tf.fpLen, _ = fingerprint(tf.f, t.cfg.FingerprintSize)
		t.commit(tf)
	}
	if tf.fpLen < t.cfg.FingerprintSize && fi.Size() > int64(tf.fpLen) {
		tf.fp, tf.fpLen, _ = fingerprint(tf.f, t.cfg.FingerprintSize)
	}
	// A file that left the patterns gets its last line even without a
	// newline, since nothing will complete it.
	final := !tf.gone.IsZero()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msgs, next, discarding, err := t.readBatch(tf, final)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			if next != tf.offset {
				tf.offset, tf.discarding = next, discarding // only dropped bytes
				t.commit(tf)
				continue
			}
			break
		}
		if err := t.deliver(ctx, msgs); err != nil {
			return err
		}
		tf.offset, tf.discarding = next, discarding
		t.commit(tf)
	}
	if final && time.Since(tf.gone) >= t.cfg.GlobInterval {
		// Quiet since it left the patterns: the writer has moved on.
		tf.f.Close()
		delete(t.files, tf.id)
		delete(t.saved, tf.id)
		t.save()
	}
	return nil
}

// commit records tf's offset and persists the state.
func (t *Tailer) commit(tf *tailed) {
	t.saved[tf.id] = tf.savedState()
	t.save()
}

func (t *Tailer) save() {
	if err := saveState(t.cfg.StateFile, t.saved); err != nil {
		t.log.Error("file input: saving offsets failed", "err", err)
	}
}

// readBatch reads lines from tf.offset. It returns the messages, the
// offset after the last byte they (or dropped over-long line tails) used,
// and whether the line at that offset is the rest of an over-long line to
// skip. tf is not changed: the caller applies the result once the batch is
// durable.
func (t *Tailer) readBatch(tf *tailed, final bool) (msgs []ingest.Raw, next int64, discarding bool, err error) {
	n, err := tf.f.ReadAt(t.buf, tf.offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, tf.offset, tf.discarding, fmt.Errorf("reading %q at %d: %w", tf.path, tf.offset, err)
	}
	discarding = tf.discarding
	data := t.buf[:n]
	atEOF := n < len(t.buf)
	max := t.cfg.MaxLineSize
	var lines [][]byte
	var cut []bool
	size := 0
	pos := 0
	for pos < len(data) && len(lines) < t.cfg.BatchLines {
		i := bytes.IndexByte(data[pos:], '\n')
		if discarding {
			if i < 0 {
				pos = len(data)
				break
			}
			pos += i + 1
			discarding = false
			continue
		}
		if i < 0 {
			rest := data[pos:]
			if len(rest) > max {
				lines, cut = append(lines, rest[:max]), append(cut, true)
				size += max
				pos += max
				discarding = true
				continue
			}
			if final && atEOF && len(rest) > 0 {
				// The last line of a file that will not grow, without a
				// newline; a lone "\r" is an empty line, like any other.
				if last := trimCR(rest); len(last) > 0 {
					lines, cut = append(lines, last), append(cut, false)
					size += len(last)
				}
				pos = len(data)
			}
			break
		}
		line := trimCR(data[pos : pos+i])
		pos += i + 1
		if len(line) == 0 {
			continue
		}
		if len(line) > max {
			lines, cut = append(lines, line[:max]), append(cut, true)
			size += max
			continue
		}
		lines, cut = append(lines, line), append(cut, false)
		size += len(line)
	}
	if len(lines) == 0 {
		return nil, tf.offset + int64(pos), discarding, nil
	}
	// One allocation for the batch's bytes; each message gets its own
	// capped slice of it.
	chunk := make([]byte, 0, size)
	now := time.Now()
	msgs = make([]ingest.Raw, len(lines))
	for i, l := range lines {
		off := len(chunk)
		chunk = append(chunk, l...)
		msgs[i] = ingest.Raw{
			Data:      chunk[off:len(chunk):len(chunk)],
			Format:    tf.format,
			Input:     Input,
			Received:  now,
			Tags:      tf.tags,
			Fields:    map[string]string{FieldPath: tf.path},
			Truncated: cut[i],
		}
	}
	return msgs, tf.offset + int64(pos), discarding, nil
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// shutdownGrace bounds how long a stopping tailer waits for the verdict on
// a batch the sink already accepted.
const shutdownGrace = 5 * time.Second

// deliver offers msgs until the sink accepts them and reports them
// durable, retrying while it is full or after it failed to store them.
func (t *Tailer) deliver(ctx context.Context, msgs []ingest.Raw) error {
	for {
		done := make(chan error, 1)
		err := t.sink.Offer(msgs, func(err error) { done <- err })
		if err == nil {
			select {
			case err = <-done:
			case <-ctx.Done():
				// Accepted batches are normally stored while the server
				// drains; wait a little for the verdict so that the offset
				// covers them and a restart does not read them again.
				select {
				case err = <-done:
				case <-time.After(shutdownGrace):
					return ctx.Err()
				}
			}
			if err == nil {
				t.stats.Received(Input, len(msgs))
				if n := countTruncated(msgs); n > 0 {
					t.stats.Rejected(Input, "truncated", n)
				}
				return nil
			}
			t.log.Warn("file input: batch not stored, retrying", "lines", len(msgs), "err", err)
		}
		if errors.Is(err, ingest.ErrClosed) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(t.retryDelay):
		}
	}
}

func countTruncated(msgs []ingest.Raw) int {
	n := 0
	for _, m := range msgs {
		if m.Truncated {
			n++
		}
	}
	return n
}

type nopStats struct{}

func (nopStats) Received(string, int)         {}
func (nopStats) Rejected(string, string, int) {}
