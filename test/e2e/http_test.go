package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSIGTERMDuringHTTPIngest streams batches to POST /api/v1/ingest,
// stops the server with SIGTERM in the middle, restarts it on the same data
// directory, and checks that every batch answered 2xx is stored in full.
func TestSIGTERMDuringHTTPIngest(t *testing.T) {
	s := startServer(t, serverOpts{})
	run := fmt.Sprintf("sig%d", time.Now().UnixNano()%1000000)
	const perBatch = 50
	var (
		mu    sync.Mutex
		acked []int
		next  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b := int(next.Add(1))
				var body bytes.Buffer
				for i := range perBatch {
					fmt.Fprintf(&body, `{"run":%q,"batch":%d,"seq":%d,"message":"login attempt %d","user":{"name":"u%d"}}`+"\n", run, b, i, i, i)
				}
				req, _ := http.NewRequest("POST", "http://"+s.http+"/api/v1/ingest", &body)
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is going away
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					acked = append(acked, b)
					mu.Unlock()
				} else if resp.StatusCode != 429 && resp.StatusCode != 503 {
					t.Errorf("batch %d: HTTP %d", b, resp.StatusCode)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond) // the load's duration: senders run against the vigil serve process for 1.5 s before it is stopped
	s.terminate()
	stop.Store(true)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged before SIGTERM")
	}

	s2 := startServer(t, serverOpts{data: s.data})
	r := s2.search("run:"+run+" | stats count() by batch", 10000)
	got := map[string]int{}
	for _, row := range r.Rows {
		got[str(row[0])] = int(row[1].(float64))
	}
	for _, b := range acked {
		if n := got[fmt.Sprint(b)]; n != perBatch {
			t.Errorf("batch %d was acknowledged but %d of %d events are stored", b, n, perBatch)
		}
	}
	t.Logf("%d batches acknowledged before SIGTERM, all present after restart", len(acked))
}

func TestSearchNeedsToken(t *testing.T) {
	s := startServer(t, serverOpts{})
	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "not-a-token"}} {
		resp, body := s.request("GET", "/api/v1/search?q=*", tc.token, nil)
		if resp.StatusCode != 401 {
			t.Errorf("%s: HTTP %d, want 401 (%s)", tc.name, resp.StatusCode, body)
		}
	}
	resp, _ := s.request("GET", "/healthz", "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("/healthz without token: HTTP %d, want 200", resp.StatusCode)
	}
	resp, _ = s.request("GET", "/metrics", "", nil)
	if resp.StatusCode != 401 {
		t.Errorf("/metrics without token: HTTP %d, want 401", resp.StatusCode)
	}
}

// TestInjectionStringsAreValues stores events whose values are SQL
// injection strings and searches for them: each must be found as a plain
// value and the store must be intact afterwards.
func TestInjectionStringsAreValues(t *testing.T) {
	s := startServer(t, serverOpts{})
	evil := []string{
		`'; DROP TABLE events; --`,
		`" OR 1=1 --`,
		`%`, `_`, `\`, `a'b"c`,
		`x') UNION SELECT name FROM sqlite_master --`,
	}
	var body bytes.Buffer
	for i, v := range evil {
		fmt.Fprintf(&body, `{"case":%d,"user":{"name":%q},"message":"inject"}`+"\n", i, v)
	}
	resp, b := s.request("POST", "/api/v1/ingest", testToken, &body)
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, b)
	}
	for i, v := range evil {
		q := `user.name:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		r := s.waitTotal(q, 1, 10*time.Second)
		if r.Total != 1 {
			t.Errorf("search %s: total %d, want 1", q, r.Total)
			continue
		}
		if got := str(r.Events[0]["case"]); got != fmt.Sprint(i) {
			t.Errorf("search %s found case %s, want %d", q, got, i)
		}
	}
	if r := s.search("message:inject", 100); r.Total != int64(len(evil)) {
		t.Errorf("after injection searches: total %d, want %d", r.Total, len(evil))
	}
	// Wildcards in a value are wildcards only where the language says so:
	// a literal % must not match everything.
	if r := s.search(`user.name:"%"`, 100); r.Total != 1 {
		t.Errorf(`user.name:"%%": total %d, want 1`, r.Total)
	}
}
