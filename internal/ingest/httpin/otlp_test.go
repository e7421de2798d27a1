package httpin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func sampleLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "web01")
	rl.Resource().Attributes().PutStr("user.name", "from-resource")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("auth")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)))
	lr.SetSeverityText("WARN")
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.Body().SetStr("Failed password for root")
	lr.Attributes().PutStr("user.name", "root")
	lr.Attributes().PutInt("source.port", 51234)
	lr.Attributes().PutDouble("ratio", 0.5)
	lr.Attributes().PutBool("ok", false)
	s := lr.Attributes().PutEmptySlice("tags")
	s.AppendEmpty().SetStr("a")
	s.AppendEmpty().SetInt(2)
	m := lr.Attributes().PutEmptyMap("http")
	m.PutStr("method", "GET")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})

	lr2 := sl.LogRecords().AppendEmpty()
	lr2.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC)))
	lr2.SetSeverityNumber(plog.SeverityNumberError)
	bm := lr2.Body().SetEmptyMap()
	bm.PutStr("event", "crash")
	bm.PutEmptyMap("detail").PutInt("code", 7)
	return ld
}

func TestOTLP(t *testing.T) {
	wantRecords := []map[string]any{
		{
			"@timestamp": "2024-05-01T10:00:00.123456789Z", "message": "Failed password for root", "log.level": "WARN",
			"event.severity": 13.0, "trace.id": "0102030405060708090a0b0c0d0e0f10", "otel.scope.name": "auth",
			"user.name": "root", "source.port": 51234.0, "ratio": 0.5, "ok": false, "tags": []any{"a", 2.0}, "http.method": "GET",
			"service.name": "checkout", "host.name": "web01",
		},
		{
			"@timestamp": "2024-05-01T10:00:01Z", "otel.body.event": "crash", "otel.body.detail.code": 7.0, "log.level": "error",
			"event.severity": 17.0, "otel.scope.name": "auth", "service.name": "checkout", "host.name": "web01", "user.name": "from-resource",
		},
	}
	req := plogotlp.NewExportRequestFromLogs(sampleLogs())
	for _, ct := range []string{ctProtobuf, ctJSON} {
		t.Run(ct, func(t *testing.T) {
			var body []byte
			var err error
			if ct == ctProtobuf {
				body, err = req.MarshalProto()
			} else {
				body, err = req.MarshalJSON()
			}
			if err != nil {
				t.Fatal(err)
			}
			sink := &ingesttest.Sink{}
			srv, _ := newTestServer(t, Config{}, sink)
			status, hdr, got := post(t, srv, "POST", "/v1/logs", gz(t, body), map[string]string{
				"Authorization": "Bearer good", "Content-Type": ct, "Content-Encoding": "gzip",
			})
			if status != 200 {
				t.Fatalf("got status %d (%s), want 200", status, got)
			}
			if hdr.Get("Content-Type") != ct {
				t.Errorf("got Content-Type %q, want %q", hdr.Get("Content-Type"), ct)
			}
			resp := plogotlp.NewExportResponse()
			if ct == ctProtobuf {
				err = resp.UnmarshalProto(got)
			} else {
				err = resp.UnmarshalJSON(got)
			}
			if err != nil {
				t.Errorf("decoding response %q: %v", got, err)
			}
			var records []map[string]any
			for _, m := range sink.Messages() {
				var rec map[string]any
				if err := json.Unmarshal(m.Data, &rec); err != nil {
					t.Fatalf("record %s: %v", m.Data, err)
				}
				records = append(records, rec)
			}
			if diff := cmp.Diff(wantRecords, records); diff != "" {
				t.Errorf("records mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOTLPErrors(t *testing.T) {
	// An attribute value nested 1000 deep, hand-encoded: AnyValue{kvlist:
	// KeyValueList{values: KeyValue{value: AnyValue{...}}}}.
	deep := []byte{}
	for range 1000 {
		kv := append([]byte{0x12}, appendLen(nil, len(deep))...)
		kv = append(kv, deep...)
		kvl := append([]byte{0x0a}, appendLen(nil, len(kv))...)
		kvl = append(kvl, kv...)
		deep = append([]byte{0x32}, appendLen(nil, len(kvl))...)
		deep = append(deep, kvl...)
	}
	// LogRecord{body(5): deep} in ScopeLogs(2) in ResourceLogs(2) in request(1).
	wrap := func(tag byte, b []byte) []byte { return append(append([]byte{tag}, appendLen(nil, len(b))...), b...) }
	bomb := wrap(0x0a, wrap(0x12, wrap(0x12, wrap(0x2a, deep))))

	tests := []struct {
		name       string
		ct         string
		body       []byte
		hdr        map[string]string
		wantStatus int
		wantMsg    string
	}{
		{"unsupported type", "text/plain", []byte("x"), nil, 415, "unsupported content type"},
		{"no auth", ctJSON, []byte("{}"), map[string]string{}, 401, "missing credentials"},
		{"bad protobuf", ctProtobuf, []byte{0xff, 0xff}, nil, 400, "otlp protobuf"},
		{"bad json", ctJSON, []byte(`{"resourceLogs":`), nil, 400, "otlp json"},
		{"deep protobuf", ctProtobuf, bomb, nil, 400, "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t, Config{}, &ingesttest.Sink{})
			hdr := tt.hdr
			if hdr == nil {
				hdr = bearer("good")
			}
			hdr["Content-Type"] = tt.ct
			status, _, got := post(t, srv, "POST", "/v1/logs", tt.body, hdr)
			if status != tt.wantStatus {
				t.Errorf("got status %d (%q), want %d", status, got, tt.wantStatus)
			}
			if !strings.Contains(string(got), tt.wantMsg) {
				t.Errorf("got body %q, want it to contain %q", got, tt.wantMsg)
			}
		})
	}
}

func appendLen(b []byte, n int) []byte {
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// benchLogs returns n log records under one resource and one scope, each
// with a string body, both timestamps, severity, trace and span ids and
// six attributes of every common kind; the resource and the scope carry
// attributes too.
func benchLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("host.name", "web01.example.com")
	ra.PutStr("os.type", "linux")
	ra.PutStr("k8s.pod.name", "checkout-7d9f8b6c5-x2x7q")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/example/checkout/auth")
	sl.Scope().SetVersion("1.4.2")
	sl.Scope().Attributes().PutStr("library.language", "go")
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i)*time.Millisecond + time.Microsecond)))
		lr.SetSeverityText("WARN")
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.Body().SetStr(fmt.Sprintf("Failed password for invalid user admin%d from 203.0.113.7 port 51234 ssh2", i))
		lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		a := lr.Attributes()
		a.PutStr("user.name", "admin")
		a.PutInt("source.port", 51234)
		a.PutDouble("duration", 0.25)
		a.PutBool("ok", false)
		m := a.PutEmptyMap("http")
		m.PutStr("method", "POST")
		m.PutInt("status_code", 401)
		s := a.PutEmptySlice("tags")
		s.AppendEmpty().SetStr("ssh")
		s.AppendEmpty().SetStr("auth")
	}
	return ld
}

// BenchmarkOTLP posts one request of 100 log records to the OTLP handler
// (in process, no network) per iteration, in each encoding.
func BenchmarkOTLP(b *testing.B) {
	req := plogotlp.NewExportRequestFromLogs(benchLogs(100))
	pb, err := req.MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		ct   string
		body []byte
	}{{ctProtobuf, pb}, {ctJSON, js}} {
		b.Run(strings.TrimPrefix(bc.ct, "application/"), func(b *testing.B) {
			h := New(Config{}, &ingesttest.Sink{Discard: true}, testAuth, nil, nil)
			mux := http.NewServeMux()
			h.Register(mux)
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(bc.body))
				r.Header.Set("Authorization", "Bearer good")
				r.Header.Set("Content-Type", bc.ct)
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("got status %d (%s), want 200", w.Code, w.Body)
				}
			}
		})
	}
}
