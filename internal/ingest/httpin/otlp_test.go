package httpin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
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
			sink := &fakeSink{}
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
			for _, m := range sink.snapshot() {
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
			srv, _ := newTestServer(t, Config{}, &fakeSink{})
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

func FuzzOTLPProto(f *testing.F) {
	b, _ := plogotlp.NewExportRequestFromLogs(sampleLogs()).MarshalProto()
	f.Add(b)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := decodeOTLP(in, ctProtobuf)
		if err != nil {
			return
		}
		for _, m := range otlpMessages(req.Logs(), ingest.Raw{}) {
			if !json.Valid(m.Data) {
				t.Fatalf("record %q is not valid JSON", m.Data)
			}
		}
	})
}
