package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// TestDetectNodeKilled runs two detect nodes that share the partitions of
// the bus, one PostgreSQL metadata store and one VictoriaLogs events
// server, fed by an ingest node. Each node owns half the partitions. An
// SSH brute force starts (six failures, under the rule's ten), the node
// that owns its partition is killed with SIGKILL, and the brute force
// goes on (six more): the surviving node takes the partition over,
// replays the dead node's correlation checkpoint, and raises exactly one
// brute-force alert; every event is searchable. An API node (--role api)
// on the same stores serves the search and the alert, and takes no
// events.
func TestDetectNodeKilled(t *testing.T) {
	nats := sharedtest.StartNATS(t)
	vl := sharedtest.StartVictoriaLogs(t)
	_, dsn := metatest.PostgresCluster(t).Schema(t, "")
	cluster := []string{"--role", "detect", "--nats", nats, "--events", vl, "--postgres", dsn}
	d1 := startServer(t, serverOpts{extra: cluster})
	d2 := startServer(t, serverOpts{extra: cluster})
	in := startServer(t, serverOpts{extra: []string{"--role", "ingest", "--nats", nats}})
	apiNode := startServer(t, serverOpts{extra: []string{"--role", "api", "--events", vl, "--postgres", dsn}})

	metric := func(s *server, name string) string {
		resp, body := s.request("GET", "/metrics", testToken, nil)
		if resp.StatusCode != 200 {
			return ""
		}
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return v
			}
		}
		return ""
	}
	waitMetric := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond) // polling real server processes
		}
	}
	waitMetric("the detect nodes to own 8 partitions each", func() bool {
		return metric(d1, "vigil_bus_partitions_owned") == "8" && metric(d2, "vigil_bus_partitions_owned") == "8"
	})

	ip := "203.0.113.57"
	now := time.Now().UTC()
	send := func(from, n int) {
		t.Helper()
		conn, err := net.Dial("tcp", in.tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for k := from; k < from+n; k++ {
			fmt.Fprintf(conn, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n",
				now.Add(time.Duration(k-60)*time.Second).Format(time.Stamp), 3000+k, ip, 41000+k)
		}
	}
	query := `"Failed password for root from ` + ip + `"`
	send(0, 6)
	if r := d1.waitTotal(query, 6, 30*time.Second); r.Total != 6 {
		t.Fatalf("%d failed logins searchable, want 6", r.Total)
	}
	owner, survivor := d1, d2
	if metric(d2, "vigil_bus_consumed_total") == "6" {
		owner, survivor = d2, d1
	} else if metric(d1, "vigil_bus_consumed_total") != "6" {
		t.Fatalf("consumed: %q and %q, want one node to have the 6 events", metric(d1, "vigil_bus_consumed_total"), metric(d2, "vigil_bus_consumed_total"))
	}
	if metric(owner, "vigil_bus_checkpointed_events_total") != "6" {
		t.Fatalf("the owner checkpointed %q events, want the 6 failures", metric(owner, "vigil_bus_checkpointed_events_total"))
	}
	owner.cmd.Process.Kill()
	<-owner.exited

	send(6, 6)
	waitMetric("the survivor to own every partition", func() bool { return metric(survivor, "vigil_bus_partitions_owned") == "16" })
	if r := survivor.waitTotal(query, 12, 60*time.Second); r.Total != 12 {
		t.Fatalf("%d failed logins searchable, want all 12", r.Total)
	}
	if got := metric(survivor, "vigil_bus_replayed_events_total"); got != "6" {
		t.Errorf("the survivor replayed %q events, want the dead node's 6", got)
	}
	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(30 * time.Second)
	for {
		survivor.getJSON("/api/v1/alerts?limit=100", &alerts)
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
	if r := apiNode.search(query, 1); r.Total != 12 {
		t.Errorf("API node: %d failed logins searchable, want 12", r.Total)
	}
	apiNode.getJSON("/api/v1/alerts?limit=100", &alerts)
	n := 0
	for _, a := range alerts.Alerts {
		if a.RuleTitle == "SSH brute force from one source" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("API node lists %d brute-force alerts, want 1", n)
	}
	if resp, _ := apiNode.request("POST", "/api/v1/ingest", testToken, strings.NewReader(`{"message":"x"}`)); resp.StatusCode != 404 {
		t.Errorf("ingest on the API node: HTTP %d, want 404", resp.StatusCode)
	}
	if c, err := net.Dial("tcp", apiNode.tcp); err == nil {
		c.Close()
		t.Errorf("the API node listens for syslog on %s", apiNode.tcp)
	}
	in.terminate()
	survivor.terminate()
	apiNode.terminate()
}
