package sqlite

import (
	"testing"

	"github.com/vigilsec/vigil/internal/store/storetest"
)

// TestConformance runs the query language's conformance suite against the
// store: the events each query matches and the rows of aggregate queries.
func TestConformance(t *testing.T) {
	storetest.Conformance(t, openTest(t, Options{BlockRows: 3}))
}
