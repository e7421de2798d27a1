package server

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestAnomalyRules runs a server with an anomaly rule in DATA/anomaly: two
// logins of one user from Paris and Sydney ten minutes apart become an
// alert through the same path as Sigma's, and the rule's baseline is in
// the metadata database once the server has stopped.
func TestAnomalyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Syslog.UDP, cfg.Syslog.TCP, cfg.Syslog.TLS = "", "", ""
	if err := os.MkdirAll(filepath.Join(cfg.Data, "anomaly"), 0o755); err != nil {
		t.Fatal(err)
	}
	const rule = `title: Impossible travel (test)
id: test_server_travel
level: high
tags: [attack.initial-access, attack.t1078]
selection: {event.category: authentication, event.outcome: success}
anomaly: {kind: impossible_travel, entity: [user.name]}
`
	if err := os.WriteFile(filepath.Join(cfg.Data, "anomaly", "travel.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Started():
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within a minute")
	}
	// A rule added later comes in with the Sigma rules' reload.
	added := strings.Replace(strings.Replace(rule, "test_server_travel", "test_server_added", 1), "kind: impossible_travel", "kind: first_seen, fields: [source.ip]", 1)
	if err := os.WriteFile(filepath.Join(cfg.Data, "anomaly", "added.yml"), []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadRules(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range s.anomaly.Engine().Rules() {
		ids = append(ids, r.ID)
	}
	if !slices.Contains(ids, "test_server_added") || !slices.Contains(ids, "test_server_travel") {
		t.Errorf("anomaly rules after the reload: got %q, want test_server_travel and test_server_added among them", ids)
	}
	now := time.Now().UTC()
	login := func(at time.Time, lat, lon float64) ingest.Raw {
		return ingest.Raw{Input: "http", Received: now, Data: fmt.Appendf(nil,
			`{"@timestamp":%q,"event":{"category":"authentication","outcome":"success"},"user":{"name":"alice"},"source":{"ip":"192.0.2.7","geo":{"location":{"lat":%g,"lon":%g}}}}`,
			at.Format(time.RFC3339Nano), lat, lon)}
	}
	if err := s.Pipeline.Enqueue(ctx, []ingest.Raw{login(now.Add(-20*time.Minute), 48.8566, 2.3522), login(now.Add(-10*time.Minute), -33.8688, 151.2093)}); err != nil {
		t.Fatal(err)
	}
	// Stopping drains the pipeline, stores the alerts and writes the
	// baselines.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	db, err := sql.Open("sqlite", metatest.DSN(filepath.Join(cfg.Data, "meta.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var level string
	var n int
	if err := db.QueryRow(`SELECT count(*), max(level) FROM alerts WHERE rule_id = 'test_server_travel'`).Scan(&n, &level); err != nil {
		t.Fatal(err)
	}
	if n != 1 || level != "high" {
		t.Errorf("alerts of the anomaly rule: got %d (level %q), want 1 (high)", n, level)
	}
	if err := db.QueryRow(`SELECT count(*) FROM anomaly_state WHERE rule LIKE 'test_server_travel:%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("baselines of the anomaly rule in the database: got %d, want 1", n)
	}
}
