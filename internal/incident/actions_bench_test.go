package incident

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// BenchmarkRecordActions records a playbook step's block_ip on 300
// addresses as a storm does: their intent in one transaction, then their
// shared result in another, into a table that already holds earlier
// waves' actions. Reported per action.
func BenchmarkRecordActions(b *testing.B) {
	ctx := context.Background()
	// meta.db as the server opens it (4 KiB pages, synchronous NORMAL).
	db, err := sqlite.OpenMeta(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	alerts, err := alert.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(ctx, db, alerts, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	inc, err := m.Create(ctx, "bench", "wave", "high", nil)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 300
	n := 0
	step := func() {
		acts := make([]*Action, batch)
		for i := range acts {
			n++
			acts[i] = &Action{Name: "block_ip", Target: fmt.Sprintf("198.18.%d.%d", n>>8&255, n&255), Status: "running", Actor: "playbook", Playbook: "ssh"}
		}
		for _, status := range []string{"running", "ok"} {
			for _, a := range acts {
				a.Status = status
				if status == "ok" {
					a.Result = "nft (batch of 300): ok until 2026-12-07T16:00:00Z"
				}
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.RecordActionsTx(ctx, tx, inc.ID, acts); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 50 { // earlier waves
		step()
	}
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/action")
}
