package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigilsec/vigil/internal/ingest"
)

// sinkMode says how fakeSink answers Offer.
type sinkMode int

const (
	sinkOK     sinkMode = iota // accept, then done(nil)
	sinkFull                   // ErrFull
	sinkClosed                 // ErrClosed
	sinkFail                   // accept, then done(error)
	sinkHang                   // accept, never call done
	sinkDown                   // ErrUnavailable: the store is failing
)

type fakeSink struct {
	mode    sinkMode
	mu      sync.Mutex
	msgs    []ingest.Raw
	doneAt  atomic.Int64 // count of done calls
	discard bool
}

func (s *fakeSink) Enqueue(context.Context, []ingest.Raw) error {
	return errors.New("fake sink: Enqueue not used by http inputs")
}

func (s *fakeSink) Offer(msgs []ingest.Raw, done func(error)) error {
	switch s.mode {
	case sinkFull:
		return ingest.ErrFull
	case sinkClosed:
		return ingest.ErrClosed
	case sinkDown:
		return ingest.ErrUnavailable
	}
	if !s.discard {
		s.mu.Lock()
		s.msgs = append(s.msgs, msgs...)
		s.mu.Unlock()
	}
	switch s.mode {
	case sinkOK:
		go func() { s.doneAt.Add(1); done(nil) }()
	case sinkFail:
		go done(errors.New("disk full"))
	}
	return nil
}

func (s *fakeSink) snapshot() []ingest.Raw {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Raw(nil), s.msgs...)
}

type fakeAuth map[string]Principal

func (a fakeAuth) Authenticate(r *http.Request, token string) (Principal, error) {
	p, ok := a[token]
	if !ok {
		return Principal{}, errors.New("unknown token")
	}
	return p, nil
}

var testAuth = fakeAuth{
	"good":     {Name: "shipper", Tags: []string{"tok"}, CanIngest: true},
	"readonly": {Name: "viewer"},
}

// newTestServer mounts the handlers on a real HTTP server.
func newTestServer(t testing.TB, cfg Config, sink ingest.Sink) (*httptest.Server, *ingesttest.Stats) {
	t.Helper()
	stats := ingesttest.NewStats()
	h := New(cfg, sink, testAuth, stats, nil)
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, stats
}

// post sends body to srv with the given headers and returns status, headers
// and body.
func post(t testing.TB, srv *httptest.Server, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}
