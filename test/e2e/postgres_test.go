package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestPostgresMetadata runs vigil serve --postgres against a real
// PostgreSQL server (a private cluster, reached over TCP with a password):
// an SSH brute force over syslog becomes an alert and an incident that the
// API shows, a user added with vigil user --postgres can be listed, vigil
// audit verify --postgres passes, nothing of the metadata lands in the
// data directory, the password is never logged, and after a restart
// everything is still there.
func TestPostgresMetadata(t *testing.T) {
	c := metatest.PostgresCluster(t)
	suffix := randHex(t, 6)
	role, password, dbname := "vigil_"+suffix, "pw-"+randHex(t, 12), "vigil_"+suffix
	for _, q := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, role, password),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, dbname, role),
	} {
		if _, err := c.Admin().Exec(q); err != nil {
			t.Fatalf("%s: %v", strings.Replace(q, password, "xxxxx", 1), err)
		}
	}
	dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", role, password, c.Addr(), dbname)

	dir := t.TempDir()
	blocked := filepath.Join(dir, "blocked.txt")
	script := filepath.Join(dir, "block.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+blocked+"\n"), 0o700)
	cfg := filepath.Join(dir, "vigil.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("respond:\n  commands:\n    block_ip: [%q, block, \"{{.Target}}\", \"{{.TTLSeconds}}\"]\n", script)), 0o600)
	s := startServer(t, serverOpts{extra: []string{"--config", cfg, "--postgres", dsn}})

	// A user made at the command line, in the same database.
	if out, code := runCLI(t, "a console passphrase for carol\n", nil, "user", "add", "carol", "--role", "analyst", "--postgres", dsn); code != 0 {
		t.Fatalf("vigil user add --postgres: exit %d:\n%s", code, out)
	}

	ip := fmt.Sprintf("198.51.100.%d", 10+time.Now().Nanosecond()%200)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var buf bytes.Buffer
	for i := range 30 {
		ts := now.Add(time.Duration(i-40) * time.Second).Format(time.Stamp)
		fmt.Fprintf(&buf, "<38>%s bastion sshd[%d]: Failed password for root from %s port %d ssh2\n", ts, 2000+i, ip, 40000+i)
	}
	conn.Write(buf.Bytes())
	conn.Close()

	const bruteForce = "SSH brute force from one source"
	var alert alertJSON
	deadline := time.Now().Add(30 * time.Second)
	for alert.ID == "" || alert.IncidentID == "" {
		var alerts struct{ Alerts []alertJSON }
		s.getJSON("/api/v1/alerts?limit=100", &alerts)
		for _, a := range alerts.Alerts {
			if a.RuleTitle == bruteForce {
				alert = a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q alert with an incident within 30s: %+v", bruteForce, alerts.Alerts)
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	type incidentJSON struct {
		ID, Title string
		Alerts    []alertJSON
		Actions   []struct{ Name, Target, Status string }
	}
	var inc incidentJSON
	s.getJSON("/api/v1/incidents/"+alert.IncidentID, &inc)
	deadline = time.Now().Add(15 * time.Second)
	for !hasAction(inc.Actions, "block_ip", ip) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
		s.getJSON("/api/v1/incidents/"+alert.IncidentID, &inc)
	}
	if !strings.Contains(inc.Title, ip) || len(inc.Alerts) == 0 || !hasAction(inc.Actions, "block_ip", ip) {
		t.Fatalf("incident %+v: want it to name %s, hold the alert and its block_ip action", inc, ip)
	}
	var users struct {
		Users []struct{ Username, Role string }
	}
	s.getJSON("/api/v1/users", &users)
	if !strings.Contains(fmt.Sprint(users.Users), "{carol analyst}") {
		t.Errorf("users: got %+v, want carol (added with vigil user --postgres) among them", users.Users)
	}

	out, code := runAuditVerify(t, "--postgres", dsn)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("vigil audit verify --postgres: exit %d, want 0:\n%s", code, out)
	}
	if strings.Contains(out, password) {
		t.Errorf("vigil audit verify printed the DSN's password:\n%s", out)
	}

	// Restart on the same data directory and database: the state is the
	// database's, not the process's.
	s.terminate()
	if _, err := os.Stat(filepath.Join(s.data, "meta.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("meta.db in the data directory: got %v, want none (the metadata is in PostgreSQL)", err)
	}
	s.start()
	var again incidentJSON
	s.getJSON("/api/v1/incidents/"+alert.IncidentID, &again)
	if again.ID != inc.ID || again.Title != inc.Title || len(again.Alerts) != len(inc.Alerts) || !hasAction(again.Actions, "block_ip", ip) {
		t.Errorf("incident after the restart: got %+v, want %+v", again, inc)
	}
	var got alertJSON
	s.getJSON("/api/v1/alerts/"+alert.ID, &got)
	if got.ID != alert.ID || got.IncidentID != alert.IncidentID {
		t.Errorf("alert after the restart: got %+v, want %+v", got, alert)
	}
	if out, code := runAuditVerify(t, "--postgres", dsn); code != 0 {
		t.Errorf("vigil audit verify --postgres after the restart: exit %d:\n%s", code, out)
	}
	// The log is read once the process has exited and its output is
	// copied (reading it while the server writes is a race).
	s.terminate()
	if strings.Contains(s.log.String(), password) {
		t.Errorf("the server's log holds the DSN's password:\n%s", tail(s.log.String(), 4000))
	}
	if !strings.Contains(s.log.String(), "metadata in PostgreSQL") {
		t.Errorf("the server's log does not say where the metadata is:\n%s", tail(s.log.String(), 4000))
	}
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
