package httpin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/pipeline"
)

type textParser struct{}

func (textParser) Parse(r *ingest.Raw, ev *event.Event) { ev.Raw = string(r.Data) }

// downStore refuses every batch until up is closed.
type downStore struct{ up chan struct{} }

func (s *downStore) Append(ctx context.Context, evs []*event.Event) error {
	select {
	case <-s.up:
		return nil
	default:
		return errors.New("database is locked")
	}
}

// TestFailingStorePushesBack runs the handlers on a real pipeline whose
// store fails: requests are answered 503 with Retry-After (never 2xx, never
// a silent drop) until the store is back; a client that waits as
// Retry-After says then gets 200. In a testing/synctest bubble: the
// pipeline's backoff and probe and the handler's wait are fake time.
func TestFailingStorePushesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &downStore{up: make(chan struct{})}
		p := pipeline.New(pipeline.Config{QueueSize: 1000, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, textParser{}, st, nil, nil)
		defer p.Close(context.Background())
		h, stats := newTestHandler(Config{WaitTimeout: 100 * time.Millisecond}, p)
		// The first request is accepted, then waits in vain for the store.
		status, hdr, body := serve(h, "POST", "/api/v1/ingest", []byte(`{"n":1}`), bearer("good"))
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("while the store fails: got %d Retry-After %q (%s), want 503 with Retry-After", status, hdr.Get("Retry-After"), body)
		}
		// Once the writer has failed, later ones are refused at once, as
		// unavailable.
		synctest.Wait()
		start := time.Now()
		status, hdr, body = serve(h, "POST", "/api/v1/ingest", []byte(`{"n":2}`), bearer("good"))
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "5" || !strings.Contains(string(body), "store unavailable") {
			t.Fatalf("while the store fails: got %d Retry-After %q (%s), want 503 store unavailable with Retry-After 5", status, hdr.Get("Retry-After"), body)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("refused after %v, want at once", waited)
		}
		if n := stats.RejectedCount(InputNative, "unavailable"); n != 1 {
			t.Errorf("got unavailable rejections %d, want 1", n)
		}
		close(st.up)
		// The client waits as told, and its retry is stored.
		time.Sleep(retryAfter(t, hdr)) // fake time: the client honours Retry-After
		status, _, body = serve(h, "POST", "/api/v1/ingest", []byte(`{"n":3}`), bearer("good"))
		if status != http.StatusOK {
			t.Fatalf("after the store recovered and Retry-After passed: got %d (%s), want 200", status, body)
		}
	})
}
