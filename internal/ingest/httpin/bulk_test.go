package httpin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

type bulkResp struct {
	Took   int                         `json:"took"`
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkRespDetail `json:"items"`
}

type bulkRespDetail struct {
	Index  string         `json:"_index"`
	ID     string         `json:"_id"`
	Status int            `json:"status"`
	Result string         `json:"result"`
	Error  *esErrorDetail `json:"error"`
}

func TestBulk(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "bulk.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &ingesttest.Sink{}
	srv, stats := newTestServer(t, Config{}, sink)
	status, hdr, got := post(t, srv, "POST", "/logs-default/_bulk", body, map[string]string{"Authorization": "ApiKey " + "aWQ6Z29vZA==", "Content-Type": "application/x-ndjson"})
	if status != 200 {
		t.Fatalf("got status %d (%s), want 200", status, got)
	}
	if p := hdr.Get("X-Elastic-Product"); p != "Elasticsearch" {
		t.Errorf("got X-Elastic-Product %q, want Elasticsearch", p)
	}
	var resp bulkResp
	if err := json.Unmarshal(got, &resp); err != nil {
		t.Fatalf("decoding %s: %v", got, err)
	}
	type item struct {
		Action, Index string
		Status        int
		HasID, HasErr bool
	}
	var items []item
	for _, m := range resp.Items {
		for a, d := range m {
			items = append(items, item{a, d.Index, d.Status, d.ID != "", d.Error != nil})
		}
	}
	want := []item{
		{"index", "filebeat-8.11.0", 201, true, false},
		{"create", "logs-default", 201, true, false},
		{"index", "logs-default", 400, true, true},
		{"delete", "old", 400, true, true},
		{"update", "logs-default", 400, true, true},
		{"create", "logs-default", 201, true, false},
	}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("items mismatch (-want +got):\n%s", diff)
	}
	if !resp.Errors {
		t.Errorf("got errors=false, want true")
	}
	if id := resp.Items[0]["index"].ID; id != "abc" {
		t.Errorf("got _id %q, want abc", id)
	}
	wantMsgs := []msgView{
		{`{"@timestamp":"2024-05-01T10:00:00Z","message":"hello"}`, ingest.FormatJSON, map[string]string{FieldESIndex: "filebeat-8.11.0"}},
		{`{"message":"second"}`, ingest.FormatJSON, map[string]string{FieldESIndex: "logs-default"}},
		{`{"message":"after the bad ones"}`, ingest.FormatJSON, map[string]string{FieldESIndex: "logs-default"}},
	}
	if diff := cmp.Diff(wantMsgs, viewsOf(sink.Messages())); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	if got := stats.RejectedCount(InputBulk, "bad_item"); got != 3 {
		t.Errorf("got bad_item %d, want 3", got)
	}
}

func TestBulkLarge(t *testing.T) {
	var b bytes.Buffer
	const n = 10000
	for i := range n {
		fmt.Fprintf(&b, `{"create":{"_index":"logs-x"}}`+"\n"+`{"message":"event %d","n":%d}`+"\n", i, i)
	}
	sink := &ingesttest.Sink{}
	srv, _ := newTestServer(t, Config{}, sink)
	status, _, got := post(t, srv, "POST", "/_bulk", gz(t, b.Bytes()), map[string]string{"Authorization": "Bearer good", "Content-Encoding": "gzip"})
	if status != 200 {
		t.Fatalf("got status %d (%.200s), want 200", status, got)
	}
	var resp bulkResp
	if err := json.Unmarshal(got, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != n || resp.Errors {
		t.Errorf("got %d items errors=%v, want %d without errors", len(resp.Items), resp.Errors, n)
	}
	if got := len(sink.Messages()); got != n {
		t.Errorf("got %d messages, want %d", got, n)
	}
}

func TestBulkErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		mode       ingesttest.Mode
		wantStatus int
		wantType   string
	}{
		{"no auth", `{"index":{}}` + "\n{}\n", map[string]string{}, ingesttest.Accept, 401, "security_exception"},
		{"malformed action", "{\"index\":\n{}\n", bearer("good"), ingesttest.Accept, 400, "illegal_argument_exception"},
		{"unknown action", `{"upsert":{}}` + "\n{}\n", bearer("good"), ingesttest.Accept, 400, "illegal_argument_exception"},
		{"two keys", `{"index":{},"create":{}}` + "\n{}\n", bearer("good"), ingesttest.Accept, 400, "illegal_argument_exception"},
		{"missing source", `{"index":{"_index":"a"}}` + "\n", bearer("good"), ingesttest.Accept, 400, "illegal_argument_exception"},
		{"empty", "\n", bearer("good"), ingesttest.Accept, 400, "action_request_validation_exception"},
		{"full", `{"index":{"_index":"a"}}` + "\n{}\n", bearer("good"), ingesttest.Full, 429, "es_rejected_execution_exception"},
		{"closed", `{"index":{"_index":"a"}}` + "\n{}\n", bearer("good"), ingesttest.Closed, 503, "unavailable_shards_exception"},
		{"store failing", `{"index":{"_index":"a"}}` + "\n{}\n", bearer("good"), ingesttest.Unavailable, 503, "unavailable_shards_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{Mode: tt.mode}
			srv, _ := newTestServer(t, Config{}, sink)
			status, _, got := post(t, srv, "POST", "/_bulk", []byte(tt.body), tt.hdr)
			if status != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", status, got, tt.wantStatus)
			}
			var e esErrorBody
			if err := json.Unmarshal(got, &e); err != nil {
				t.Fatalf("decoding %s: %v", got, err)
			}
			if e.Error.Type != tt.wantType || e.Status != tt.wantStatus {
				t.Errorf("got error %+v, want type %q status %d", e, tt.wantType, tt.wantStatus)
			}
		})
	}
}

