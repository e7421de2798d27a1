package fim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// hashChunk is the read size while hashing.
const hashChunk = 64 << 10

// errNotDir is what Lstat returns under a path that became a file.
var errNotDir error = syscall.ENOTDIR

// limiter is a token bucket of bytes a second holding one second's
// worth: hashing waits on it so that a scan takes a bounded share of a
// core.
type limiter struct {
	rate   float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newLimiter(rate int64) *limiter {
	return &limiter{rate: float64(rate), now: time.Now, sleep: sleepCtx}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait takes n bytes, sleeping as long as the bucket is short of them.
func (l *limiter) wait(ctx context.Context, n int) error {
	now := l.now()
	if l.last.IsZero() {
		l.tokens = l.rate
	} else {
		l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return nil
	}
	return l.sleep(ctx, time.Duration(-l.tokens/l.rate*float64(time.Second)))
}

// modeBits returns the permission bits of m with setuid, setgid and
// sticky in their Unix places.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// fromInfo is the entry of fi without content.
func fromInfo(fi fs.FileInfo) *entry {
	e := &entry{mode: modeBits(fi.Mode()), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	e.uid, e.gid, e.inode, e.ctime = sysInfo(fi)
	return e
}

// examine returns the state of the file at path (nil when there is no
// file, symbolic link or regular, there). Its content is hashed unless
// it is larger than maxHash, or unless force is false and old (the
// baseline's) has the same size, mtime, change time and inode: the change
// time cannot be set back from user space, so content written since
// old was taken changed it.
func (m *Monitor) examine(ctx context.Context, path string, old *entry, force bool) (*entry, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("examining %s: %w", path, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		e := fromInfo(fi)
		e.kind, e.omit = kindSymlink, omitSymlink
		if e.target, err = os.Readlink(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading link %s: %w", path, err)
		}
		return e, nil
	case !fi.Mode().IsRegular():
		return nil, nil
	}
	e := fromInfo(fi)
	if !force && old != nil && old.kind == kindFile && old.omit == omitNone && old.size == e.size &&
		old.mtime == e.mtime && old.ctime == e.ctime && old.inode == e.inode && e.ctime != 0 {
		e.hash = old.hash
		return e, nil
	}
	if e.size > m.o.MaxHashSize {
		e.omit = omitTooLarge
		return e, nil
	}
	f, err := openFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		e.omit = omitUnreadable
		return e, nil
	}
	defer f.Close()
	// The file as opened: it may have been replaced since the Lstat.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		e.omit = omitUnreadable
		return e, nil
	}
	e = fromInfo(fi)
	h := sha256.New()
	buf := make([]byte, hashChunk)
	var n int64
	for {
		k, err := f.Read(buf)
		h.Write(buf[:k])
		if werr := m.lim.wait(ctx, k); werr != nil {
			return nil, werr
		}
		n += int64(k)
		if n > m.o.MaxHashSize {
			// It grew past the bound while being read.
			e.omit = omitTooLarge
			return e, nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			e.omit = omitUnreadable
			return e, nil
		}
	}
	h.Sum(e.hash[:0])
	return e, nil
}
