package metatest

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestEngines: Engines runs its function once per engine, and Open in it
// (and in its subtests) opens that engine's database; outside, SQLite.
func TestEngines(t *testing.T) {
	if got := EngineOf(t); got != SQLite {
		t.Errorf("outside Engines: got %s, want sqlite", got)
	}
	var ran []Engine
	Engines(t, func(t *testing.T) {
		ran = append(ran, EngineOf(t))
		t.Run("nested/deeper", func(t *testing.T) {
			db := Open(t)
			var probe string
			q := `SELECT sqlite_version()`
			if EngineOf(t) == Postgres {
				q = `SELECT current_schema()`
			}
			if err := db.QueryRow(q).Scan(&probe); err != nil || probe == "" {
				t.Errorf("%s database: %s gave %q, %v", EngineOf(t), q, probe, err)
			}
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
				t.Errorf("%s database: %d migrations recorded, %v; want it migrated", EngineOf(t), n, err)
			}
		})
	})
	if len(ran) != 2 || ran[0] != SQLite || ran[1] != Postgres {
		t.Errorf("engines run: got %v, want [sqlite postgres]", ran)
	}
	if got := EngineOf(t); got != SQLite {
		t.Errorf("after Engines: got %s, want sqlite", got)
	}
}
