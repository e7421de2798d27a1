package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Most shippers in the field tail files and forward each line unparsed
// inside a JSON record: Filebeat as "message", Fluent Bit as "log", the
// OpenTelemetry Collector's filelog receiver as an OTLP log body. An sshd
// line inside any of them must fire the built-in SSH rules, in the server
// and in vigil hunt, as it does when it comes over syslog.

// authLogLines returns n failed-password lines from src as they appear in
// /var/log/auth.log.
func authLogLines(src string, n int) []string {
	now := time.Now().UTC()
	out := make([]string, n)
	for i := range out {
		ts := now.Add(time.Duration(i-n-5) * time.Second).Format(time.Stamp)
		out[i] = fmt.Sprintf("%s web01 sshd[%d]: Failed password for invalid user admin from %s port %d ssh2", ts, 4000+i, src, 50000+i)
	}
	return out
}

// filebeatRecord is a Filebeat document for one line of a log file.
func filebeatRecord(line string, off int) map[string]any {
	return map[string]any{
		"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"message":    line,
		"log":        map[string]any{"file": map[string]any{"path": "/var/log/auth.log"}, "offset": off},
		"input":      map[string]any{"type": "filestream"},
		"host":       map[string]any{"name": "web01"},
		"agent":      map[string]any{"type": "filebeat", "version": "8.15.0"},
		"ecs":        map[string]any{"version": "8.0.0"},
	}
}

// fluentBitRecord is a record of Fluent Bit's tail input.
func fluentBitRecord(line string) map[string]any {
	return map[string]any{"date": float64(time.Now().UnixMilli()) / 1000, "log": line + "\n", "file": "/var/log/auth.log"}
}

func TestShipperRecordsFireSSHRules(t *testing.T) {
	s := startServer(t, serverOpts{})
	const n = 12
	srcFilebeat, srcFluentBit, srcOTLP := "198.51.100.61", "198.51.100.62", "198.51.100.63"

	// Filebeat's Elasticsearch output: the bulk API.
	var bulk bytes.Buffer
	for i, l := range authLogLines(srcFilebeat, n) {
		bulk.WriteString(`{"create":{"_index":"filebeat-8.15.0"}}` + "\n")
		b, _ := json.Marshal(filebeatRecord(l, i*120))
		bulk.Write(append(b, '\n'))
	}
	if resp, body := s.request("POST", "/_bulk", testToken, &bulk); resp.StatusCode != 200 || bytes.Contains(body, []byte(`"errors":true`)) {
		t.Fatalf("POST /_bulk: HTTP %d %s", resp.StatusCode, body)
	}

	// Fluent Bit's http output, format json: an array of records.
	var recs []map[string]any
	for _, l := range authLogLines(srcFluentBit, n) {
		recs = append(recs, fluentBitRecord(l))
	}
	b, _ := json.Marshal(recs)
	if resp, body := s.request("POST", "/api/v1/ingest", testToken, bytes.NewReader(b)); resp.StatusCode/100 != 2 {
		t.Fatalf("POST /api/v1/ingest: HTTP %d %s", resp.StatusCode, body)
	}

	// The OpenTelemetry Collector's filelog receiver through its otlphttp
	// exporter (JSON encoding): the line is the body, the file an attribute.
	var logRecords []string
	for _, l := range authLogLines(srcOTLP, n) {
		lb, _ := json.Marshal(l)
		logRecords = append(logRecords, fmt.Sprintf(`{"observedTimeUnixNano":"%d","body":{"stringValue":%s},"attributes":[{"key":"log.file.name","value":{"stringValue":"auth.log"}},{"key":"log.file.path","value":{"stringValue":"/var/log/auth.log"}}]}`, time.Now().UnixNano(), lb))
	}
	otlp := `{"resourceLogs":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"web01"}}]},"scopeLogs":[{"scope":{},"logRecords":[` + strings.Join(logRecords, ",") + `]}]}]}`
	req, _ := http.NewRequest("POST", "http://"+s.http+"/v1/logs", strings.NewReader(otlp))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/logs: HTTP %d %s", resp.StatusCode, body)
	}

	want := map[string]string{srcFilebeat: "Filebeat", srcFluentBit: "Fluent Bit", srcOTLP: "OpenTelemetry Collector"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var alerts struct{ Alerts []alertJSON }
		s.getJSON("/api/v1/alerts?limit=100", &alerts)
		for _, a := range alerts.Alerts {
			if a.RuleTitle != "SSH brute force from one source" {
				continue
			}
			for _, ip := range a.Entities["source.ip"] {
				delete(want, ip)
			}
		}
		if len(want) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SSH brute-force alert for the lines from %v", want)
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	// The lines were parsed, not only stored: each source's failures carry
	// the sshd fields.
	for _, src := range []string{srcFilebeat, srcFluentBit, srcOTLP} {
		r := s.search(fmt.Sprintf(`source.ip:%s event.dataset:sshd event.outcome:failure process.name:sshd`, src), 100)
		if r.Total != n {
			t.Errorf("events from %s with sshd fields: %d, want %d", src, r.Total, n)
		}
	}
}

