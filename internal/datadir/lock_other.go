//go:build !unix && !windows

package datadir

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

func lockFile(*os.File) error {
	return errors.ErrUnsupported
}

func unlockFile(*os.File) error { return nil }
