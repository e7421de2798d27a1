package vlstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDamagedPartition(t *testing.T) {
	for _, tt := range []struct{ report, want string }{
		{`panic: FATAL: cannot parse "/d/victorialogs/partitions/20261207/indexdb/18EF/metadata.json": invalid character`, "20261207"},
		{`panic: BUG: off=0 is out of allowed range in file "/var/lib/vigil/victorialogs/partitions/20251231/datadb/18EF/index.bin"`, "20251231"},
		{`panic: something else entirely`, ""},
		{`/victorialogs/partitions/2026120/x`, ""},
		{`/other/partitions/20261207/x`, ""},
	} {
		if got := DamagedPartition(tt.report); got != tt.want {
			t.Errorf("DamagedPartition(%q) = %q, want %q", tt.report, got, tt.want)
		}
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, dirName, "partitions", "20261207")
	if err := os.MkdirAll(filepath.Join(part, "datadb"), 0o750); err != nil {
		t.Fatal(err)
	}
	dst, err := Quarantine(dir, "20261207")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dst, filepath.Join(dir, QuarantineDir, "20261207-")) {
		t.Errorf("moved to %q, want under %s", dst, QuarantineDir)
	}
	if _, err := os.Stat(filepath.Join(dst, "datadb")); err != nil {
		t.Errorf("the partition's contents did not move: %v", err)
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("the partition is still in place: %v", err)
	}
	if _, err := Quarantine(dir, "20261208"); err == nil {
		t.Error("quarantining a partition that does not exist: got no error")
	}
}
