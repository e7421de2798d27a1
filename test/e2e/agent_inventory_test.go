package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAgentInventory: a real vigil-agent sends its inventory to a real
// vigil serve, and GET /api/v1/agents/{id}/packages lists exactly the
// packages dpkg-query -W lists on this machine; the other sections and
// the history are there.
func TestAgentInventory(t *testing.T) {
	dpkgQuery, err := exec.LookPath("dpkg-query")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dpkg-query is missing: the CI machine is Debian")
		}
		t.Skip("dpkg-query is missing (not a Debian system)")
	}
	out, err := exec.Command(dpkgQuery, "-W", "-f", "${Package} ${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query -W: %v", err)
	}
	want := map[string]bool{}
	for l := range strings.Lines(string(out)) {
		want[strings.TrimSpace(l)] = true
	}

	s, _, data, id := enrolledAgent(t, "inventory")
	var (
		resp *http.Response
		b    []byte
	)
	p := startAgent(t, data)
	s.waitAgent(id, "online")

	type pkg struct{ Name, Version, Ecosystem string }
	var got struct {
		Packages []pkg `json:"packages"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, b := s.request("GET", "/api/v1/agents/"+id+"/packages", testToken, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET packages: HTTP %d: %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("GET packages: %v: %s", err, b)
		}
		if len(got.Packages) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no packages within 20 s\nagent:\n%s", p.log)
		}
		time.Sleep(50 * time.Millisecond) // polling the vigil serve process
	}
	have := map[string]bool{}
	for _, pk := range got.Packages {
		have[pk.Name+" "+pk.Version] = true
		if pk.Ecosystem == "" && strings.Contains(readOSRelease(), "ID=debian") {
			t.Errorf("package %s: no ecosystem on Debian", pk.Name)
		}
	}
	var missing, extra []string
	for k := range want {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	for k := range have {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("packages: %d listed, dpkg-query -W lists %d; missing %.10q, extra %.10q", len(have), len(want), missing, extra)
	}

	resp, b = s.request("GET", "/api/v1/agents/"+id+"/inventory", testToken, nil)
	var inv struct {
		OS         map[string]string   `json:"os"`
		Interfaces []map[string]string `json:"interfaces"`
		Users      []map[string]string `json:"users"`
		Processes  []map[string]string `json:"processes"`
	}
	if err := json.Unmarshal(b, &inv); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET inventory: HTTP %d, %v: %s", resp.StatusCode, err, b)
	}
	if inv.OS["kernel"] == "" || len(inv.Interfaces) == 0 || !slices.ContainsFunc(inv.Users, func(u map[string]string) bool { return u["name"] == "root" }) {
		t.Errorf("inventory: os %v, %d interfaces, users %v", inv.OS, len(inv.Interfaces), inv.Users)
	}
	agentPid := p.cmd.Process.Pid
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(agentPid) + "/status"); err == nil {
		for l := range strings.Lines(string(st)) {
			if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
				t.Logf("agent after its inventory of %d packages: %s", len(got.Packages), strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if !slices.ContainsFunc(inv.Processes, func(pr map[string]string) bool {
		return pr["pid"] == strconv.Itoa(agentPid) && pr["name"] == "vigil-agent"
	}) {
		t.Errorf("inventory: the agent's own process %d is not among %d processes", agentPid, len(inv.Processes))
	}
	resp, b = s.request("GET", "/api/v1/agents/"+id+"/inventory/history?section=packages&limit=1000", testToken, nil)
	var hist struct {
		Changes []struct{ Change, Key string } `json:"changes"`
	}
	if err := json.Unmarshal(b, &hist); resp.StatusCode != 200 || err != nil || len(hist.Changes) != min(len(got.Packages), 1000) {
		t.Errorf("GET history: HTTP %d, %v: %d changes, want %d", resp.StatusCode, err, len(hist.Changes), min(len(got.Packages), 1000))
	}
	// A user endpoint: no token, no inventory.
	if resp, _ := s.request("GET", "/api/v1/agents/"+id+"/packages", "", nil); resp.StatusCode != 401 {
		t.Errorf("GET packages without a token: HTTP %d, want 401", resp.StatusCode)
	}
}

func readOSRelease() string {
	b, _ := os.ReadFile("/etc/os-release")
	return string(b)
}

// inventoryAgents holds, per authorization fixture, an enrolled agent
// whose inventory endpoints the matrix calls.
var inventoryAgents sync.Map // *authzFixture → string

// authzInventoryAgent enrolls one agent per fixture (enrollments are rate
// limited per address) and returns its id.
func authzInventoryAgent(t *testing.T, f *authzFixture) string {
	t.Helper()
	if id, ok := inventoryAgents.Load(f); ok {
		return id.(string)
	}
	id := authzAgent(t, f, "inventory")
	inventoryAgents.Store(f, id)
	return id
}
