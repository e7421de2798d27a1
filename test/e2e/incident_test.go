package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type alertJSON struct {
	ID         string              `json:"id"`
	RuleID     string              `json:"rule_id"`
	RuleTitle  string              `json:"rule_title"`
	Level      string              `json:"level"`
	Count      int                 `json:"count"`
	Entities   map[string][]string `json:"entities"`
	IncidentID string              `json:"incident_id"`
}

func hasAction(as []struct{ Name, Target, Status string }, name, target string) bool {
	for _, a := range as {
		if a.Name == name && a.Target == target && a.Status == "ok" {
			return true
		}
	}
	return false
}

func (s *server) getJSON(path string, v any) {
	s.t.Helper()
	resp, body := s.request("GET", path, testToken, nil)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		s.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func (s *server) sendJSON(method, path string, in, out any, want int) {
	s.t.Helper()
	b, _ := json.Marshal(in)
	resp, body := s.request(method, path, testToken, bytes.NewReader(b))
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
}

// TestSSHBruteForceIncident sends 30 failed SSH logins from one address and
// one accepted login over syslog TCP, and follows them to alerts (one per
// rule, deduplicated), an incident naming the address, the analyst's work
// on it, the report, and the audit log.
func TestSSHBruteForceIncident(t *testing.T) {
	// block_ip runs a script that records its arguments, standing in for
	// nft or ipset.
	dir := t.TempDir()
	blocked := filepath.Join(dir, "blocked.txt")
	script := filepath.Join(dir, "block.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+blocked+"\n"), 0o700)
	cfg := filepath.Join(dir, "vigil.yml")
	// The webhook receiver is on loopback, which the egress policy
	// refuses unless an admin allows it: allowed the documented way.
	os.WriteFile(cfg, []byte(fmt.Sprintf("egress:\n  allow: [127.0.0.1/32]\nrespond:\n  commands:\n    block_ip: [%q, block, \"{{.Target}}\", \"{{.TTLSeconds}}\"]\n", script)), 0o600)
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})

	// A webhook receiver that checks every signature.
	const secret = "webhook-secret-for-e2e"
	var (
		hookMu     sync.Mutex
		deliveries []map[string]any
		badSigs    int
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		hookMu.Lock()
		defer hookMu.Unlock()
		if r.Header.Get("X-Vigil-Signature") != want {
			badSigs++
			w.WriteHeader(400)
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		deliveries = append(deliveries, m)
	}))
	defer recv.Close()
	s.sendJSON("POST", "/api/v1/routes", map[string]any{"name": "soc", "type": "webhook", "url": recv.URL, "secret": secret, "min_level": "high"}, nil, 201)

	ip := fmt.Sprintf("203.0.113.%d", 10+time.Now().Nanosecond()%200)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var buf bytes.Buffer
	for i := range 30 {
		ts := now.Add(time.Duration(i-40) * time.Second).Format(time.Stamp)
		fmt.Fprintf(&buf, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n", ts, 2000+i, ip, 40000+i)
	}
	fmt.Fprintf(&buf, "<38>%s bastion sshd[2100]: Accepted password for root from %s port 41000 ssh2\n", now.Add(-5*time.Second).Format(time.Stamp), ip)
	conn.Write(buf.Bytes())
	conn.Close()

	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(20 * time.Second)
	// The informational rules (each failure, each login) feed the
	// correlations but raise no alert at the default alerts.min_level.
	want := map[string]bool{"SSH brute force from one source": true, "SSH login succeeds after brute force": true}
	for {
		s.getJSON("/api/v1/alerts?limit=100", &alerts)
		got := 0
		for _, a := range alerts.Alerts {
			if want[a.RuleTitle] {
				got++
			}
		}
		if got >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	perRule := map[string]int{}
	var incidentID string
	for _, a := range alerts.Alerts {
		perRule[a.RuleTitle]++
		if a.Level == "informational" {
			t.Errorf("informational alert %q raised at the default alerts.min_level", a.RuleTitle)
		}
		if a.RuleTitle == "SSH brute force from one source" {
			incidentID = a.IncidentID
		}
	}
	for title := range want {
		if perRule[title] != 1 {
			t.Errorf("rule %q: %d alerts, want exactly 1 (all: %v)", title, perRule[title], perRule)
		}
	}
	if incidentID == "" {
		t.Fatalf("the brute-force alert joined no incident (alerts %+v)", alerts.Alerts)
	}
	var inc struct {
		ID       string
		Title    string
		Status   string
		Severity string
		Alerts   []alertJSON
		Timeline []struct{ Kind, Text string }
		Actions  []struct{ Name, Target, Status string }
		Tasks    []struct{ ID, Title string }
	}
	s.getJSON("/api/v1/incidents/"+incidentID, &inc)
	if !strings.Contains(inc.Title, ip) {
		t.Errorf("incident title %q does not name %s", inc.Title, ip)
	}
	if len(inc.Alerts) != 2 || inc.Severity != "critical" {
		t.Errorf("incident has %d alerts, severity %s; want the two SSH alerts of %s and severity critical", len(inc.Alerts), inc.Severity, ip)
	}
	for _, a := range inc.Alerts {
		if a.RuleTitle == "SSH brute force from one source" && a.Count < 1 {
			t.Errorf("brute-force alert count %d", a.Count)
		}
	}
	if len(inc.Tasks) == 0 {
		t.Error("incident has no tasks from the credential-access template")
	}
	events := 0
	for _, e := range inc.Timeline {
		if e.Kind == "event" && strings.Contains(e.Text, ip) {
			events++
		}
	}
	if events < 30 {
		t.Errorf("timeline joins %d stored events naming %s, want the 31 SSH lines (up to 50)", events, ip)
	}
	// The built-in playbook blocked the source for an hour.
	deadline = time.Now().Add(10 * time.Second)
	for !hasAction(inc.Actions, "block_ip", ip) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
		s.getJSON("/api/v1/incidents/"+incidentID, &inc)
	}
	if !hasAction(inc.Actions, "block_ip", ip) {
		t.Errorf("no block_ip %s action recorded: %+v", ip, inc.Actions)
	}
	if b, _ := os.ReadFile(blocked); string(b) != "block "+ip+" 3600\n" {
		t.Errorf("block command got %q, want \"block %s 3600\"", b, ip)
	}

	// The webhook got the high alerts and the incident, all signed.
	deadline = time.Now().Add(15 * time.Second)
	for {
		hookMu.Lock()
		n := len(deliveries)
		hookMu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the webhook receiver, which the vigil serve process calls
	}
	hookMu.Lock()
	kinds := map[string]int{}
	for _, d := range deliveries {
		kinds[str(d["kind"])]++
		if lvl := str(d["level"]); lvl != "high" && lvl != "critical" {
			t.Errorf("webhook delivered a %s notification through a min_level high route", lvl)
		}
	}
	if badSigs > 0 || kinds["alert"] == 0 || kinds["incident"] == 0 {
		t.Errorf("webhook deliveries by kind %v, bad signatures %d: want signed alert and incident notifications", kinds, badSigs)
	}
	hookMu.Unlock()

	// The analyst works it.
	s.sendJSON("PATCH", "/api/v1/incidents/"+incidentID, map[string]any{"status": "investigating", "assignee": "alice"}, nil, 200)
	s.sendJSON("POST", "/api/v1/incidents/"+incidentID+"/comments", map[string]any{"text": "Password spray from a VPS, then success."}, nil, 201)
	s.sendJSON("PATCH", "/api/v1/incidents/"+incidentID, map[string]any{"status": "resolved", "root_cause": "weak root password", "lessons_learned": "disable root login"}, nil, 200)
	var metrics struct {
		MTTASeconds float64 `json:"mtta_seconds"`
		MTTRSeconds float64 `json:"mttr_seconds"`
		Resolved    int
	}
	s.getJSON("/api/v1/incidents/metrics", &metrics)
	if metrics.Resolved < 1 || metrics.MTTRSeconds <= 0 {
		t.Errorf("metrics %+v: want a resolved incident and an MTTR", metrics)
	}
	resp, report := s.request("GET", "/api/v1/incidents/"+incidentID+"/report?format=md", testToken, nil)
	if resp.StatusCode != 200 || !bytes.Contains(report, []byte("weak root password")) || !bytes.Contains(report, []byte("## Timeline")) {
		t.Errorf("report: HTTP %d:\n%s", resp.StatusCode, report)
	}
	var auditLog struct {
		Entries []struct{ Actor, Action, Target string }
	}
	s.getJSON("/api/v1/audit?target="+incidentID, &auditLog)
	actions := map[string]string{}
	for _, e := range auditLog.Entries {
		actions[e.Action] += e.Actor + " "
	}
	for action, actor := range map[string]string{
		"incident.open": "vigil ",
		// Recorded twice: its intent before it ran, its result after.
		"action.block_ip":  "playbook:ssh-brute-force-block playbook:ssh-brute-force-block ",
		"incident.comment": "bootstrap ",
		"incident.update":  "bootstrap bootstrap ",
	} {
		if actions[action] != actor {
			t.Errorf("audit %s by %q, want %q (all: %v)", action, actions[action], actor, actions)
		}
	}
}
