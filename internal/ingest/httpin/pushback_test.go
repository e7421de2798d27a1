package httpin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
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
// a silent drop) until the store is back, then 200.
func TestFailingStorePushesBack(t *testing.T) {
	st := &downStore{up: make(chan struct{})}
	p := pipeline.New(pipeline.Config{QueueSize: 1000, Workers: 1, Writers: 1, BatchSize: 10, FlushInterval: time.Millisecond}, textParser{}, st, nil, nil)
	defer p.Close(context.Background())
	srv, stats := newTestServer(t, Config{WaitTimeout: 100 * time.Millisecond}, p)
	// The first request is accepted, then waits in vain for the store.
	status, h, body := post(t, srv, "POST", "/api/v1/ingest", []byte(`{"n":1}`), bearer("good"))
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("while the store fails: got %d Retry-After %q (%s), want 503 with Retry-After", status, h.Get("Retry-After"), body)
	}
	// Later ones are refused at once, as unavailable.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, h, body = post(t, srv, "POST", "/api/v1/ingest", []byte(`{"n":2}`), bearer("good"))
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "5" {
			t.Fatalf("while the store fails: got %d Retry-After %q (%s), want 503 with Retry-After 5", status, h.Get("Retry-After"), body)
		}
		if strings.Contains(string(body), "store unavailable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never refused as unavailable: last answer %s", body)
		}
	}
	if n := stats.RejectedCount(InputNative, "unavailable"); n == 0 {
		t.Errorf("got unavailable rejections %d, want some", n)
	}
	close(st.up)
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, _, body = post(t, srv, "POST", "/api/v1/ingest", []byte(`{"n":3}`), bearer("good"))
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the store recovered: got %d (%s), want 200", status, body)
		}
		time.Sleep(10 * time.Millisecond) // polling: the writer's backoff ends on its own timer
	}
}