func TestESSetupCalls(t *testing.T) {
	srv, _ := newTestServer(t, Config{}, &ingesttest.Sink{})
	basic := map[string]string{"Authorization": "Basic ZWxhc3RpYzpnb29k"} // elastic:good
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/", 200, `"number":"8.11.0"`},
		{"HEAD", "/", 200, ""},
		{"GET", "/_license", 200, `"status":"active"`},
		{"GET", "/_xpack", 200, `"ilm"`},
		{"GET", "/_cluster/health", 200, `"green"`},
		{"GET", "/_index_template/filebeat-8.11.0", 200, `"name":"filebeat-8.11.0"`},
		{"HEAD", "/_index_template/filebeat-8.11.0", 200, ""},
		{"PUT", "/_index_template/filebeat-8.11.0", 200, `"acknowledged":true`},
		{"GET", "/_ilm/policy/filebeat", 200, `"filebeat"`},
		{"PUT", "/_ilm/policy/filebeat", 200, `"acknowledged":true`},
		{"GET", "/_data_stream/logs-x", 200, `"data_streams"`},
		{"PUT", "/_ingest/pipeline/p1", 200, `"acknowledged":true`},
		{"HEAD", "/_template/logstash", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, hdr, got := post(t, srv, tt.method, tt.path, []byte("{}"), basic)
			if status != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", status, got, tt.wantStatus)
			}
			if !strings.Contains(string(got), tt.wantBody) {
				t.Errorf("got body %s, want it to contain %s", got, tt.wantBody)
			}
			if hdr.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Errorf("got X-Elastic-Product %q, want Elasticsearch", hdr.Get("X-Elastic-Product"))
			}
		})
	}
	status, _, _ := post(t, srv, "GET", "/", nil, nil)
	if status != 401 {
		t.Errorf("GET / without credentials: got %d, want 401", status)
	}
}

func FuzzDecodeBulk(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "bulk.ndjson")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{`{"index":{}}` + "\n{}\n", `{"delete":{"_id":"1"}}`, "{\"create\":{\"_index\":\"a\"}}\n[[[[\n", `{"index":` + strings.Repeat("[", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := decodeBulk(in, "p", ingest.Raw{})
		if err != nil {
			return
		}
		if len(req.msgs) > len(req.items) {
			t.Fatalf("got %d messages for %d items", len(req.msgs), len(req.items))
		}
		ok := 0
		for _, it := range req.items {
			if it.status == 201 {
				ok++
			}
			if it.id == "" && (it.action == "index" || it.action == "create") {
				t.Fatalf("item %+v without id", it)
			}
		}
		if ok != len(req.msgs) {
			t.Fatalf("got %d successful items and %d messages", ok, len(req.msgs))
		}
		for _, m := range req.msgs {
			if !json.Valid(m.Data) {
				t.Fatalf("message %q is not valid JSON", m.Data)
			}
		}
		resp := appendBulkResponse(nil, 0, req.items)
		if !json.Valid(resp) {
			t.Fatalf("response %q is not valid JSON", resp)
		}
	})
}

func TestESVersionConfig(t *testing.T) {
	srv, _ := newTestServer(t, Config{ESVersion: "8.17.3"}, &ingesttest.Sink{})
	status, _, got := post(t, srv, "GET", "/", nil, bearer("good"))
	var doc struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.Unmarshal(got, &doc); err != nil || status != 200 {
		t.Fatalf("got %d %s (%v), want 200 and a version document", status, got, err)
	}
	if doc.Version.Number != "8.17.3" || doc.Tagline != "You Know, for Search" {
		t.Errorf("got version %q tagline %q, want 8.17.3 and the tagline", doc.Version.Number, doc.Tagline)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero is defaults", Config{}, false},
		{"version", Config{ESVersion: "9.0.1"}, false},
		{"bad version", Config{ESVersion: "8.x"}, true},
		{"old major", Config{ESVersion: "6.8.0"}, true},
		{"negative size", Config{MaxBodySize: -1}, true},
		{"negative timeout", Config{ReadTimeout: -1}, true},
		{"defaults", DefaultConfig(), false},
		{"smallest body", Config{MaxBodySize: 1024}, false},
		{"tiny body", Config{MaxBodySize: 1023}, true},
		{"shortest read", Config{ReadTimeout: time.Second}, false},
		{"too short read", Config{ReadTimeout: time.Second - 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
