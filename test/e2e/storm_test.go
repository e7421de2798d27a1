package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// The storm tests send an SSH brute-force wave from many addresses (each
// failing to log in stormAttempts times) mixed with normal traffic, the
// way `vigil bench ingest --attackers` does, and follow it through the
// campaign alert, its incident, the batched block_ip and the audit chain,
// and through a kill -9 and a SIGTERM in the middle of it.

const (
	stormAttempts   = 10 // vigil_ssh_brute_force fires at 10 failures in 5m
	stormThreshold  = 5  // alerts.campaign.threshold's default
	bruteForceTitle = "SSH brute force from one source"
)

// stormAttacker is the address of attacker k, from the RFC 2544
// benchmarking range as the load generator's.
func stormAttacker(k int) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+(k>>16)&1, (k>>8)&255, k&255)
}

// stormLine appends the i-th syslog line (RFC 3164) of a wave: an attack
// line (attacker k failing to log in) when attacker >= 0, else a normal
// one. Every line's pid is 1+i, so that process.pid tells the lines apart.
func stormLine(b []byte, ts, host string, i, attacker int) []byte {
	pid := strconv.Itoa(1 + i)
	if attacker >= 0 {
		return fmt.Appendf(b, "<38>%s %s sshd[%s]: Failed password for invalid user u%d from %s port %d ssh2\n",
			ts, host, pid, i%1000, stormAttacker(attacker), 1024+i%60000)
	}
	ip := fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
	if i%2 == 0 {
		return fmt.Appendf(b, "<38>%s %s sshd[%s]: Accepted publickey for user%d from %s port %d ssh2\n",
			ts, host, pid, i%500, ip, 1024+i%60000)
	}
	return fmt.Appendf(b, `<134>%s %s payments[%s]: {"level":"info","service":"payments","msg":"charge processed","user":{"name":"user%d"},"amount":%d,"source":{"ip":"%s"}}`+"\n",
		ts, host, pid, i%500, i%100000, ip)
}

// stormWave lays out a wave of n lines with attackers × stormAttempts
// attack lines spread evenly through it (as the load generator does, so
// that every attacker is active at once): it returns, per line, the
// attacker or -1.
func stormWave(n, attackers int) []int {
	attacks := attackers * stormAttempts
	wave := make([]int, n)
	j := 0
	for i := range wave {
		wave[i] = -1
		if a, b := i*attacks/n, (i+1)*attacks/n; b > a {
			wave[i] = j % attackers
			j++
		}
	}
	return wave
}

