package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

// TestVictoriaLogsEngine runs `vigil serve` with store.engine:
// victorialogs: events ingested over HTTP are searchable (filter and
// aggregate), survive a restart, are found by `vigil search --data`, and a
// server configured for the SQLite engine refuses the directory.
func TestVictoriaLogsEngine(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: victorialogs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	events := `{"message":"vl GET /admin 404","marker":"vl","user.name":"bob","host.name":"web1","http.response.status_code":404}
{"message":"vl GET / 200","marker":"vl","user.name":"alice","host.name":"web2","http.response.status_code":200}
{"message":"vl POST /login 500","marker":"vl","user.name":"carol","host.name":"web1","http.response.status_code":500}
`
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(events))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := s.waitTotal("marker:vl", 3, 20*time.Second); r.Total != 3 {
		t.Fatalf("events not searchable: total %d, want 3", r.Total)
	}
	r := s.search("marker:vl | stats count() by host.name", 10)
	if got, want := len(r.Rows), 2; got != want {
		t.Fatalf("count by host.name: got %d rows (%v), want %d", got, r.Rows, want)
	}
	if str(r.Rows[0][0]) != "web1" || str(r.Rows[0][1]) != "2" {
		t.Errorf("first row: got %v, want [web1 2]", r.Rows[0])
	}
	data := s.data
	s.terminate()

	out, err := exec.Command(vigilBin, "search", "--data", data, "--format", "json", "marker:vl AND user.name:carol").CombinedOutput()
	if err != nil {
		t.Fatalf("vigil search --data: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"total":1`) || !strings.Contains(string(out), "POST /login") {
		t.Errorf("vigil search --data: got %s, want carol's event and total 1", out)
	}

	s = startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})
	if r := s.search("marker:vl", 10); r.Total != 3 {
		t.Errorf("after restart: total %d, want 3", r.Total)
	}
	s.terminate()

	sq := exec.Command(vigilBin, "serve", "--data", data, "--http", freePort(t, "tcp"), "--syslog-tcp", "", "--syslog-udp", "")
	out, err = sq.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "store.engine: victorialogs") {
		t.Errorf("serve with the sqlite engine on a victorialogs directory: got %v\n%s\nwant a refusal naming store.engine", err, tail(string(out), 2000))
	}
}

// TestStoreMigrate moves a data directory of the sqlite engine to the
// victorialogs engine: a server set for victorialogs first refuses the
// directory and names the command; `vigil store migrate` copies every
// event; the server then finds them all.
func TestStoreMigrate(t *testing.T) {
	s := startServer(t, serverOpts{})
	var lines strings.Builder
	const n = 500
	for i := range n {
		fmt.Fprintf(&lines, `{"message":"mig event %d","marker":"mig","host.name":"h%d"}`+"\n", i, i%7)
	}
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(lines.String()))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := s.waitTotal("marker:mig", n, 20*time.Second); r.Total != n {
		t.Fatalf("before: total %d, want %d", r.Total, n)
	}
	data := s.data
	s.terminate()

	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: victorialogs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := exec.Command(vigilBin, "serve", "--config", cfg, "--data", data, "--http", freePort(t, "tcp"), "--syslog-tcp", "", "--syslog-udp", "")
	out, err := refused.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "vigil store migrate --from") {
		t.Fatalf("victorialogs server on sqlite events: got %v\n%s\nwant a refusal naming vigil store migrate", err, tail(string(out), 2000))
	}

	out, err = exec.Command(vigilBin, "store", "migrate", "--from", data).CombinedOutput()
	if err != nil {
		t.Fatalf("vigil store migrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("migrated %d events", n)) {
		t.Errorf("vigil store migrate said %q, want the count", out)
	}

	s = startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})
	if r := s.search("marker:mig", 10); r.Total != n {
		t.Errorf("after migration: total %d, want %d", r.Total, n)
	}
	if r := s.search("marker:mig | stats count() by host.name", 10); len(r.Rows) != 7 {
		t.Errorf("after migration: %d hosts, want 7", len(r.Rows))
	}
	s.terminate()
}

