package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

// TestIngestDetectRoles runs a small cluster of real processes: a NATS
// server, a detect node and two ingest nodes. Events sent to either
// ingest node (HTTP and syslog) are searchable on the detect node; an SSH
// brute force whose failures arrive half at each ingest node raises
// exactly one brute-force alert (one correlation, not two half ones); an
// ingest node answers 2xx only once the bus has the events, keeps none
// itself, and serves no API.
func TestIngestDetectRoles(t *testing.T) {
	nats := sharedtest.StartNATS(t)
	detect := startServer(t, serverOpts{extra: []string{"--role", "detect", "--nats", nats}})
	in1 := startServer(t, serverOpts{extra: []string{"--role", "ingest", "--nats", nats}})
	in2 := startServer(t, serverOpts{extra: []string{"--role", "ingest", "--nats", nats}})

	resp, body := in1.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"roles one","marker":"roles"}
{"message":"roles two","marker":"roles"}
`))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest node 1: HTTP %d: %s", resp.StatusCode, body)
	}
	resp, body = in2.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"roles three","marker":"roles"}`+"\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest node 2: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := detect.waitTotal("marker:roles", 3, 30*time.Second); r.Total != 3 {
		t.Fatalf("detect node: total %d, want the 3 events sent to both ingest nodes", r.Total)
	}

	ip := "203.0.113.91"
	now := time.Now().UTC()
	for n, s := range []*server{in1, in2} {
		conn, err := net.Dial("tcp", s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 15 {
			k := 2*i + n
			fmt.Fprintf(conn, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n",
				now.Add(time.Duration(k-40)*time.Second).Format(time.Stamp), 2000+k, ip, 40000+k)
		}
		conn.Close()
	}
	if r := detect.waitTotal(`"Failed password for root from `+ip+`"`, 30, 30*time.Second); r.Total != 30 {
		t.Fatalf("detect node: %d failed logins, want 30 (15 through each ingest node)", r.Total)
	}
	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(20 * time.Second)
	for {
		detect.getJSON("/api/v1/alerts?limit=100", &alerts)
		n := 0
		for _, a := range alerts.Alerts {
			if a.RuleTitle == "SSH brute force from one source" {
				n++
			}
		}
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("got %d brute-force alerts, want exactly 1: %+v", n, alerts.Alerts)
		}
		time.Sleep(100 * time.Millisecond) // polling the API of a real server process
	}

	// Each node counts what crossed the bus; nothing is left in it.
	metric := func(s *server, line string) bool {
		resp, body := s.request("GET", "/metrics", testToken, nil)
		return resp.StatusCode == 200 && strings.Contains(string(body), line+"\n")
	}
	if !metric(in1, "vigil_bus_published_total 17") || !metric(in2, "vigil_bus_published_total 16") {
		t.Errorf("ingest nodes' metrics: want vigil_bus_published_total 17 and 16 (HTTP and syslog events each)")
	}
	if !metric(detect, "vigil_bus_consumed_total 33") || !metric(detect, "vigil_bus_backlog 0") {
		t.Errorf("detect node's metrics: want vigil_bus_consumed_total 33 and vigil_bus_backlog 0")
	}

	resp, body = detect.request("GET", "/readyz", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"nats":"ok"`) || !strings.Contains(string(body), `"metadata":"ok"`) {
		t.Errorf("detect node /readyz: HTTP %d %s, want ready with nats and metadata ok", resp.StatusCode, body)
	}

	// An ingest node keeps nothing and serves no API.
	resp, _ = in1.request("GET", "/api/v1/search?q=marker:roles", testToken, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("search on an ingest node: HTTP %d, want 404", resp.StatusCode)
	}
	resp, body = in1.request("GET", "/readyz", "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("ingest node /readyz: HTTP %d %s", resp.StatusCode, body)
	}
	in1.terminate()
	in2.terminate()
	detect.terminate()
}
