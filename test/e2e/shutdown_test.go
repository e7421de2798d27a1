package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSIGTERMRightAfterTCPSender sends 200,000 lines over TCP, sends
// SIGTERM as soon as the senders have written the last one (much of it
// still in socket buffers and the queue), and checks that the server exits
// within 15 s and that, after a restart on the same data directory, every
// line is stored exactly once: what was read is stored or spooled and
// replayed, what was in the socket buffers is drained. One sender closes
// its connection after writing, the other keeps it open, as rsyslog does.
// The second run gives the shutdown a budget too short to store
// everything and a small queue, so the spool and its replay carry part of
// the lines.
func TestSIGTERMRightAfterTCPSender(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		yaml  string
	}{
		{name: "default budget"},
		{name: "tight budget spools", extra: []string{"--shutdown-timeout", "1s"}, yaml: "pipeline:\n  queue_size: 2000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := tt.extra
			if tt.yaml != "" {
				cfgFile := filepath.Join(t.TempDir(), "vigil.yml")
				if err := os.WriteFile(cfgFile, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				extra = append(extra, "--config", cfgFile)
			}
			s := startServer(t, serverOpts{extra: extra})
			const total, conns = 200_000, 2
			run := fmt.Sprintf("term%d", time.Now().UnixNano()%1000000)
			var (
				wg   sync.WaitGroup
				open []net.Conn
				mu   sync.Mutex
			)
			for c := range conns {
				conn, err := net.Dial("tcp", s.tcp)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				wg.Go(func() {
					w := bufio.NewWriterSize(conn, 256<<10)
					for i := c; i < total; i += conns {
						fmt.Fprintf(w, "<14>Nov 22 04:16:49 host-%d %s[%d]: shutdown test line %d\n", i%50, run, 1000+c, i)
					}
					if err := w.Flush(); err != nil {
						t.Error(err)
					}
					if c == 0 {
						conn.Close()
						return
					}
					mu.Lock()
					open = append(open, conn)
					mu.Unlock()
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			took := s.terminateWithin(15 * time.Second)
			for _, c := range open {
				c.Close()
			}
			log := s.log.String()
			var shutdownLog []string
			for _, l := range strings.Split(log, "\n") {
				if strings.Contains(l, "shutting down") || strings.Contains(l, "spooled") || strings.Contains(l, "shutdown complete") {
					shutdownLog = append(shutdownLog, l)
				}
			}

			s2 := startServer(t, serverOpts{data: s.data, extra: extra})
			r := s2.waitTotal("process.name:"+run, total, 2*time.Minute)
			if r.Total != total {
				t.Fatalf("after restart: %d of %d lines searchable\nfirst run's log:\n%s", r.Total, total, tail(log, 4000))
			}
			entries, err := os.ReadDir(filepath.Join(s.data, "spool"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			// The replayed spool file is removed once its lines are stored.
			deadline := time.Now().Add(30 * time.Second)
			for len(entries) > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond) // polling the spool directory of the vigil serve process
				entries, _ = os.ReadDir(filepath.Join(s.data, "spool"))
			}
			if len(entries) > 0 {
				t.Errorf("spool files left after the restart stored everything: %v", entries)
			}
			t.Logf("exited %v after SIGTERM; all %d lines searchable after restart; shutdown log:\n%s", took.Round(time.Millisecond), total, strings.Join(shutdownLog, "\n"))
		})
	}
}
