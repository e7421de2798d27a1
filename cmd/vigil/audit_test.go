package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
)

// auditDir writes a data directory whose meta.db holds n audit entries.
func auditDir(t *testing.T, n int) (dir string, db *sql.DB) {
	t.Helper()
	dir = t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := audit.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Record(context.Background(), "admin", "user.create", "u"+string(rune('a'+i)), nil, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, db
}

// runVigil runs the command line in process and returns its output and
// error.
func runVigil(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var prof profiles
	root := newRoot(&prof)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAuditVerify(t *testing.T) {
	intact, idb := auditDir(t, 3)
	head, err := audit.Verify(context.Background(), idb)
	if err != nil {
		t.Fatal(err)
	}
	anchor := fmt.Sprintf("%d:%s", head.HeadSeq, head.HeadHash)
	past := fmt.Sprintf("%d:%s", head.HeadSeq+1, head.HeadHash)
	broken, db := auditDir(t, 3)
	for _, s := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	// A data directory of a version before the chain: verify says so and,
	// reading only, leaves it as it is.
	old := t.TempDir()
	odb, err := sql.Open("sqlite", "file:"+filepath.Join(old, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	if _, err := odb.Exec(`CREATE TABLE audit_log (id TEXT PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
		target TEXT NOT NULL, before TEXT NOT NULL DEFAULT '', after TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantOut  []string
		wantErr  string
		wantExit int // 0, 1 (broken or error) or 2 (usage)
	}{
		{"intact", []string{"audit", "verify", "--data", intact}, []string{"OK, 3 entries checked", "head: seq 3 hash "}, "", 0},
		{"intact json", []string{"audit", "verify", "--data", intact, "--format", "json"}, []string{`"ok": true`, `"entries": 3`}, "", 0},
		{"broken", []string{"audit", "verify", "--data", broken}, []string{"BROKEN at seq 2 (hash)", "was changed", "1 entries checked before it; last intact: seq 1"}, "", 1},
		{"anchor on the chain", []string{"audit", "verify", "--data", intact, "--anchor", anchor, "--anchor", anchor}, []string{"OK, 3 entries checked", "anchors: all 2 on the chain"}, "", 0},
		{"anchor past the end", []string{"audit", "verify", "--data", intact, "--anchor", past}, []string{"BROKEN at seq 4 (anchor)", "entries at its end were removed"}, "", 1},
		{"bad anchor", []string{"audit", "verify", "--data", intact, "--anchor", "3"}, nil, "want SEQ:HASH", 2},
		{"no such directory", []string{"audit", "verify", "--data", filepath.Join(intact, "nope")}, nil, "no such file", 1},
		{"before the chain", []string{"audit", "verify", "--data", old}, nil, "no hash chain yet", 1},
		{"both sources", []string{"audit", "verify", "--data", intact, "--server", "http://127.0.0.1:1"}, nil, "", 2},
		{"argument", []string{"audit", "verify", intact}, nil, "", 2},
		{"bad format", []string{"audit", "verify", "--data", intact, "--format", "xml"}, nil, "", 2},
		{"unknown subcommand", []string{"audit", "verfiy"}, nil, "unknown command", 2},
		{"help", []string{"audit"}, []string{"verify"}, "", 0},
		{"unknown flag", []string{"audit", "verify", "--dta", intact}, nil, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runVigil(t, tt.args...)
			if got := exitStatus(err); got != tt.wantExit {
				t.Fatalf("got exit status %d (%v), want %d; output:\n%s", got, err, tt.wantExit, out)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got error %v, want one that says %q", err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not contain %q", out, w)
				}
			}
		})
	}
	var n int
	if err := odb.QueryRow(`SELECT count(*) FROM pragma_table_info('audit_log')`).Scan(&n); err != nil || n != 7 {
		t.Errorf("old audit_log after verify: got %d columns (%v), want the 7 it had", n, err)
	}
}

func TestAuditVerifyServer(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantOut  string
		wantExit int
	}{
		{"intact", 200, `{"ok":true,"entries":7,"head_seq":7,"head_hash":"ab"}`, "OK, 7 entries checked", 0},
		{"broken", 200, `{"ok":false,"entries":3,"head_seq":3,"head_hash":"ab","break":{"seq":4,"reason":"gap","message":"seq 4: missing"}}`, "BROKEN at seq 4 (gap)", 1},
		{"inconsistent", 200, `{"ok":true,"entries":3,"break":{"seq":4,"reason":"gap","message":"x"}}`, "", 1},
		{"forbidden", 403, `{"error":"forbidden"}`, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/audit/verify" || r.Header.Get("Authorization") != "Bearer tok" {
					http.Error(w, `{"error":"wrong request"}`, 400)
					return
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			out, err := runVigil(t, "audit", "verify", "--server", srv.URL, "--token", "tok")
			if got := exitStatus(err); got != tt.wantExit {
				t.Fatalf("got exit status %d (%v), want %d; output:\n%s", got, err, tt.wantExit, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not contain %q", out, tt.wantOut)
			}
		})
	}
}