func TestShipperRecordsHunt(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	for i, l := range authLogLines("198.51.100.71", 12) {
		b, _ := json.Marshal(filebeatRecord(l, i*120))
		out.Write(append(b, '\n'))
	}
	for _, l := range authLogLines("198.51.100.72", 12) {
		b, _ := json.Marshal(fluentBitRecord(l))
		out.Write(append(b, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, "shipped.jsonl"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runHunt(t, dir, "--format", "jsonl", "--no-progress", "--min-level", "high", "shipped.jsonl")
	if r.code != 0 {
		t.Fatalf("vigil hunt exited %d\n%s", r.code, r.stderr)
	}
	found := map[string]bool{}
	for _, f := range huntParseJSONL(t, r.stdout) {
		if f.RuleTitle == "SSH brute force from one source" {
			found[fmt.Sprint(f.Event["source.ip"])] = true
		}
	}
	for _, ip := range []string{"198.51.100.71", "198.51.100.72"} {
		if !found[ip] {
			t.Errorf("vigil hunt: no brute-force finding for %s (findings:\n%s)", ip, r.stdout)
		}
	}
}

// TestHECTime: the envelope's time is the event's @timestamp, as Splunk
// takes it (it was the receive time); host, source and sourcetype are
// kept.
func TestHECTime(t *testing.T) {
	s := startServer(t, serverOpts{})
	// What Splunk's logging libraries send: epoch seconds with a
	// fraction, host, source, sourcetype, and the line as the event.
	body := `{"time":1700000000.123,"host":"web01","source":"/var/log/auth.log","sourcetype":"linux_secure","index":"main","event":"Nov 14 22:13:20 web01 sshd[1]: Failed password for root from 198.51.100.90 port 50000 ssh2"}` +
		`{"time":"1700000001","event":{"message":"hec marker two","user":"bob"}}`
	req, _ := http.NewRequest("POST", "http://"+s.http+"/services/collector/event", strings.NewReader(body))
	req.Header.Set("Authorization", "Splunk "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HEC: HTTP %d %s", resp.StatusCode, b)
	}
	r := s.waitTotal("source.ip:198.51.100.90", 1, 20*time.Second)
	if r.Total != 1 {
		t.Fatalf("the HEC line was not stored parsed (total %d)", r.Total)
	}
	ev := r.Events[0]
	if got := str(ev["@timestamp"]); got != "2023-11-14T22:13:20.123Z" {
		t.Errorf("@timestamp %q, want the envelope's time 2023-11-14T22:13:20.123Z", got)
	}
	for k, want := range map[string]string{"host.name": "web01", "hec.source": "/var/log/auth.log", "hec.sourcetype": "linux_secure", "hec.index": "main", "event.dataset": "sshd"} {
		if got := str(ev[k]); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	r = s.waitTotal(`"hec marker two"`, 1, 20*time.Second)
	if r.Total != 1 || str(r.Events[0]["@timestamp"]) != "2023-11-14T22:13:21Z" {
		t.Errorf("second event: %+v, want @timestamp 2023-11-14T22:13:21Z", r.Events)
	}
}

// TestHuntCSVFormulaGuard: a value from a log that a spreadsheet would run
// as a formula (a host named "=2+5", "@SUM(1)", "+cmd", "-1+1") is
// neutralised in vigil hunt's CSV, as in the console's and vigil search's.
func TestHuntCSVFormulaGuard(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	hosts := []string{"=2+5", "@SUM(1)", "+cmd|' /C calc'!A0", "-1+1"}
	for h, host := range hosts {
		for i, l := range authLogLines(fmt.Sprintf("198.51.100.%d", 80+h), 12) {
			b, _ := json.Marshal(map[string]any{"host": map[string]any{"name": host}, "message": l, "n": i})
			out.Write(append(b, '\n'))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "hostile.jsonl"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runHunt(t, dir, "--format", "csv", "--no-progress", "--min-level", "high", "hostile.jsonl")
	if r.code != 0 {
		t.Fatalf("vigil hunt exited %d\n%s", r.code, r.stderr)
	}
	for _, host := range hosts {
		if !strings.Contains(r.stdout, `"'`+strings.ReplaceAll(host, `"`, `""`)+`"`) {
			t.Errorf("host %q is not neutralised (want the cell \"'%s\") in:\n%s", host, host, r.stdout)
		}
	}
}
