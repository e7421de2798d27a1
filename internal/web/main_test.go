package web

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestMain stops the PostgreSQL cluster that the tests run on both
// engines (metatest.Engines) started.
func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }
