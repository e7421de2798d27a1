package respond

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// A wave's blocks are written a chunk per statement; an address given
// twice in one batch is one row with the later expiry (PostgreSQL refuses
// an upsert that touches a row twice), and an existing block is only
// ever extended.
func TestAddBlocksInChunks(t *testing.T) { metatest.Engines(t, testAddBlocksInChunks) }

func testAddBlocksInChunks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	n := meta.RowsPerStatement + 10
	var blocks []block
	for i := range n {
		blocks = append(blocks, block{ip: fmt.Sprintf("198.18.1.%d", i), until: base.Add(time.Hour)})
	}
	blocks = append(blocks, block{ip: "198.18.1.0", until: base.Add(3 * time.Hour)}, block{ip: "198.18.1.1", until: base})
	write := func(bs []block) {
		t.Helper()
		tx, err := f.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := addBlocks(ctx, tx, bs, f.incID, "ssh"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	write(blocks)
	write([]block{{ip: "198.18.1.2", until: base}}) // shorter: kept as it was
	until := func(ip string) time.Time {
		t.Helper()
		var ns int64
		if err := f.db.QueryRowContext(ctx, `SELECT until FROM response_blocks WHERE ip = ?`, ip).Scan(&ns); err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		return time.Unix(0, ns).UTC()
	}
	var rows int
	if err := f.db.QueryRowContext(ctx, `SELECT count(*) FROM response_blocks`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Errorf("got %d rows in the block set, want %d", rows, n)
	}
	for ip, want := range map[string]time.Time{"198.18.1.0": base.Add(3 * time.Hour), "198.18.1.1": base.Add(time.Hour), "198.18.1.2": base.Add(time.Hour)} {
		if got := until(ip); !got.Equal(want) {
			t.Errorf("%s: blocked until %v, want %v", ip, got, want)
		}
	}
}
