package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// localCluster is a cluster started by scripts/cluster up.
type localCluster struct {
	t      *testing.T
	dir    string
	base   int
	url    string
	token  string
	syslog []string
	ingest []string
	env    []string
}

// startCluster runs scripts/cluster up with this tree's vigil on a random
// block of ports, and scripts/cluster down when the test ends.
func startCluster(t *testing.T) *localCluster {
	t.Helper()
	sharedtest.Program(t, "nats-server", "go install github.com/nats-io/nats-server/v2@v2.15.3")
	sharedtest.Program(t, "victoria-logs", "go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2")
	if metatest.PostgresBin() == "" {
		metatest.PostgresCluster(t) // skips, or fails in CI, with the reason
	}
	c := &localCluster{t: t, dir: t.TempDir()}
	if os.Geteuid() == 0 {
		// PostgreSQL runs as the postgres user, which must reach the
		// directory: the test's temporary directories are closed.
		os.Chmod(filepath.Dir(c.dir), 0o711)
	}
	// A block of 91 ports below the ephemeral range (where the other
	// tests' servers listen), chosen at random; the script fails clearly
	// if one is taken.
	c.base = 20000 + 100*rand.IntN(80)
	c.env = append(os.Environ(), "VIGIL_BIN="+vigilBin, "VIGIL_CLUSTER_PORT="+strconv.Itoa(c.base))
	cmd := exec.Command("../../scripts/cluster", "up", c.dir)
	cmd.Env = c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(c.down)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/cluster up: %v\n%s%s", err, out, stderr.String())
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	c.url, c.token = vars["VIGIL_URL"], vars["VIGIL_TOKEN"]
	c.syslog = strings.Split(vars["SYSLOG_TCP"], ",")
	c.ingest = strings.Split(vars["HTTP_INGEST"], ",")
	if c.url == "" || c.token == "" || len(c.syslog) != 2 || len(c.ingest) != 2 {
		t.Fatalf("scripts/cluster up printed %q, want VIGIL_URL, VIGIL_TOKEN, two SYSLOG_TCP and two HTTP_INGEST", out)
	}
	return c
}

func (c *localCluster) down() {
	cmd := exec.Command("../../scripts/cluster", "down", c.dir)
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Errorf("scripts/cluster down: %v\n%s", err, out)
	}
	if c.t.Failed() {
		for _, name := range []string{"detect-1", "detect-2", "api-1", "ingest-1", "ingest-2"} {
			log, _ := os.ReadFile(filepath.Join(c.dir, "logs", name+".log"))
			c.t.Logf("%s log:\n%s", name, tail(string(log), 3000))
		}
	}
}

func (c *localCluster) pid(name string) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "pids", name+".pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.t.Fatal(err)
	}
	return pid
}

// kill sends SIGKILL to a process of the cluster and waits until it is
// gone; it returns its command line, to start it again.
func (c *localCluster) kill(name string) []string {
	c.t.Helper()
	pid := c.pid(name)
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		c.t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i > 200 {
			c.t.Fatalf("%s (pid %d) still alive after SIGKILL", name, pid)
		}
		time.Sleep(50 * time.Millisecond) // a real process exiting
	}
	return args
}

// restart starts a killed process again with its command line, and
// records its new PID for scripts/cluster down.
func (c *localCluster) restart(name string, args []string) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, "logs", name+".log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go cmd.Wait()
	os.WriteFile(filepath.Join(c.dir, "pids", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
}

func (c *localCluster) do(method, url string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *localCluster) total(q string) int64 {
	c.t.Helper()
	code, body := c.do("GET", c.url+"/api/v1/search?limit=1&q="+url.QueryEscape(q), nil)
	if code != 200 {
		return -1
	}
	var r searchResult
	json.Unmarshal(body, &r)
	return r.Total
}

// waitTotal polls the API node until q counts want (or 90 s pass).
func (c *localCluster) waitTotal(q string, want int64) int64 {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		n := c.total(q)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(200 * time.Millisecond) // polling real server processes
	}
}

// ingestWave posts batches of events marked marker to the two ingest
// nodes in turn, calling fault before batch at, and goes on past batches
// (for up to 90 s) until resume batches after the fault were answered
// 2xx: ingest resumed. It returns the batches answered 2xx (the events
// the cluster acknowledged) and how many of them came after the fault.
func (c *localCluster) ingestWave(marker string, batches, size, at, resume int, fault func()) (acked []int, after int) {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for b := 0; b < batches || (after < resume && time.Now().Before(deadline)); b++ {
		if b == at {
			fault()
		}
		var body strings.Builder
		for i := range size {
			// Addresses spread the events over the partitions, and so
			// over both detect nodes.
			fmt.Fprintf(&body, `{"message":"%s batch %d event %d","marker":%q,"batch":"%s-%d","source.ip":"198.51.100.%d"}`+"\n",
				marker, b, i, marker, marker, b, (b*size+i)%250)
		}
		code, _ := c.do("POST", c.ingest[b%2]+"/api/v1/ingest", strings.NewReader(body.String()))
		if code == 200 {
			acked = append(acked, b)
			if b >= at {
				after++
			}
		}
		time.Sleep(50 * time.Millisecond) // a steady stream over the fault, not a burst before it
	}
	return acked, after
}

