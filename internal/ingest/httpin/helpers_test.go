package httpin

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

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

// newTestHandler mounts the handlers on a mux that tests call in process:
// in a testing/synctest bubble, where a real listener cannot be, the
// handlers' waits and the pipeline's timers run on fake time.
func newTestHandler(cfg Config, sink ingest.Sink) (http.Handler, *ingesttest.Stats) {
	stats := ingesttest.NewStats()
	mux := http.NewServeMux()
	New(cfg, sink, testAuth, stats, nil).Register(mux)
	return mux, stats
}

// serve is post for a handler called in process.
func serve(h http.Handler, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// retryAfter is the wait a 503 or 429 answer asks for.
func retryAfter(t testing.TB, h http.Header) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After %q: want a positive number of seconds", h.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
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
