package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAgentFIM: a real vigil-agent watching a directory with --fim
// reports a create, a modify and a delete to a real vigil serve, each
// searchable as event.module:fim with its event.action within 2 s; then a
// burst of 2,000 files created at once gives 2,000 created events, each
// once; a change made while the server is down arrives once it is back.
func TestAgentFIM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve and a vigil-agent")
	}
	s, agentAddr, data, id := enrolledAgent(t, "fim")
	var (
		resp *http.Response
		b    []byte
	)
	watched := t.TempDir()
	os.WriteFile(filepath.Join(watched, "before"), []byte("in the baseline"), 0o600)
	a := startAgent(t, data, "--fim", watched, "--fim-ignore", "*.swp")
	a.waitLog(t, "fim baseline ready")
	a.waitLog(t, "connected")

	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	// within2s polls the search API (the vigil serve process) until the
	// query finds one event, for at most 2 s from the change.
	within2s := func(what, q string) map[string]any {
		t.Helper()
		began := time.Now()
		r := s.waitTotal(q, 1, 2*time.Second)
		if r.Total != 1 || len(r.Events) != 1 {
			t.Fatalf("%s: %q found %d events within 2 s, want 1\n%s", what, q, r.Total, tail(a.log.String(), 20))
		}
		t.Logf("%s: searchable after %s", what, time.Since(began).Round(time.Millisecond))
		return r.Events[0]
	}
	p := filepath.Join(watched, "passwd")
	os.WriteFile(p, []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(watched, "x.swp"), []byte("ignored"), 0o644)
	ev := within2s("create", fmt.Sprintf("event.module:fim event.action:created file.path:%q file.hash.sha256:%s host.id:%s", p, sum("v1"), id))
	if str(ev["file.mode"]) != "0644" || str(ev["file.size"]) != "2" || str(ev["agent.id"]) != id {
		t.Errorf("created: got %v, want mode 0644, size 2, the agent's id", ev)
	}
	os.WriteFile(p, []byte("v2 longer"), 0o644)
	ev = within2s("modify", fmt.Sprintf("event.module:fim event.action:modified file.path:%q file.hash.sha256:%s", p, sum("v2 longer")))
	if str(ev["vigil.fim.before.hash.sha256"]) != sum("v1") || str(ev["vigil.fim.before.size"]) != "2" {
		t.Errorf("modified: got %v, want the hash and size before", ev)
	}
	os.Chmod(p, 0o600)
	within2s("chmod", fmt.Sprintf("event.module:fim event.action:attributes_modified file.path:%q file.mode:0600 vigil.fim.before.mode:0644", p))
	os.Remove(p)
	within2s("delete", fmt.Sprintf("event.module:fim event.action:deleted file.path:%q file.hash.sha256:%s", p, sum("v2 longer")))

	// A burst: 2,000 files created at once.
	burst := filepath.Join(watched, "burst")
	os.Mkdir(burst, 0o755)
	const n = 2000
	began := time.Now()
	for i := range n {
		if err := os.WriteFile(filepath.Join(burst, fmt.Sprintf("f%04d", i)), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := fmt.Sprintf("event.module:fim event.action:created file.directory:%q", burst)
	if r := s.waitTotal(q, n, 30*time.Second); r.Total != n {
		t.Fatalf("burst: %d created events within 30 s, want %d\n%s", r.Total, n, tail(a.log.String(), 20))
	}
	t.Logf("burst: %d created events searchable after %s", n, time.Since(began).Round(time.Millisecond))
	r := s.search(q+" | stats dc(file.path) as distinct, count() as total", 1)
	if len(r.Rows) != 1 || str(r.Rows[0][0]) != fmt.Sprint(n) || str(r.Rows[0][1]) != fmt.Sprint(n) {
		t.Errorf("burst: rows %v, want %d distinct files, each once", r.Rows, n)
	}
	if r := s.search("event.module:fim file.name:x.swp", 1); r.Total != 0 {
		t.Errorf("the ignored file: got %d events, want 0", r.Total)
	}
	if r := s.search(fmt.Sprintf("event.module:fim file.path:%q", filepath.Join(watched, "before")), 1); r.Total != 0 {
		t.Errorf("the file of the first baseline: got %d events, want 0 (built silently)", r.Total)
	}

	// Its health: the baseline's files, counted.
	var list struct {
		Agents []struct {
			FIM *struct {
				Files     int64 `json:"files"`
				Overflows int64 `json:"overflows"`
			} `json:"fim"`
		} `json:"agents"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, b = s.request("GET", "/api/v1/agents", testToken, nil)
		if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list.Agents) != 1 {
			t.Fatalf("GET /api/v1/agents: HTTP %d: %s", resp.StatusCode, b)
		}
		if f := list.Agents[0].FIM; f != nil && f.Files == n+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // waiting for the vigil-agent process's next heartbeat
	}
	if f := list.Agents[0].FIM; f == nil || f.Files != n+1 {
		t.Errorf("fim health: got %s, want %d files (the burst and the first file)", b, n+1)
	}

	// An outage: a change made while the server is down is buffered and
	// arrives, once, when it is back.
	s.terminate()
	during := filepath.Join(watched, "during-outage")
	os.WriteFile(during, []byte("outage"), 0o644)
	s2 := startServer(t, serverOpts{data: s.data, extra: []string{"--agents-listen", agentAddr}})
	q = fmt.Sprintf("event.module:fim event.action:created file.path:%q file.hash.sha256:%s", during, sum("outage"))
	// The agent reconnects after its backoff (1 s, then 2 s, ...).
	if r := s2.waitTotal(q, 1, 20*time.Second); r.Total != 1 {
		t.Fatalf("after the outage: %d events, want 1\n%s", r.Total, tail(a.log.String(), 20))
	}
	if r := s2.search("event.module:fim event.action:created | stats count() as total", 1); len(r.Rows) != 1 || str(r.Rows[0][0]) != fmt.Sprint(n+2) {
		t.Errorf("after the outage: rows %v, want %d created events in all, each once", r.Rows, n+2)
	}
}
