package sharedtest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Program returns the path of the program name on PATH. Without it the
// test skips, saying how to get it, except under CI (.ci/run installs
// every program the tests run), where it fails.
func Program(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not on PATH (%s): %v", name, install, err)
	}
	return p
}

// freeAddr returns a loopback address with a free TCP port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a server program until the test ends and waits until ready
// answers 200.
func start(t testing.TB, ready string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %v\n%s", bin, err, out.String())
		}
		time.Sleep(50 * time.Millisecond) // a real server process starting
	}
}

// StartVictoriaLogs starts a real victoria-logs server (flags added to
// its data directory and loopback address) until the test ends, and
// returns its URL.
func StartVictoriaLogs(t testing.TB, flags ...string) string {
	t.Helper()
	bin := Program(t, "victoria-logs", "go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2")
	addr := freeAddr(t)
	u := "http://" + addr
	start(t, u+"/health", bin, append([]string{"-storageDataPath=" + t.TempDir(), "-httpListenAddr=" + addr, "-loggerLevel=ERROR"}, flags...)...)
	return u
}

// StartNATS starts a real nats-server with JetStream until the test ends,
// and returns its URL.
func StartNATS(t testing.TB) string {
	t.Helper()
	bin := Program(t, "nats-server", "go install github.com/nats-io/nats-server/v2@v2.15.3")
	addr, mon := freeAddr(t), freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	_, mport, _ := net.SplitHostPort(mon)
	start(t, "http://"+host+":"+mport+"/healthz?js-enabled-only=true", bin, "-a", host, "-p", port, "-m", mport, "-js", "-sd", t.TempDir())
	return "nats://" + addr
}
