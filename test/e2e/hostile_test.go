package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileInput throws bad input at every listener and checks that the
// server stays up, answers clearly, keeps memory bounded and stores what it
// accepted (raw, with a parse_error tag where nothing could be decoded).
func TestHostileInput(t *testing.T) {
	s := startServer(t, serverOpts{})
	run := fmt.Sprintf("h%d", time.Now().UnixNano()%1000000)

	// Syslog TCP: random bytes, NUL bytes, invalid UTF-8, a 1 MB line, a
	// truncated octet-counted frame, then a good line to prove the stream
	// is still read.
	tcpSend := func(payload []byte) {
		t.Helper()
		c, err := net.Dial("tcp", s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.Write(payload)
		c.Close()
	}
	junk := make([]byte, 4096)
	rand.Read(junk)
	tcpSend(append(bytes.ReplaceAll(junk, []byte("\n"), []byte(" ")), '\n'))
	tcpSend([]byte("<13>Nov 22 04:00:00 h1 app: nul\x00byte " + run + "-nul\n"))
	tcpSend([]byte("<13>Nov 22 04:00:00 h1 app: bad utf8 \xff\xfe " + run + "-utf8\n"))
	tcpSend(append(append([]byte("<13>Nov 22 04:00:00 h1 app: "+run+"-huge "), bytes.Repeat([]byte("A"), 1<<20)...), '\n'))
	tcpSend([]byte("500 <13>1 2026-11-22T04:00:00Z h1 app - - - " + run + "-cut"))
	tcpSend([]byte("<13>Nov 22 04:00:00 h1 app: " + run + "-after\n"))

	// UDP: random datagrams.
	uc, err := net.Dial("udp", s.udp)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		rand.Read(junk[:512])
		uc.Write(junk[:512])
	}
	uc.Close()

	// Slowloris: many connections that send a byte now and then must
	// neither block others nor hold unbounded memory.
	var slow []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", s.tcp)
		if err != nil {
			break
		}
		c.Write([]byte("<1"))
		slow = append(slow, c)
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()

	for _, marker := range []string{"nul", "utf8", "huge", "after"} {
		q := `"` + run + "-" + marker + `"`
		if r := s.waitTotal(q, 1, 20*time.Second); r.Total != 1 {
			t.Errorf("%s: total %d, want 1 (the line must be stored)", q, r.Total)
		}
	}
	if r := s.search(`"`+run+`-huge"`, 1); len(r.Events) == 1 {
		if tags := fmt.Sprint(r.Events[0]["tags"]); !strings.Contains(tags, "truncated") {
			t.Errorf("1 MB line: tags %s, want truncated", tags)
		}
	}

	// HTTP: malformed JSON → 400 naming the line; deep nesting → stored or
	// refused, never a crash; gzip bomb → 413.
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader("{\"ok\":1}\n{not json\n"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "line 2") {
		t.Errorf("malformed NDJSON: HTTP %d %s, want 400 naming line 2", resp.StatusCode, body)
	}
	deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	resp, body = s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(deep))
	if resp.StatusCode/100 != 2 && resp.StatusCode/100 != 4 {
		t.Errorf("deeply nested JSON: HTTP %d %s, want 2xx or 4xx", resp.StatusCode, body)
	}
	var bomb bytes.Buffer
	gz := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range 64 {
		gz.Write(zeros)
	}
	gz.Close()
	req, _ := http.NewRequest("POST", "http://"+s.http+"/api/v1/ingest", &bomb)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Encoding", "gzip")
	if r, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("gzip bomb: %v", err)
	} else {
		r.Body.Close()
		if r.StatusCode != 413 {
			t.Errorf("gzip bomb: HTTP %d, want 413", r.StatusCode)
		}
	}

	// Still healthy, with bounded memory, and the bad input is counted.
	resp, _ = s.request("GET", "/healthz", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("healthz after hostile input: HTTP %d", resp.StatusCode)
	}
	_, metrics := s.request("GET", "/metrics", testToken, nil)
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "process_resident_memory_bytes ") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			if v > 500<<20 {
				t.Errorf("RSS %.0f MB after hostile input, want under 500 MB", v/(1<<20))
			}
		}
	}
	if !strings.Contains(string(metrics), "vigil_parse_errors_total") {
		t.Errorf("metrics do not count parse errors")
	}
}