// checkAcked waits until every acknowledged batch is searchable whole.
func (c *localCluster) checkAcked(marker string, acked []int, size int) {
	c.t.Helper()
	if len(acked) == 0 {
		c.t.Fatalf("%s: no batch acknowledged", marker)
	}
	c.t.Logf("%s: %d batches of %d acknowledged", marker, len(acked), size)
	c.waitTotal("marker:"+marker, int64(len(acked)*size))
	for _, b := range acked {
		if n := c.waitTotal(fmt.Sprintf(`batch:"%s-%d"`, marker, b), int64(size)); n < int64(size) {
			c.t.Errorf("%s: batch %d was acknowledged, %d of its %d events searchable", marker, b, n, size)
		}
	}
}

// natsLeader returns the NATS server leading the events stream.
func (c *localCluster) natsLeader() string {
	c.t.Helper()
	for i := 1; i <= 3; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", c.base+20+i))
		if err != nil {
			continue
		}
		var jsz struct {
			AccountDetails []struct {
				StreamDetail []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		for _, a := range jsz.AccountDetails {
			for _, s := range a.StreamDetail {
				if s.Name == "VIGIL_EVENTS" && s.Cluster.Leader != "" {
					return s.Cluster.Leader
				}
			}
		}
	}
	c.t.Fatal("no NATS server reports a leader of VIGIL_EVENTS")
	return ""
}

// TestClusterScript starts the whole cluster with scripts/cluster (three
// NATS servers, two VictoriaLogs storage nodes and a front, PostgreSQL,
// two detect nodes, an API node, two ingest nodes) and runs the
// end-to-end path through it: syslog and HTTP into both ingest nodes,
// search on the API node; an SSH brute force whose failures arrive half
// at each ingest node gives one alert and an incident. Then the faults,
// each during a steady HTTP ingest: the NATS server leading the events
// stream is killed (ingest resumes after the election), a VictoriaLogs
// storage node is killed and started again, PostgreSQL is restarted;
// after each, every event of every batch answered 2xx is searchable.
func TestClusterScript(t *testing.T) {
	c := startCluster(t)
	if got := len(c.ingest); got != 2 {
		t.Fatalf("%d ingest nodes", got)
	}

	ip := "203.0.113.77"
	now := time.Now().UTC()
	for n, addr := range c.syslog {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			k := 2*i + n
			fmt.Fprintf(conn, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n",
				now.Add(time.Duration(k-30)*time.Second).Format(time.Stamp), 4000+k, ip, 42000+k)
		}
		conn.Close()
	}
	if n := c.waitTotal(`"Failed password for root from `+ip+`"`, 12); n != 12 {
		t.Fatalf("API node: %d failed logins searchable, want the 12 sent to the two ingest nodes", n)
	}
	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := c.do("GET", c.url+"/api/v1/alerts?limit=100", nil)
		json.Unmarshal(body, &alerts)
		var brute []alertJSON
		for _, a := range alerts.Alerts {
			if a.RuleTitle == "SSH brute force from one source" {
				brute = append(brute, a)
			}
		}
		if len(brute) == 1 && brute[0].IncidentID != "" {
			break
		}
		if len(brute) > 1 || time.Now().After(deadline) {
			t.Fatalf("got %d brute-force alerts (want exactly 1, with an incident): %+v", len(brute), brute)
		}
		time.Sleep(200 * time.Millisecond) // polling the API of a real server process
	}

	const batches, size, resume = 40, 20, 10
	resumed := func(t *testing.T, marker string, after int) {
		t.Logf("%s: %d batches acknowledged after the fault", marker, after)
		if after < resume {
			t.Errorf("%s: %d batches acknowledged after the fault within 90 s, want %d: ingest did not resume", marker, after, resume)
		}
	}
	t.Run("nats leader killed", func(t *testing.T) {
		leader := c.natsLeader()
		acked, after := c.ingestWave("natsfault", batches, size, 10, resume, func() { c.kill(leader) })
		resumed(t, "natsfault", after)
		c.checkAcked("natsfault", acked, size)
	})
	t.Run("victorialogs storage node killed", func(t *testing.T) {
		var args []string
		acked, after := c.ingestWave("vlfault", batches, size, 10, resume, func() { args = c.kill("vlstorage-2") })
		c.restart("vlstorage-2", args)
		resumed(t, "vlfault", after)
		c.checkAcked("vlfault", acked, size)
	})
	t.Run("postgres restarted", func(t *testing.T) {
		acked, after := c.ingestWave("pgfault", batches, size, 10, resume, func() {
			pgctl := filepath.Join(metatest.PostgresBin(), "pg_ctl")
			cmd := exec.Command(pgctl, "-D", filepath.Join(c.dir, "postgres"), "restart", "-m", "fast", "-w", "-l", filepath.Join(c.dir, "logs", "postgres.log"))
			if os.Geteuid() == 0 {
				cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--"}, cmd.Args...)...)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("pg_ctl restart: %v\n%s", err, out)
			}
			pm, err := os.ReadFile(filepath.Join(c.dir, "postgres", "postmaster.pid"))
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(pm), "\n")
			os.WriteFile(filepath.Join(c.dir, "pids", "postgres.pid"), []byte(first+"\n"), 0o600)
		})
		resumed(t, "pgfault", after)
		c.checkAcked("pgfault", acked, size)
	})
}
