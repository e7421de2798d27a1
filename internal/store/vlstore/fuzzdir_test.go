package vlstore

import (
	"os"
	"testing"
)

var fuzzDir string

// osMkdirTemp makes the fuzz store's directory. The process owns it for
// its lifetime; TestMain removes it.
func osMkdirTemp() (string, error) {
	d, err := os.MkdirTemp("", "vlstore-fuzz-")
	fuzzDir = d
	return d, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzDB != nil {
		fuzzDB.Close()
	}
	if fuzzDir != "" {
		os.RemoveAll(fuzzDir)
	}
	os.Exit(code)
}