// TestVictoriaLogsTimeRange: on the victorialogs engine, events whose time
// is outside the range it accepts are refused for good with a clear error
// (HTTP 422 naming the range; for syslog a count in
// vigil_events_dropped_total and a log line), the other events of the
// batch are stored, and ingest goes on: a hostile timestamp cannot wedge
// the pipeline.
func TestVictoriaLogsTimeRange(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: victorialogs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	events := `{"message":"tr fine 1","marker":"tr"}
{"message":"tr from the future","marker":"tr","@timestamp":"2099-01-01T00:00:00Z"}
{"message":"tr fine 2","marker":"tr"}
`
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(events))
	if resp.StatusCode != 422 || !strings.Contains(string(body), "1 of 3 events refused") || !strings.Contains(string(body), "accepted range") {
		t.Fatalf("ingest with a future event: HTTP %d %s, want 422 naming 1 of 3 refused and the range", resp.StatusCode, body)
	}
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<13>1 2099-01-01T00:00:00Z h app - - - tr syslog from the future\n")
	fmt.Fprintf(conn, "<13>1 %s h app - - - tr syslog fine\n", time.Now().UTC().Format(time.RFC3339))
	conn.Close()
	if r := s.waitTotal("tr", 3, 20*time.Second); r.Total != 3 {
		t.Fatalf("stored %d events, want 3 (two over HTTP, one over syslog)", r.Total)
	}
	// Ingest goes on after the refusals.
	resp, body = s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"tr after","marker":"tr"}`+"\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest after the refusals: HTTP %d %s", resp.StatusCode, body)
	}
	resp, body = s.request("GET", "/metrics", testToken, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `vigil_events_dropped_total{reason="time_range"} 2`) {
		t.Errorf("metrics: want vigil_events_dropped_total{reason=\"time_range\"} 2 (one HTTP, one syslog); got HTTP %d", resp.StatusCode)
	}
	s.terminate()
	if !strings.Contains(s.log.String(), "outside the range it accepts") {
		t.Errorf("server log does not mention the refused events:\n%s", tail(s.log.String(), 2000))
	}
}

// TestEventsServer runs `vigil serve --events URL` on a real VictoriaLogs
// server: events from HTTP and syslog are searchable, a brute force over
// syslog raises its alert, the events outlive the vigil process, and a
// second data directory sees them through the same server.
func TestEventsServer(t *testing.T) {
	vl := sharedtest.StartVictoriaLogs(t, "-retentionPeriod=30d")
	s := startServer(t, serverOpts{extra: []string{"--events", vl}})
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"es one","marker":"es","host.name":"web1"}
{"message":"es two","marker":"es","host.name":"web2"}
`))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	ip := "203.0.113.77"
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 30 {
		fmt.Fprintf(conn, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n",
			now.Add(time.Duration(i-40)*time.Second).Format(time.Stamp), 2000+i, ip, 40000+i)
	}
	conn.Close()
	if r := s.waitTotal("marker:es", 2, 20*time.Second); r.Total != 2 {
		t.Fatalf("HTTP events: total %d, want 2", r.Total)
	}
	if r := s.waitTotal(`"Failed password for root from `+ip+`"`, 30, 20*time.Second); r.Total != 30 {
		t.Fatalf("syslog events: total %d, want 30", r.Total)
	}
	if resp, body := s.request("GET", "/readyz", "", nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"events":"ok"`) {
		t.Errorf("/readyz: HTTP %d %s, want ready with the events server ok", resp.StatusCode, body)
	}
	if r := s.search("marker:es | stats count() by host.name", 10); len(r.Rows) != 2 {
		t.Errorf("count by host.name: %v, want 2 rows", r.Rows)
	}
	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.getJSON("/api/v1/alerts?limit=100", &alerts)
		found := false
		for _, a := range alerts.Alerts {
			found = found || a.RuleTitle == "SSH brute force from one source"
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no brute-force alert with events in VictoriaLogs: %+v", alerts.Alerts)
		}
		time.Sleep(100 * time.Millisecond) // polling the API of a real server process
	}
	s.terminate()

	// Another vigil, another data directory, the same events server.
	s2 := startServer(t, serverOpts{extra: []string{"--events", vl}})
	if r := s2.search("marker:es", 10); r.Total != 2 {
		t.Errorf("second server: total %d, want the 2 events kept by VictoriaLogs", r.Total)
	}
	s2.terminate()
}

// TestVictoriaLogsDamagedPartition: a damaged part makes the engine end
// the process (it panics in its own goroutines); the server's start-up
// check runs it in a child instead, moves each damaged partition (day)
// aside, says so, and starts: no crash loop. Two days are damaged in two
// ways: a metadata file that is not JSON (found by opening) and a part
// index cut short (found by reading every part, which the check does
// after an unclean exit).
func TestVictoriaLogsDamagedPartition(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("store:\n  engine: victorialogs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	now := time.Now().UTC()
	yesterday := now.Add(-24 * time.Hour)
	var lines strings.Builder
	for i := range 50 {
		fmt.Fprintf(&lines, `{"message":"dmg today %d","marker":"dmg","@timestamp":%q}`+"\n", i, now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339Nano))
		fmt.Fprintf(&lines, `{"message":"dmg yesterday %d","marker":"dmg","@timestamp":%q}`+"\n", i, yesterday.Add(-time.Duration(i)*time.Second).Format(time.RFC3339Nano))
	}
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(lines.String()))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := s.waitTotal("marker:dmg", 100, 20*time.Second); r.Total != 100 {
		t.Fatalf("total %d, want 100", r.Total)
	}
	data := s.data
	s.terminate() // a clean stop writes every row into the engine's parts

	parts := filepath.Join(data, "victorialogs", "partitions")
	var cut, garbled int
	filepath.WalkDir(parts, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch {
		case strings.Contains(p, "/"+now.Format("20060102")+"/datadb/") && d.Name() == "index.bin":
			if err := os.Truncate(p, 3); err == nil {
				cut++
			}
		case strings.Contains(p, "/"+yesterday.Format("20060102")+"/indexdb/") && d.Name() == "metadata.json":
			if err := os.WriteFile(p, []byte("{garbage"), 0o600); err == nil {
				garbled++
			}
		}
		return nil
	})
	if cut == 0 || garbled == 0 {
		t.Fatalf("damaged %d index files and %d metadata files, want some of each (layout: see %s)", cut, garbled, parts)
	}
	// What a kill -9 leaves: the lock file still names a process.
	if err := os.WriteFile(filepath.Join(data, "vigil.lock"), []byte("pid 999999 since 2026-01-01T00:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s = startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})
	if r := s.search("marker:dmg", 10); r.Total != 0 {
		t.Errorf("after quarantine: total %d, want 0 (both days moved aside)", r.Total)
	}
	resp, body = s.request("GET", "/metrics", testToken, nil)
	if !strings.Contains(string(body), "vigil_store_quarantined_partitions 2") {
		t.Errorf("metrics: want vigil_store_quarantined_partitions 2 (HTTP %d)", resp.StatusCode)
	}
	// Ingest goes on.
	resp, body = s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"dmg after","marker":"dmg2"}`+"\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest after quarantine: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := s.waitTotal("marker:dmg2", 1, 20*time.Second); r.Total != 1 {
		t.Errorf("after quarantine: new events: total %d, want 1", r.Total)
	}
	s.terminate()
	log := s.log.String()
	for _, day := range []string{now.Format("20060102"), yesterday.Format("20060102")} {
		if !strings.Contains(log, "victorialogs partition damaged") || !strings.Contains(log, "day="+day) {
			t.Errorf("server log does not report partition %s moved aside:\n%s", day, tail(log, 3000))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(data, "victorialogs-quarantine"))
	if len(entries) != 2 {
		t.Errorf("quarantine holds %d partitions, want 2", len(entries))
	}
	out, err := exec.Command(vigilBin, "store", "check", "--data", data, "--scan").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "store OK") {
		t.Errorf("vigil store check after quarantine: %v\n%s", err, out)
	}
}