// sendStormTCP writes the wave's lines over conns TCP connections (line i
// on connection i%conns) and returns once every line is written. The
// first connection is closed after writing; the others are returned open,
// as rsyslog keeps its connection, for the caller to close.
func sendStormTCP(t *testing.T, addr, host string, wave []int, conns int) []net.Conn {
	t.Helper()
	ts := time.Now().UTC().Format(time.Stamp)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open []net.Conn
	)
	cs := make([]net.Conn, conns)
	for c := range cs {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			for _, open := range cs[:c] {
				open.Close()
			}
			t.Fatal(err)
		}
		cs[c] = conn
	}
	for c, conn := range cs {
		wg.Go(func() {
			w := bufio.NewWriterSize(conn, 256<<10)
			var b []byte
			for i := c; i < len(wave); i += conns {
				b = stormLine(b[:0], ts, host, i, wave[i])
				if _, err := w.Write(b); err != nil {
					t.Errorf("sending line %d: %v", i, err)
					conn.Close()
					return
				}
			}
			if err := w.Flush(); err != nil {
				t.Errorf("sending: %v", err)
				conn.Close()
				return
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
	return open
}

// stormResponse is a config whose block_ip batch command appends the
// addresses it reads on stdin to Blocked and the count it was given to
// Batches, then touches Started and, while the file Hold exists, waits: a
// command that hangs, for a crash to interrupt.
type stormResponse struct {
	Config, Blocked, Batches, Started, Hold string
}

func newStormResponse(t *testing.T) stormResponse {
	t.Helper()
	dir := t.TempDir()
	r := stormResponse{
		Config:  filepath.Join(dir, "vigil.yml"),
		Blocked: filepath.Join(dir, "blocked.txt"),
		Batches: filepath.Join(dir, "batches.txt"),
		Started: filepath.Join(dir, "started"),
		Hold:    filepath.Join(dir, "hold"),
	}
	script := filepath.Join(dir, "block.sh")
	body := fmt.Sprintf("#!/bin/sh\necho \"$1\" >> '%s'\ncat >> '%s'\ntouch '%s'\nwhile [ -e '%s' ]; do sleep 0.05; done\n",
		r.Batches, r.Blocked, r.Started, r.Hold)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("respond:\n  batch_commands:\n    block_ip:\n      argv: [%q, \"{{.Count}}\"]\n      line: \"{{.Target}}\"\n", script)
	if err := os.WriteFile(r.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A command still held when the test ends (its server was killed)
	// must not outlive the test.
	t.Cleanup(func() { os.Remove(r.Hold) })
	return r
}

// distinct counts the distinct values.
func distinct(vs []string) int {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return len(m)
}

// readLines returns the lines of a file (none if it does not exist).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// statsRow runs a stats query without by and returns its one row as
// integers.
func (s *server) statsRow(q string) []int64 {
	s.t.Helper()
	r := s.search(q, 10)
	if len(r.Rows) != 1 {
		s.t.Fatalf("%s: got rows %v, want one", q, r.Rows)
	}
	out := make([]int64, len(r.Rows[0]))
	for i, v := range r.Rows[0] {
		f, _ := v.(float64) // null (nothing matched) counts as 0
		out[i] = int64(f)
	}
	return out
}

// waitStats polls a stats query until its first column reaches want or
// the deadline passes, and returns the last row.
func (s *server) waitStats(q string, want int64, within time.Duration) []int64 {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		row := s.statsRow(q)
		if row[0] >= want || time.Now().After(deadline) {
			return row
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
}

// openMeta opens a stopped server's meta database read-only.
func openMeta(t *testing.T, data string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "meta.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryStrings runs a query of one text column.
func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkEachOnce reports every attacker that is not in got exactly once,
// and anything in got that is not an attacker.
func checkEachOnce(t *testing.T, what string, got []string, attackers int) {
	t.Helper()
	n := map[string]int{}
	for _, v := range got {
		n[v]++
	}
	var bad []string
	for k := range attackers {
		if ip := stormAttacker(k); n[ip] != 1 {
			bad = append(bad, fmt.Sprintf("%s %d times", ip, n[ip]))
		}
		delete(n, stormAttacker(k))
	}
	for v, c := range n {
		bad = append(bad, fmt.Sprintf("non-attacker %q %d times", v, c))
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Errorf("%s: %d entries, want each of the %d attackers once; %d wrong, e.g. %v", what, len(got), attackers, len(bad), bad[:min(len(bad), 10)])
	}
}

// TestStormCampaign sends a wave from 2,000 addresses, each failing to log
// in 10 times, mixed with 20,000 normal lines over syslog TCP, and checks
// what an analyst gets: every event searchable, one campaign alert listing
// every address (the first threshold-1 keep the alerts they raised before
// there was a campaign), a handful of incidents, and every address blocked
// once by the built-in playbook through the batch command, with one action
// record and its two audit entries (intent, result) each, and an intact
// audit chain.
func TestStormCampaign(t *testing.T) {
	const attackers, normal = 2000, 20000
	blk := newStormResponse(t)
	s := startServer(t, serverOpts{extra: []string{"--config", blk.Config}})
	host := fmt.Sprintf("storm%d", time.Now().UnixNano()%1000000)
	wave := stormWave(attackers*stormAttempts+normal, attackers)

	start := time.Now()
	for _, c := range sendStormTCP(t, s.tcp, host, wave, 2) {
		c.Close()
	}
	sent := time.Since(start)
	if t.Failed() {
		return
	}
	q := "host.name:" + host + " | stats count()"
	if row := s.waitStats(q, int64(len(wave)), 60*time.Second); row[0] != int64(len(wave)) {
		t.Fatalf("%s: got %d, want %d", q, row[0], len(wave))
	}
	stored := time.Since(start)

	// The playbook has blocked every address once the campaign lists them
	// all and the batch command has read them all.
	var campaign alertJSONCampaign
	deadline := time.Now().Add(60 * time.Second)
	for {
		campaign = s.bruteForceCampaign()
		if campaign.EntityCount >= attackers && distinct(readLines(t, blk.Blocked)) >= attackers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after the wave was stored: campaign %s lists %d subjects and %d addresses were blocked, want %d",
				campaign.ID, campaign.EntityCount, distinct(readLines(t, blk.Blocked)), attackers)
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	actioned := time.Since(start)

	var alerts struct{ Alerts []alertJSONCampaign }
	s.getJSON("/api/v1/alerts?limit=100000", &alerts)
	var campaigns, singles []alertJSONCampaign
	for _, a := range alerts.Alerts {
		if a.RuleTitle != bruteForceTitle {
			continue
		}
		if a.Campaign {
			campaigns = append(campaigns, a)
		} else {
			singles = append(singles, a)
		}
	}
	if len(campaigns) != 1 {
		t.Fatalf("campaign alerts for %q: got %d, want 1: %+v", bruteForceTitle, len(campaigns), campaigns)
	}
	if c := campaigns[0]; c.EntityCount != attackers || c.IncidentID == "" {
		t.Errorf("campaign alert: entity_count %d, incident %q; want %d and an incident", c.EntityCount, c.IncidentID, attackers)
	}
	if len(singles) != stormThreshold-1 {
		t.Errorf("single %q alerts (raised before the campaign): got %d, want %d", bruteForceTitle, len(singles), stormThreshold-1)
	}
	var incs struct {
		Incidents []struct{ ID, Title string }
	}
	s.getJSON("/api/v1/incidents?limit=1000", &incs)
	if len(incs.Incidents) > 10 {
		t.Errorf("incidents: got %d, want at most 10", len(incs.Incidents))
	}
	campaignTitle := 0
	for _, inc := range incs.Incidents {
		if inc.Title == "Campaign: "+bruteForceTitle {
			campaignTitle++
		}
	}
	if campaignTitle != 1 {
		t.Errorf("incidents titled %q: got %d, want 1 (all: %+v)", "Campaign: "+bruteForceTitle, campaignTitle, incs.Incidents)
	}

	checkEachOnce(t, "campaign members (GET /api/v1/alerts/{id}/members, pages of 700)", s.campaignMembers(campaigns[0].ID, 700), attackers)
	res, csvBody := s.request("GET", "/api/v1/alerts/"+campaigns[0].ID+"/members?format=csv", testToken, nil)
	if res.StatusCode != 200 {
		t.Fatalf("members as CSV: HTTP %d: %s", res.StatusCode, csvBody)
	}
	recs, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("members as CSV: %v: %.500s", err, csvBody)
	}
	var csvMembers []string
	for _, r := range recs[1:] {
		if r[0] != "source.ip" {
			t.Errorf("members as CSV: row %q, want kind source.ip", r)
		}
		csvMembers = append(csvMembers, r[1])
	}
	checkEachOnce(t, "campaign members (CSV export)", csvMembers, attackers)

	// SIGTERM lets the runner finish what it has queued; then the meta
	// database is read as it is left.
	s.terminate()
	db := openMeta(t, s.data)
	checkEachOnce(t, "campaign members (alert_members)",
		queryStrings(t, db, `SELECT value FROM alert_members WHERE alert_id = ? AND kind = 'source.ip'`, campaigns[0].ID), attackers)
	checkEachOnce(t, "block set (response_blocks)", queryStrings(t, db, `SELECT ip FROM response_blocks`), attackers)
	checkEachOnce(t, "lines the block command read (blocked.txt)", readLines(t, blk.Blocked), attackers)
	// A batch command per batch of at most 1,000 addresses, each told how
	// many it reads.
	batches, inBatches := readLines(t, blk.Batches), 0
	for _, b := range batches {
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 || n > 1000 {
			t.Errorf("block command's {{.Count}}: got %q, want 1 to 1000", b)
		}
		inBatches += n
	}
	if got := len(readLines(t, blk.Blocked)); inBatches != got {
		t.Errorf("block commands' counts add up to %d, but they read %d addresses", inBatches, got)
	}
	checkEachOnce(t, "block_ip actions with status ok (incident_actions)",
		queryStrings(t, db, `SELECT target FROM incident_actions WHERE name = 'block_ip' AND status = 'ok'`), attackers)
	if other := queryStrings(t, db, `SELECT target || ' ' || status FROM incident_actions WHERE name = 'block_ip' AND status != 'ok'`); len(other) > 0 {
		t.Errorf("block_ip actions not ok: got %d, want 0, e.g. %v", len(other), other[:min(len(other), 10)])
	}
	if running := queryStrings(t, db, `SELECT name || ' ' || target FROM incident_actions WHERE status = 'running'`); len(running) > 0 {
		t.Errorf("actions left running: got %d, want 0, e.g. %v", len(running), running[:min(len(running), 10)])
	}
	// Each action is in two audit entries, its intent and its result; an
	// entry records the actions of one transaction (one action, or
	// {"actions": [...]} for a batch).
	var audited []string
	for _, after := range queryStrings(t, db, `SELECT after FROM audit_log WHERE action = 'action.block_ip'`) {
		var a struct {
			Target  string
			Actions []struct{ Target string }
		}
		if err := json.Unmarshal([]byte(after), &a); err != nil {
			t.Fatalf("audit entry of action.block_ip: %v: %s", err, after)
		}
		if len(a.Actions) == 0 {
			audited = append(audited, a.Target)
		}
		for _, x := range a.Actions {
			audited = append(audited, x.Target)
		}
	}
	slices.Sort(audited)
	checkEachOnce(t, "action.block_ip audit entries (every other one)", stride2(t, audited), attackers)
	if out, code := runAuditVerify(t, "--data", s.data); code != 0 || !strings.Contains(out, "OK,") {
		t.Errorf("vigil audit verify --data: exit %d, want 0 and OK:\n%s", code, out)
	}
	t.Logf("%d lines (%d attackers × %d) sent in %v, all stored after %v, every address blocked after %v by %d batch commands",
		len(wave), attackers, stormAttempts, sent.Round(time.Millisecond), stored.Round(time.Millisecond), actioned.Round(time.Millisecond), len(batches))
}

// stride2 checks that sorted values come in pairs and returns one of each
// pair.
func stride2(t *testing.T, sorted []string) []string {
	t.Helper()
	var out []string
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		if j-i != 2 {
			t.Errorf("audit entries of action.block_ip %s: got %d, want 2 (intent and result)", sorted[i], j-i)
		}
		out = append(out, sorted[i])
		i = j
	}
	return out
}

type alertJSONCampaign struct {
	ID          string `json:"id"`
	RuleTitle   string `json:"rule_title"`
	IncidentID  string `json:"incident_id"`
	Campaign    bool   `json:"campaign"`
	EntityCount int    `json:"entity_count"`
}

// campaignMembers lists a campaign alert's members through the API, a
// page of limit at a time.
func (s *server) campaignMembers(id string, limit int) []string {
	s.t.Helper()
	var out []string
	after := ""
	for page := 0; ; page++ {
		var r struct {
			Members []struct {
				Kind, Value string
				Count       int
			}
			NextAfter string `json:"next_after"`
		}
		s.getJSON(fmt.Sprintf("/api/v1/alerts/%s/members?limit=%d&after=%s", id, limit, url.QueryEscape(after)), &r)
		for _, m := range r.Members {
			if m.Kind != "source.ip" || m.Count < 1 {
				s.t.Errorf("member %+v: want kind source.ip and a count", m)
			}
			out = append(out, m.Value)
		}
		if r.NextAfter == "" {
			return out
		}
		if page > 1000 {
			s.t.Fatalf("members of %s: more than 1000 pages", id)
		}
		after = r.NextAfter
	}
}

// bruteForceCampaign returns the brute-force campaign alert, or a zero
// one while there is none.
func (s *server) bruteForceCampaign() alertJSONCampaign {
	s.t.Helper()
	var alerts struct{ Alerts []alertJSONCampaign }
	s.getJSON("/api/v1/alerts?limit=100000", &alerts)
	for _, a := range alerts.Alerts {
		if a.Campaign && a.RuleTitle == bruteForceTitle {
			return a
		}
	}
	return alertJSONCampaign{}
}

// TestStormKill9HTTP posts a storm as NDJSON batches to /api/v1/ingest
// (each batch completes 25 attackers' brute forces, so the campaign grows
// and the playbook blocks while batches come in), kills the server with
// SIGKILL once half of the batches are acknowledged and a block command is
// running (it is held until the kill), restarts it on the same data
// directory, and checks that every event of every acknowledged batch is
// stored, that the audit chain is intact and that every action has a
// result: the ones the kill interrupted "unknown".
func TestStormKill9HTTP(t *testing.T) {
	const (
		batches      = 40
		perBatch     = 500
		attackersPer = 25 // each with stormAttempts lines: half the batch
	)
	blk := newStormResponse(t)
	if err := os.WriteFile(blk.Hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", blk.Config}})
	host := fmt.Sprintf("storm%d", time.Now().UnixNano()%1000000)
	now := time.Now().UTC().Format(time.RFC3339Nano)

	body := func(b int) []byte {
		var buf bytes.Buffer
		for i := range perBatch {
			seq := b*perBatch + i
			ev := map[string]any{"@timestamp": now, "host": map[string]any{"name": host}, "storm": map[string]any{"batch": b, "seq": seq}}
			if i%2 == 0 {
				// A shipper's unparsed sshd line: the message is parsed
				// by the program's parser, as for Filebeat.
				k := b*attackersPer + (i/2)%attackersPer
				ev["process"] = map[string]any{"name": "sshd"}
				ev["message"] = fmt.Sprintf("Failed password for invalid user u%d from %s port %d ssh2", seq%1000, stormAttacker(k), 1024+seq%60000)
			} else {
				ev["message"] = "charge processed"
				ev["service"] = "payments"
				ev["user"] = map[string]any{"name": fmt.Sprintf("user%d", seq%500)}
			}
			json.NewEncoder(&buf).Encode(ev)
		}
		return buf.Bytes()
	}

	var (
		next     atomic.Int64
		ackedN   atomic.Int64
		mu       sync.Mutex
		acked    = map[int]bool{}
		retried  = map[int]bool{} // got a 503 before its 2xx: may be stored twice
		half     = make(chan struct{})
		halfOnce sync.Once
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for range 2 {
		wg.Go(func() {
			for {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				payload := body(b)
				for {
					req, _ := http.NewRequest("POST", "http://"+s.http+"/api/v1/ingest", bytes.NewReader(payload))
					req.Header.Set("Authorization", "Bearer "+testToken)
					req.Header.Set("Content-Type", "application/x-ndjson")
					resp, err := client.Do(req)
					if err != nil {
						return // killed
					}
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						break
					}
					if resp.StatusCode != 429 && resp.StatusCode != 503 {
						t.Errorf("batch %d: got HTTP %d, want 2xx, 429 or 503", b, resp.StatusCode)
						return
					}
					mu.Lock()
					retried[b] = retried[b] || resp.StatusCode == 503
					mu.Unlock()
					// Retry-After asks for a pause; this waits for the
					// server, not for a result.
					time.Sleep(200 * time.Millisecond) // the client's retry pace against the vigil serve process
				}
				mu.Lock()
				acked[b] = true
				mu.Unlock()
				if ackedN.Add(1) >= batches/2 {
					halfOnce.Do(func() { close(half) })
				}
			}
		})
	}
	select {
	case <-half:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d of %d batches acknowledged in 60s", ackedN.Load(), batches)
	}
	// The first block command is held (its actions recorded running):
	// this waits for the script, an external process, to start.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(blk.Started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no block command started within 30s of %d acknowledged batches", ackedN.Load())
		}
		time.Sleep(50 * time.Millisecond) // polling the block command the vigil serve process starts
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	// Let the orphaned command go, and the next server's run freely.
	if err := os.Remove(blk.Hold); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()

	s2 := startServer(t, serverOpts{data: s.data, extra: []string{"--config", blk.Config}})
	q := "host.name:" + host + " | stats count(), dc(storm.seq) by storm.batch"
	type counts struct{ n, distinct int }
	var got map[int]counts
	missing := func() []string {
		var out []string
		for b := range acked {
			if c := got[b]; c.distinct != perBatch || (c.n != perBatch && !retried[b]) {
				out = append(out, fmt.Sprintf("batch %d: %d events, %d distinct", b, c.n, c.distinct))
			}
		}
		slices.Sort(out)
		return out
	}
	// Acknowledged events were stored before their 2xx; the poll only
	// gives a search started during start-up time to see them.
	deadline = time.Now().Add(20 * time.Second)
	for {
		got = map[int]counts{}
		for _, row := range s2.search(q, 10000).Rows {
			b, err := strconv.Atoi(str(row[0]))
			if err != nil {
				t.Fatalf("%s: row %v: %v", q, row, err)
			}
			got[b] = counts{int(row[1].(float64)), int(row[2].(float64))}
		}
		if len(missing()) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("acknowledged batches not stored in full after kill -9 and restart: got %d wrong, want 0 (each %d events, %d distinct):\n%s",
			len(m), perBatch, perBatch, strings.Join(m, "\n"))
	}
	members := s2.bruteForceCampaign().EntityCount
	// Each acknowledged batch completed its attackers' brute forces: their
	// detections crossed the durable hand-off before the batch was
	// stored, so the campaign holds every one of them even where the
	// kill came before the alert writer committed them (the restart
	// replays the journal).
	deadline = time.Now().Add(20 * time.Second)
	for members < nAcked*attackersPer && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling the restarted vigil serve process
		members = s2.bruteForceCampaign().EntityCount
	}
	if members < nAcked*attackersPer {
		t.Errorf("campaign members after kill -9 and restart: got %d, want at least the %d attackers of the %d acknowledged batches", members, nAcked*attackersPer, nAcked)
	}
	// The playbook runs queued when the server died (saved in
	// response_queue) run after the restart: every member of the
	// campaign ends up blocked. This polls the block command's own
	// record, an external process's output.
	deadline = time.Now().Add(30 * time.Second)
	blockedNow := func() int {
		b, _ := os.ReadFile(blk.Blocked)
		return distinct(strings.Fields(string(b)))
	}
	for blockedNow() < int(members) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling the block command's record
	}
	if n := blockedNow(); n < int(members) {
		t.Errorf("addresses blocked after the restart: got %d, want every member of the campaign (%d)", n, members)
	}
	s2.terminate()

	if out, code := runAuditVerify(t, "--data", s.data); code != 0 || !strings.Contains(out, "OK,") {
		t.Errorf("vigil audit verify --data after kill -9 and restart: exit %d, want 0 and OK:\n%s", code, out)
	}
	db := openMeta(t, s.data)
	if running := queryStrings(t, db, `SELECT name || ' ' || target FROM incident_actions WHERE status = 'running'`); len(running) > 0 {
		t.Errorf("actions still running after the restart: got %d, want 0, e.g. %v", len(running), running[:min(len(running), 10)])
	}
	unknown := queryStrings(t, db, `SELECT target FROM incident_actions WHERE name = 'block_ip' AND status = 'unknown'`)
	if len(unknown) == 0 {
		t.Errorf("block_ip actions marked unknown after the restart: got 0, want the held batch's")
	}
	blocks := queryStrings(t, db, `SELECT ip FROM response_blocks`)
	if len(blocks) < int(members) {
		t.Errorf("block set after the restart: got %d addresses, want every member of the campaign (%d)", len(blocks), members)
	}
	if queued := queryStrings(t, db, `SELECT id FROM response_queue`); len(queued) > 0 {
		t.Errorf("playbook runs left queued: got %d, want 0", len(queued))
	}
	t.Logf("%d of %d batches acknowledged before kill -9, all stored after restart; %d block_ip actions the crash interrupted marked unknown; campaign of %d addresses, %d in the block set",
		nAcked, batches, len(unknown), members, len(blocks))
}

// TestStormSIGTERM writes a wave of 100,000 lines, 80% of them a brute
// force from 8,000 addresses, over two TCP connections, sends SIGTERM as
// soon as the last line is written (the alert path and the playbook busy
// with the campaign, much of the wave still in socket buffers and the
// queue), and checks that the server exits within 15 s and that after a
// restart every line is stored exactly once. TestSIGTERMRightAfterTCPSender
// does the same with quiet traffic.
func TestStormSIGTERM(t *testing.T) {
	const attackers, normal = 8000, 20000
	blk := newStormResponse(t)
	s := startServer(t, serverOpts{extra: []string{"--config", blk.Config}})
	host := fmt.Sprintf("storm%d", time.Now().UnixNano()%1000000)
	wave := stormWave(attackers*stormAttempts+normal, attackers)

	open := sendStormTCP(t, s.tcp, host, wave, 2)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	if t.Failed() {
		return
	}
	took := s.terminateWithin(15 * time.Second)
	for _, c := range open {
		c.Close()
	}
	firstLog := s.log.String()

	s2 := startServer(t, serverOpts{data: s.data, extra: []string{"--config", blk.Config}})
	n := int64(len(wave))
	q := "host.name:" + host + " | stats count(), dc(process.pid), min(process.pid), max(process.pid)"
	// Lines carry the pids 1..n: n events with n distinct pids in that
	// range are every line once.
	if got, want := s2.waitStats(q, n, 60*time.Second), []int64{n, n, 1, n}; !slices.Equal(got, want) {
		t.Fatalf("after restart, %s: got %v, want %v\nfirst run's log:\n%s", q, got, want, tail(firstLog, 4000))
	}
	s2.terminate()
	if out, code := runAuditVerify(t, "--data", s.data); code != 0 || !strings.Contains(out, "OK,") {
		t.Errorf("vigil audit verify --data after SIGTERM in the storm: exit %d, want 0 and OK:\n%s", code, out)
	}
	db := openMeta(t, s.data)
	if running := queryStrings(t, db, `SELECT name || ' ' || target FROM incident_actions WHERE status = 'running'`); len(running) > 0 {
		t.Errorf("actions left running: got %d, want 0, e.g. %v", len(running), running[:min(len(running), 10)])
	}
	t.Logf("%d lines (%d attackers × %d); exited %v after SIGTERM; all stored once after restart", n, attackers, stormAttempts, took.Round(time.Millisecond))
}
