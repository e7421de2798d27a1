//go:build linux

package fim

import (
	"io/fs"
	"os"
	"syscall"
)

// sysInfo returns the owner, inode and change time (Unix nanoseconds) of
// fi.
func sysInfo(fi fs.FileInfo) (uid, gid uint32, inode uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, 0
	}
	return st.Uid, st.Gid, st.Ino, st.Ctim.Sec*1e9 + st.Ctim.Nsec
}

// openFile opens a file to hash it without following a symbolic link
// that replaced it since it was examined, and without blocking on a FIFO
// that did.
func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}
