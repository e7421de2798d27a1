package sqlite

import (
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// gen makes realistic events for this package's tests and benchmarks:
// storetest's generator (a mix of sshd, nginx access and JSON application
// events with about 15 fields each), shared with the other engines so that
// they are measured on equal events.
type gen struct{ *storetest.Gen }

func newGen(seed uint64, start time.Time, step time.Duration) *gen {
	return &gen{storetest.NewGen(seed, start, step)}
}

func (g *gen) batch(n int) []*event.Event { return g.Batch(n) }
