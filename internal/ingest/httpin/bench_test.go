package httpin

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// ndjson returns n JSON lines of about 200 bytes.
func ndjson(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"@timestamp":"2024-05-01T10:00:00.000Z","host":{"name":"web01"},"user":{"name":"alice%d"},"source":{"ip":"203.0.113.7","port":51234},"message":"Failed password for invalid user admin"}`+"\n", i)
	}
	return b.Bytes()
}

func BenchmarkSplitObjects(b *testing.B) {
	data := ndjson(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := splitObjects(data, func([]byte) error { n++; return nil }); err != nil || n != 1000 {
			b.Fatal(err, n)
		}
	}
}

// BenchmarkHTTPIngestNDJSON posts 1000-line NDJSON bodies to a real HTTP
// server (loopback) and reports events per second accepted.
func BenchmarkHTTPIngestNDJSON(b *testing.B) {
	const lines = 1000
	data := ndjson(lines)
	srv, _ := newTestServer(b, Config{}, &ingesttest.Sink{Discard: true})
	client := srv.Client()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := time.Now()
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/ingest", bytes.NewReader(data))
			req.Header.Set("Authorization", "Bearer good")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("got status %d, want 200", resp.StatusCode)
				return
			}
		}
	})
	n = b.N * lines
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}
