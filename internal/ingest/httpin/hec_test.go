package httpin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fastjson"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

type msgView struct {
	Data   string
	Format ingest.Format
	Fields map[string]string
}

func viewsOf(msgs []ingest.Raw) []msgView {
	var out []msgView
	for _, m := range msgs {
		out = append(out, msgView{string(m.Data), m.Format, m.Fields})
	}
	return out
}

func splunk(tok string) map[string]string {
	return map[string]string{"Authorization": "Splunk " + tok}
}

func TestHECEvent(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "hec_events.json"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &ingesttest.Sink{}
	srv, _ := newTestServer(t, Config{}, sink)
	status, _, got := post(t, srv, "POST", "/services/collector/event?channel=c1", body, splunk("good"))
	if status != 200 || string(got) != `{"text":"Success","code":0}`+"\n" {
		t.Fatalf("got %d %s, want 200 Success", status, got)
	}
	want := []msgView{
		{`{"action":"login","user":"alice","nested":{"ok":true}}`, ingest.FormatJSON, map[string]string{
			"@timestamp": "2023-11-14T22:13:20.123Z", "host.name": "web01", "hec.source": "/var/log/auth", "hec.sourcetype": "json",
			"hec.index": "main", "hec.channel": "c1", "hec.fields.env": "prod", "hec.fields.n": "3",
		}},
		{"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", ingest.FormatAuto, map[string]string{"hec.channel": "c1", "@timestamp": "2023-11-14T22:13:20Z"}},
		{"42", ingest.FormatAuto, map[string]string{"hec.channel": "c1"}},
	}
	if diff := cmp.Diff(want, viewsOf(sink.Messages())); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
}

func TestHECErrors(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		body       string
		hdr        map[string]string
		mode       ingesttest.Mode
		wantStatus int
		wantCode   int
		wantItem   *int
	}{
		{"no token", "/services/collector/event", `{"event":"x"}`, map[string]string{}, ingesttest.Accept, 401, hecTokenRequired, nil},
		{"invalid token", "/services/collector/event", `{"event":"x"}`, splunk("bad"), ingesttest.Accept, 401, hecInvalidToken, nil},
		{"forbidden", "/services/collector/event", `{"event":"x"}`, splunk("readonly"), ingesttest.Accept, 403, hecTokenDisabled, nil},
		{"no data", "/services/collector/event", ``, splunk("good"), ingesttest.Accept, 400, hecNoData, nil},
		{"only spaces", "/services/collector/event", "  \n", splunk("good"), ingesttest.Accept, 400, hecNoData, nil},
		{"event required", "/services/collector", `{"event":"a"}{"host":"x"}`, splunk("good"), ingesttest.Accept, 400, hecEventRequired, ptr(1)},
		{"event blank", "/services/collector/event", `{"event":""}`, splunk("good"), ingesttest.Accept, 400, hecEventBlank, ptr(0)},
		{"invalid json", "/services/collector/event", `{"event":"a"}{"event":`, splunk("good"), ingesttest.Accept, 400, hecInvalidFormat, ptr(1)},
		{"array", "/services/collector/event", `[{"event":"a"}]`, splunk("good"), ingesttest.Accept, 400, hecInvalidFormat, ptr(0)},
		{"bad time", "/services/collector/event", `{"event":"a","time":"soon"}`, splunk("good"), ingesttest.Accept, 400, hecInvalidFormat, ptr(0)},
		{"full", "/services/collector/event", `{"event":"a"}`, splunk("good"), ingesttest.Full, 429, hecServerBusy, nil},
		{"closed", "/services/collector/event", `{"event":"a"}`, splunk("good"), ingesttest.Closed, 503, hecServerBusy, nil},
		{"store failing", "/services/collector/event", `{"event":"a"}`, splunk("good"), ingesttest.Unavailable, 503, hecServerBusy, nil},
		{"failed", "/services/collector/raw", "line", splunk("good"), ingesttest.Fail, 503, hecInternalError, nil},
		{"raw no data", "/services/collector/raw", "\n\n", splunk("good"), ingesttest.Accept, 400, hecNoData, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{Mode: tt.mode}
			srv, _ := newTestServer(t, Config{}, sink)
			status, _, got := post(t, srv, "POST", tt.path, []byte(tt.body), tt.hdr)
			if status != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", status, got, tt.wantStatus)
			}
			var resp hecResponse
			if err := json.Unmarshal(got, &resp); err != nil {
				t.Fatalf("decoding %s: %v", got, err)
			}
			if resp.Code != tt.wantCode {
				t.Errorf("got code %d (%s), want %d", resp.Code, resp.Text, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantItem, resp.InvalidItem); diff != "" {
				t.Errorf("invalid-event-number mismatch (-want +got):\n%s", diff)
			}
			if tt.mode == ingesttest.Accept && len(sink.Messages()) != 0 {
				t.Errorf("got %d messages queued from a rejected request, want 0", len(sink.Messages()))
			}
		})
	}
}

