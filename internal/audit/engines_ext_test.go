package audit_test

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func init() {
	audit.SetEngineHooks(metatest.Engines, metatest.OpenPath,
		func(tb testing.TB) bool { return metatest.EngineOf(tb) == metatest.Postgres })
}

// TestMain stops the PostgreSQL cluster that the tests run on both
// engines started.
func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }
