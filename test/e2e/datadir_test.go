package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDataDirLock: a second vigil serve on a data directory in use exits
// at once with a message naming the first; after the first is killed
// with SIGKILL its stale lock is taken over by the next start.
func TestDataDirLock(t *testing.T) {
	s := startServer(t, serverOpts{})

	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, vigilBin, "serve", "--data", s.data, "--http", freePort(t, "tcp"),
		"--syslog-tcp", "", "--syslog-udp", "")
	out, err := second.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a second vigil serve on a used data directory is still running after 30s:\n%s", out)
	}
	want := fmt.Sprintf("is used by another vigil process (pid %d since", s.cmd.Process.Pid)
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("second vigil serve: err %v, output:\n%s\nwant a non-zero exit with %q", err, out, want)
	}
	// The first server is unharmed.
	if resp, _ := s.request("GET", "/readyz", "", nil); resp.StatusCode != 200 {
		t.Errorf("first server /readyz: HTTP %d after the second start was refused", resp.StatusCode)
	}

	s.cmd.Process.Kill()
	<-s.exited
	s2 := startServer(t, serverOpts{data: s.data})
	s2.terminate() // its log is read once the process has written all of it
	if !strings.Contains(s2.log.String(), "took over the data directory's lock") || !strings.Contains(s2.log.String(), fmt.Sprintf("pid %d", s.cmd.Process.Pid)) {
		t.Errorf("restart after kill -9: log does not report the stale lock it took over:\n%s", s2.log)
	}
}
