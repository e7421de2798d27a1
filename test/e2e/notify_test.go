package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestNotificationSurvivesRestart queues a webhook notification while the
// receiver is down, restarts vigil, brings the receiver up, and checks the
// notification arrives exactly once.
func TestNotificationSurvivesRestart(t *testing.T) {
	recvAddr := freePort(t, "tcp") // nothing listens here yet
	// The receiver is on loopback, which the egress policy refuses unless
	// an admin allows it: allowed the documented way.
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("egress:\n  allow: [127.0.0.1/32]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	var route struct{ ID string }
	s.sendJSON("POST", "/api/v1/routes", map[string]any{"name": "down", "type": "webhook", "url": "http://" + recvAddr + "/hook", "secret": "s3cret-s3cret", "min_level": "high"}, &route, 201)

	// A path traversal attempt raises a high alert.
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("n%d", time.Now().UnixNano()%1000000)
	fmt.Fprintf(conn, "<190>%s web1 nginx: 192.0.2.44 - - [%s] \"GET /static/../../etc/passwd?x=%s HTTP/1.1\" 404 153 \"-\" \"curl/8.0\"\n",
		time.Now().UTC().Format(time.Stamp), time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"), marker)
	conn.Close()
	var alerts struct{ Alerts []alertJSON }
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.getJSON("/api/v1/alerts?min_level=high", &alerts)
		if len(alerts.Alerts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	if len(alerts.Alerts) == 0 {
		t.Fatal("no high alert for the path traversal")
	}
	// At least one delivery attempt failed against the receiver that is
	// down.
	s.listenWaitMetric(`vigil_notify_attempt_failures_total{route="`+route.ID+`"}`, func(v float64) bool { return v >= 1 }, 20*time.Second)
	s.terminate()

	// Receiver up, vigil back.
	var mu sync.Mutex
	got := map[string]int{}
	ln, err := net.Listen("tcp", recvAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("X-Vigil-Delivery")]++
		mu.Unlock()
	})}
	go srv.Serve(ln)
	defer srv.Close()
	startServer(t, serverOpts{data: s.data, extra: []string{"--config", cfg}})
	deadline = time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the receiver, which the vigil serve process calls
	}
	// Absence of a duplicate cannot be waited for: the restarted vigil
	// serve process is given 3 s of real time to send one.
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the queued notification was never delivered after the restart")
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("delivery %s arrived %d times, want once", id, n)
		}
	}
}
