//go:build !unix

package file

import "io/fs"

// idOf reports no identity where the platform has no inodes; the tailer
// then identifies files by path and fingerprint only.
func idOf(fi fs.FileInfo) (fileID, bool) {
	return fileID{}, false
}
