package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// runAuditVerify runs `vigil audit verify` with args and returns its output
// and exit status.
func runAuditVerify(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := withTimeout(60 * time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigilBin, append([]string{"audit", "verify"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("vigil audit verify %q did not finish within 60s\n%s", args, out.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() < 0 {
			t.Fatalf("running vigil audit verify %q: %v\n%s", args, err, out.String())
		}
		code = ee.ExitCode()
	}
	return out.String(), code
}

// TestAuditVerify writes audit entries through a real server (users and
// tokens created with the API), checks the chain through the API and
// through `vigil audit verify --server`, stops the server, checks the data
// directory with `vigil audit verify --data`, then changes one entry behind
// the triggers' back and expects the command to name it and exit 1.
func TestAuditVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t, serverOpts{})
	for i := range 3 {
		body := fmt.Sprintf(`{"username":"auditor%d","password":"a long passphrase %d","role":"viewer"}`, i, i)
		if resp, b := s.request("POST", "/api/v1/users", testToken, strings.NewReader(body)); resp.StatusCode != 201 {
			t.Fatalf("creating a user: HTTP %d: %s", resp.StatusCode, b)
		}
	}
	if resp, b := s.request("POST", "/api/v1/tokens", testToken, strings.NewReader(`{"name":"ci","role":"ingest"}`)); resp.StatusCode != 201 {
		t.Fatalf("creating a token: HTTP %d: %s", resp.StatusCode, b)
	}

	resp, b := s.request("GET", "/api/v1/audit/verify", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/audit/verify: HTTP %d: %s", resp.StatusCode, b)
	}
	var rep struct {
		OK       bool   `json:"ok"`
		Entries  int64  `json:"entries"`
		HeadSeq  int64  `json:"head_seq"`
		HeadHash string `json:"head_hash"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("GET /api/v1/audit/verify: %v: %s", err, b)
	}
	if !rep.OK || rep.Entries < 4 || rep.HeadSeq != rep.Entries || len(rep.HeadHash) != 64 {
		t.Fatalf("GET /api/v1/audit/verify: got %s, want ok with at least 4 entries", b)
	}
	anchor := fmt.Sprintf("%d:%s", rep.HeadSeq, rep.HeadHash)
	out, code := runAuditVerify(t, "--server", "http://"+s.http, "--token", testToken, "--anchor", anchor)
	if code != 0 || !strings.Contains(out, "OK,") || !strings.Contains(out, "anchors: all 1 on the chain") {
		t.Fatalf("vigil audit verify --server --anchor: exit %d, want 0 and the anchor on the chain:\n%s", code, out)
	}
	if resp, b := s.request("GET", "/api/v1/audit/verify?anchor=nonsense", testToken, nil); resp.StatusCode != 400 {
		t.Errorf("GET /api/v1/audit/verify?anchor=nonsense: HTTP %d, want 400: %s", resp.StatusCode, b)
	}
	s.terminate()

	out, code = runAuditVerify(t, "--data", s.data, "--anchor", anchor)
	if want := fmt.Sprintf("OK, %d entries checked", rep.Entries); code != 0 || !strings.Contains(out, want) || !strings.Contains(out, rep.HeadHash) {
		t.Fatalf("vigil audit verify --data on the stopped server's data: exit %d, want 0 and %q and head hash %s:\n%s", code, want, rep.HeadHash, out)
	}

	// Change the second user's creation as someone with write access to
	// the data directory would: the triggers refuse, so drop them first.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.data, "meta.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE action = 'user.create' AND target IN (SELECT target FROM audit_log WHERE action = 'user.create' ORDER BY seq LIMIT 1 OFFSET 1)`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE of audit_log with the triggers in place: got %v, want the append-only error", err)
	}
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit_log WHERE action = 'user.create' ORDER BY seq LIMIT 1 OFFSET 1`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, fmt.Sprintf(`UPDATE audit_log SET actor = 'mallory' WHERE seq = %d`, seq)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out, code = runAuditVerify(t, "--data", s.data)
	if want := fmt.Sprintf("BROKEN at seq %d (hash)", seq); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("vigil audit verify --data after tampering: exit %d, want 1 and %q:\n%s", code, want, out)
	}

	if out, code := runAuditVerify(t, "--data", s.data, "--server", "http://"+s.http); code != 2 {
		t.Errorf("vigil audit verify with --data and --server: exit %d, want 2:\n%s", code, out)
	}
}
