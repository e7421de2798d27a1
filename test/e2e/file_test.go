package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileTailRotationAndRestart tails a log file through vigil serve,
// rotates it by rename, restarts the server, and checks that every line is
// stored exactly once.
func TestFileTailRotationAndRestart(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	cfgPath := filepath.Join(dir, "vigil.yml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("files:\n  - paths: [%q]\n    format: auto\n    from_beginning: true\n", filepath.Join(dir, "*.log"))), 0o600)
	run := fmt.Sprintf("f%d", time.Now().UnixNano()%1000000)
	appendLines := func(path string, from, to int) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, `{"run":%q,"n":%d,"message":"line %d"}`+"\n", run, i, i)
		}
		f.Close()
	}
	appendLines(logPath, 0, 100)
	s := startServer(t, serverOpts{extra: []string{"--config", cfgPath}})
	if r := s.waitTotal("run:"+run, 100, 20*time.Second); r.Total != 100 {
		t.Fatalf("before rotation: %d lines stored, want 100", r.Total)
	}
	// Rotate: rename, keep writing to the old name's new file.
	appendLines(logPath, 100, 150)
	os.Rename(logPath, logPath+".1")
	appendLines(logPath, 150, 200)
	if r := s.waitTotal("run:"+run, 200, 20*time.Second); r.Total != 200 {
		t.Fatalf("after rotation: %d lines stored, want 200", r.Total)
	}
	s.terminate()
	appendLines(logPath, 200, 250) // written while vigil is down
	s2 := startServer(t, serverOpts{data: s.data, extra: []string{"--config", cfgPath}})
	r := s2.waitTotal("run:"+run, 250, 20*time.Second)
	time.Sleep(time.Second) // absence of duplicates cannot be waited for: the vigil serve process gets 1 s of real time to store one
	r = s2.search("run:"+run+" | stats dc(n) as distinct, count() as total", 1)
	if len(r.Rows) != 1 || str(r.Rows[0][0]) != "250" || str(r.Rows[0][1]) != "250" {
		t.Fatalf("after restart: rows %v, want 250 distinct lines stored once each", r.Rows)
	}
}