func ptr(n int) *int { return &n }

func TestHECTime(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`1700000000.123`, "2023-11-14T22:13:20.123Z", false},
		{`"1700000000"`, "2023-11-14T22:13:20Z", false},
		{`1700000000123`, "2023-11-14T22:13:20.123Z", false},
		{`1700000000123456`, "2023-11-14T22:13:20.123456Z", false},
		{`1700000000123456789`, "2023-11-14T22:13:20.123457Z", false},
		{`""`, "", false},
		{`null`, "", false},
		{`-5`, "", true},
		{`"soon"`, "", true},
		{`[1]`, "", true},
		{`1e30`, "", true},
	}
	for _, tt := range tests {
		v, err := fastjson.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := hecTime(v)
		got := ""
		if !ts.IsZero() {
			got = ts.UTC().Format(time.RFC3339Nano)
		}
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("hecTime(%s): got %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestHECRawAndHealth(t *testing.T) {
	sink := &ingesttest.Sink{}
	srv, _ := newTestServer(t, Config{}, sink)
	status, _, got := post(t, srv, "GET", "/services/collector/health", nil, nil)
	if status != 200 || string(got) != `{"text":"HEC is healthy","code":17}`+"\n" {
		t.Errorf("health: got %d %s, want 200 HEC is healthy", status, got)
	}
	body := "Nov 22 04:00:00 host sshd[1]: Accepted publickey for bob\r\n\nsecond line\n"
	status, _, got = post(t, srv, "POST", "/services/collector/raw?sourcetype=linux_secure&host=h1",
		[]byte(body), map[string]string{"Authorization": "Splunk good", "X-Splunk-Request-Channel": "ch"})
	if status != 200 {
		t.Fatalf("raw: got %d %s, want 200", status, got)
	}
	f := map[string]string{"hec.sourcetype": "linux_secure", "host.name": "h1", "hec.channel": "ch"}
	want := []msgView{
		{"Nov 22 04:00:00 host sshd[1]: Accepted publickey for bob", ingest.FormatAuto, f},
		{"second line", ingest.FormatAuto, f},
	}
	if diff := cmp.Diff(want, viewsOf(sink.Messages())); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
}

func FuzzDecodeHEC(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "hec_events.json")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{`{"event":"x"}`, `{"event":{"a":1},"time":"1.5","fields":{"a":[1]}}`, `{"event":"a"}{"event":`, `{"time":-1,"event":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		msgs, item, err := decodeHEC(in, hecDefaults{}, ingest.Raw{})
		if err != nil {
			if msgs != nil {
				t.Fatalf("got %d messages with error %v, want none", len(msgs), err)
			}
			if item < 0 {
				t.Fatalf("got item %d, want >= 0", item)
			}
			return
		}
		for _, m := range msgs {
			if len(m.Data) == 0 {
				t.Fatal("got an empty event")
			}
			if m.Format == ingest.FormatJSON && !json.Valid(m.Data) {
				t.Fatalf("got invalid JSON event %q", m.Data)
			}
			if ts, ok := m.Fields["@timestamp"]; ok && !strings.Contains(ts, "T") {
				t.Fatalf("got timestamp %q, want RFC 3339", ts)
			}
		}
	})
}
