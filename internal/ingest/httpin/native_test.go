package httpin

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

func TestNativeIngest(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		gzip       bool
		mode       ingesttest.Mode
		wantStatus int
		wantBody   string // substring
		wantMsgs   []string
		wantRetry  string
	}{
		{name: "object", body: `{"a":1}`, wantStatus: 200, wantBody: `{"accepted":1}`, wantMsgs: []string{`{"a":1}`}},
		{name: "array", body: ` [ {"a":1} ,{"b":[1,{"c":"]}"}]}]`, wantStatus: 200, wantBody: `{"accepted":2}`, wantMsgs: []string{`{"a":1}`, `{"b":[1,{"c":"]}"}]}`}},
		{name: "empty array", body: `[]`, wantStatus: 400, wantBody: "no events"},
		{name: "ndjson with blank lines", body: "{\"a\":1}\n\n{\"b\":\"x\\\"}\"}\r\n  \n{\"c\":3}\n", wantStatus: 200, wantBody: `{"accepted":3}`,
			wantMsgs: []string{`{"a":1}`, `{"b":"x\"}"}`, `{"c":3}`}},
		{name: "pretty object", body: "{\n  \"a\": 1,\n  \"b\": 2\n}\n", wantStatus: 200, wantMsgs: []string{"{\n  \"a\": 1,\n  \"b\": 2\n}"}},
		{name: "gzip", body: "{\"a\":1}\n{\"b\":2}", gzip: true, wantStatus: 200, wantBody: `{"accepted":2}`, wantMsgs: []string{`{"a":1}`, `{"b":2}`}},
		{name: "non-object line names its line", body: "{\"a\":1}\n\n[1]\n", wantStatus: 400, wantBody: "line 3"},
		{name: "invalid json names its line", body: "{\"a\":1}\n{\"a\":}\n", wantStatus: 400, wantBody: "line 2"},
		{name: "unterminated", body: `{"a":"x`, wantStatus: 400, wantBody: "unterminated"},
		{name: "invalid utf-8 is kept", body: "{\"a\":\"\xff\xfe\"}", wantStatus: 200, wantMsgs: []string{"{\"a\":\"\xff\xfe\"}"}},
		{name: "deeply nested", body: deep, wantStatus: 400, wantBody: "deeper"},
		{name: "empty body", body: "", wantStatus: 400},
		{name: "no token", body: `{}`, hdr: map[string]string{}, wantStatus: 401, wantBody: "missing credentials"},
		{name: "bad token", body: `{}`, hdr: bearer("nope"), wantStatus: 401, wantBody: "invalid token"},
		{name: "not allowed to ingest", body: `{}`, hdr: bearer("readonly"), wantStatus: 403},
		{name: "basic auth password is the token", body: `{"a":1}`, hdr: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:good"))}, wantStatus: 200},
		{name: "full", body: `{"a":1}`, mode: ingesttest.Full, wantStatus: 429, wantRetry: "1"},
		{name: "closed", body: `{"a":1}`, mode: ingesttest.Closed, wantStatus: 503, wantRetry: "5"},
		{name: "store failing", body: `{"a":1}`, mode: ingesttest.Unavailable, wantStatus: 503, wantRetry: "5"},
		{name: "storage failed", body: `{"a":1}`, mode: ingesttest.Fail, wantStatus: 503, wantRetry: "5"},
		{name: "unsupported encoding", body: `{"a":1}`, hdr: map[string]string{"Authorization": "Bearer good", "Content-Encoding": "br"}, wantStatus: 415},
		{name: "bad gzip", body: `{"a":1}`, hdr: map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{Mode: tt.mode}
			srv, _ := newTestServer(t, Config{}, sink)
			hdr := tt.hdr
			if hdr == nil {
				hdr = bearer("good")
			}
			body := []byte(tt.body)
			if tt.gzip {
				body = gz(t, body)
				hdr["Content-Encoding"] = "gzip"
			}
			status, h, got := post(t, srv, "POST", "/api/v1/ingest", body, hdr)
			if status != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", status, got, tt.wantStatus)
			}
			if !strings.Contains(string(got), tt.wantBody) {
				t.Errorf("got body %s, want it to contain %q", got, tt.wantBody)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			if tt.wantRetry != "" && h.Get("Retry-After") != tt.wantRetry {
				t.Errorf("got Retry-After %q, want %q", h.Get("Retry-After"), tt.wantRetry)
			}
			if tt.wantMsgs != nil {
				var datas []string
				for _, m := range sink.Messages() {
					datas = append(datas, string(m.Data))
					if m.Format != ingest.FormatJSON || m.Input != InputNative {
						t.Errorf("got format %v input %q, want json http", m.Format, m.Input)
					}
					if diff := cmp.Diff([]string{"tok"}, m.Tags); diff != "" {
						t.Errorf("tags mismatch (-want +got):\n%s", diff)
					}
				}
				if diff := cmp.Diff(tt.wantMsgs, datas); diff != "" {
					t.Errorf("messages mismatch (-want +got):\n%s", diff)
				}
			}
			if status != 200 && tt.mode == ingesttest.Accept && len(sink.Messages()) != 0 {
				t.Errorf("got %d messages queued from a rejected request, want 0", len(sink.Messages()))
			}
		})
	}
}

