package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBenchIngest runs `vigil bench ingest` against a real server over each
// transport and checks its report: every event sent was found stored by
// searching for the run, with rates reported.
func TestBenchIngest(t *testing.T) {
	s := startServer(t, serverOpts{})
	for _, tc := range []struct {
		name, target string
		events       int
	}{
		{"tcp", "tcp://" + s.tcp, 20000},
		{"http", "http://" + s.http, 20000},
		// UDP may drop datagrams under load by design; at a modest rate
		// on loopback none should be lost.
		{"udp", "udp://" + s.udp, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"bench", "ingest", "--target", tc.target, "--api", "http://" + s.http,
				"--token", testToken, "--events", strconv.Itoa(tc.events), "--connections", "2", "--wait", "60s"}
			if tc.name == "udp" {
				args = append(args, "--rate", "1000")
			}
			ctx, cancel := withTimeout(90 * time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, vigilBin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("vigil %v: %v\n%s", args, err, out)
			}
			sent := regexp.MustCompile(`sent:\s+(\d+) events in \S+ \(\d+ events/s\), (\d+) send errors`).FindSubmatch(out)
			stored := regexp.MustCompile(`stored:\s+(\d+) events, all searchable after \S+ \((\d+) events/s end to end\)`).FindSubmatch(out)
			if sent == nil || stored == nil {
				t.Fatalf("report not understood:\n%s", out)
			}
			if n, _ := strconv.Atoi(string(sent[1])); n != tc.events || string(sent[2]) != "0" {
				t.Errorf("sent %s with %s errors, want %d and 0:\n%s", sent[1], sent[2], tc.events, out)
			}
			if n, _ := strconv.Atoi(string(stored[1])); n != tc.events {
				t.Errorf("stored %s, want %d:\n%s", stored[1], tc.events, out)
			}
			if r, _ := strconv.Atoi(string(stored[2])); r <= 0 {
				t.Errorf("end-to-end rate %s, want > 0", stored[2])
			}
		})
	}
}