func TestNativeLimits(t *testing.T) {
	sink := &ingesttest.Sink{}
	srv, stats := newTestServer(t, Config{MaxBodySize: 1 << 20}, sink)
	t.Run("body too large", func(t *testing.T) {
		body := []byte(`{"a":"` + strings.Repeat("x", 2<<20) + `"}`)
		status, _, got := post(t, srv, "POST", "/api/v1/ingest", body, bearer("good"))
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("got status %d (%s), want 413", status, got)
		}
	})
	t.Run("gzip bomb", func(t *testing.T) {
		// 1 GiB of zeros inside a ~1 MiB-limited request: stopped at the
		// decompressed limit.
		bomb := gz(t, []byte(strings.Repeat("\n", 64<<20)))
		if len(bomb) > 1<<20 {
			t.Fatalf("bomb is %d bytes, want it under the body limit", len(bomb))
		}
		status, _, got := post(t, srv, "POST", "/api/v1/ingest", bomb, map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"})
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("got status %d (%s), want 413", status, got)
		}
	})
	if got := stats.RejectedCount(InputNative, "too_large"); got != 2 {
		t.Errorf("got too_large %d, want 2", got)
	}
}

// TestNativeWaitsForDurability checks that 200 comes only after done(nil),
// and that a client going away stops the wait. In a testing/synctest
// bubble, so that "the handler is still waiting" is exact: every goroutine
// is blocked and it has not answered.
func TestNativeWaitsForDurability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &ingesttest.Sink{Mode: ingesttest.Hold}
		h, _ := newTestHandler(Config{}, sink)
		req := httptest.NewRequest("POST", "/api/v1/ingest", strings.NewReader(`{"a":1}`))
		req.Header.Set("Authorization", "Bearer good")
		rec := httptest.NewRecorder()
		served := make(chan struct{})
		go func() { h.ServeHTTP(rec, req); close(served) }()
		synctest.Wait()
		select {
		case <-served:
			t.Fatal("handler answered before the batch was durable")
		default:
		}
		if n := sink.Release(nil); n != 1 {
			t.Fatalf("released %d batches, want 1", n)
		}
		<-served
		if rec.Code != 200 {
			t.Errorf("got status %d after done(nil), want 200", rec.Code)
		}

		// Client gone: the handler returns without waiting for done.
		ctx, cancel := context.WithCancel(context.Background())
		req2 := httptest.NewRequestWithContext(ctx, "POST", "/api/v1/ingest", strings.NewReader(`{"a":1}`))
		req2.Header.Set("Authorization", "Bearer good")
		finished := make(chan struct{})
		go func() { h.ServeHTTP(httptest.NewRecorder(), req2); close(finished) }()
		synctest.Wait()
		if sink.Held() != 1 {
			t.Fatalf("held batches: got %d, want the second request's", sink.Held())
		}
		cancel()
		<-finished // a handler still waiting for done would deadlock the bubble here
		sink.Release(errors.New("stored too late"))
	})
}

func TestTokenFrom(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header string
		want   string
		wantOK bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Splunk abc", "abc", true},
		{"Basic " + b64("user:abc"), "abc", true},
		{"Basic " + b64("abc:"), "abc", true},
		{"ApiKey " + b64("id:abc"), "abc", true},
		{"ApiKey abc", "abc", true},
		{"Basic !!!", "", false},
		{"Digest abc", "", false},
		{"", "", false},
		{"Bearer", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tt.header)
		got, ok := tokenFrom(r)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("tokenFrom(%q): got %q, %v, want %q, %v", tt.header, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSplitObjectsLines(t *testing.T) {
	tests := []struct {
		in       string
		wantLine int
	}{
		{"{}\n{}\nx", 3},
		{"[\n{},\n\n2]", 4},
		{"[{}\n,{}\n", 3},
		{"\n\n\n{\"a\":", 4},
	}
	for _, tt := range tests {
		err := splitObjects([]byte(tt.in), func([]byte) error { return nil })
		se, ok := err.(*syntaxError)
		if !ok {
			t.Errorf("splitObjects(%q): got error %v, want a syntax error", tt.in, err)
			continue
		}
		if se.Line != tt.wantLine {
			t.Errorf("splitObjects(%q): got line %d, want %d", tt.in, se.Line, tt.wantLine)
		}
	}
}

func FuzzSplitObjects(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"a":1},{"b":[1,2,{"c":"\"]"}]}]`, "{}\n\n{\"x\":\"y\"}\n", `[`, `{"a":"\\"}`, strings.Repeat("[", 200)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		total := 0
		err := splitObjects(in, func(obj []byte) error {
			if len(obj) == 0 || obj[0] != '{' || obj[len(obj)-1] != '}' {
				t.Fatalf("got object %q, want {...}", obj)
			}
			if !json.Valid(obj) {
				t.Fatalf("got invalid json object %q", obj)
			}
			total += len(obj)
			return nil
		})
		if total > len(in) {
			t.Fatalf("objects hold %d bytes, input only %d", total, len(in))
		}
		_ = err
	})
}

func TestSlowBody(t *testing.T) {
	srv, stats := newTestServer(t, Config{ReadTimeout: 200 * time.Millisecond, MaxConcurrent: 1}, &ingesttest.Sink{})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nContent-Length: 100\r\n\r\n{")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("got status %d, want 408", resp.StatusCode)
	}
	// The slot is free again.
	status, _, got := post(t, srv, "POST", "/api/v1/ingest", []byte(`{"a":1}`), bearer("good"))
	if status != 200 {
		t.Errorf("got status %d (%s) after the slow client, want 200", status, got)
	}
	if stats.RejectedCount(InputNative, "timeout") != 1 {
		t.Errorf("got %d timeouts rejected, want 1", stats.RejectedCount(InputNative, "timeout"))
	}
}

// TestHostileBodies posts junk to every endpoint: each answers with a
// client error, never a 5xx or a crash, and queues nothing.
func TestHostileBodies(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	bodies := map[string][]byte{
		"random":        junk,
		"nul":           make([]byte, 1000),
		"deep arrays":   []byte(strings.Repeat("[", 1<<20)),
		"deep objects":  []byte(strings.Repeat(`{"a":`, 1<<18)),
		"long string":   []byte(`{"a":"` + strings.Repeat("x", 1<<20)),
		"invalid utf-8": []byte("\xff\xfe\xfd\n\xc0\x80"),
	}
	endpoints := []struct{ path, ct string }{
		{"/api/v1/ingest", ""},
		{"/services/collector/event", ""},
		{"/_bulk", "application/x-ndjson"},
		{"/v1/logs", "application/x-protobuf"},
		{"/v1/logs", "application/json"},
	}
	for name, body := range bodies {
		for _, ep := range endpoints {
			t.Run(name+ep.path+ep.ct, func(t *testing.T) {
				sink := &ingesttest.Sink{}
				srv, _ := newTestServer(t, Config{}, sink)
				hdr := map[string]string{"Authorization": "Bearer good"}
				if ep.ct != "" {
					hdr["Content-Type"] = ep.ct
				}
				status, _, got := post(t, srv, "POST", ep.path, body, hdr)
				if status < 400 || status >= 500 {
					// Bulk answers 200 with per-item errors when only sources
					// are bad; nothing may be queued then either.
					if !(ep.path == "/_bulk" && status == 200) {
						t.Errorf("got status %d (%.200s), want a 4xx", status, got)
					}
				}
				if n := len(sink.Messages()); n != 0 {
					t.Errorf("got %d messages queued from junk, want 0", n)
				}
			})
		}
	}
}

func TestTruncatedGzip(t *testing.T) {
	srv, _ := newTestServer(t, Config{}, &ingesttest.Sink{})
	z := gz(t, []byte(strings.Repeat(`{"a":1}`+"\n", 1000)))
	status, _, got := post(t, srv, "POST", "/api/v1/ingest", z[:len(z)/2], map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"})
	if status != http.StatusBadRequest || !strings.Contains(string(got), "gzip") {
		t.Errorf("got %d %s, want 400 naming gzip", status, got)
	}
}
