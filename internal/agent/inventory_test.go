package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilsec/vigil/internal/agent/inventory"
	"github.com/vigilsec/vigil/internal/agentwire"
)

// TestInventorySync: a real agent sends its inventory to a real agents
// service: in full the first time; after a restart a diff against the
// inventory it kept; and in full again when the server does not hold
// what the agent's diff starts from.
func TestInventorySync(t *testing.T) {
	ctx := context.Background()
	svc, hs := testServer(t)
	tok, _, _ := svc.CreateToken(ctx, "t", time.Hour, 1)
	dir := t.TempDir()
	st, err := Enroll(ctx, EnrollOptions{Server: hs.URL, Token: tok, Dir: dir, Hostname: "h1", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	opts := inventory.Options{Root: "inventory/testdata/root", Proc: filepath.Join(t.TempDir(), "no-proc"), RPM: "-"}
	// run runs the agent until the server acknowledged an inventory.
	run := func() string {
		t.Helper()
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		acked := make(chan string, 10)
		done := make(chan error, 1)
		go func() {
			done <- Run(runCtx, RunOptions{Dir: dir, Version: "test", Heartbeat: time.Second, Inventory: opts,
				OnInventory: func(d string) { acked <- d }})
		}()
		select {
		case d := <-acked:
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run after cancel: got %v, want nil", err)
			}
			return d
		case err := <-done:
			t.Fatalf("run ended: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("no inventory acknowledged within 20 s")
		}
		return ""
	}
	checkPackages := func() {
		t.Helper()
		pkgs, err := svc.Packages(ctx, st.AgentID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range pkgs {
			names = append(names, p.Name+" "+p.Version+" "+p.Ecosystem)
		}
		want := []string{"libfoo1 1.0-1+b2 Debian:12", "libssl3 3.0.11-1~deb12u2 Debian:12", "removed 2.0 Debian:12"}
		if len(names) != len(want) {
			t.Fatalf("packages: got %q, want %q", names, want)
		}
		for i := range want {
			if names[i] != want[i] {
				t.Errorf("package %d: got %q, want %q", i, names[i], want[i])
			}
		}
	}
	d1 := run()
	checkPackages()
	hist, _ := svc.History(ctx, st.AgentID, "", 0, 1000)
	n := len(hist)
	// Restarted: a diff (empty: nothing changed) against the kept one.
	if d := run(); d != d1 {
		t.Errorf("after a restart: digest %s, want %s", d, d1)
	}
	if hist, _ := svc.History(ctx, st.AgentID, "", 0, 1000); len(hist) != n {
		t.Errorf("after an unchanged restart: %d changes, want %d", len(hist), n)
	}
	// The kept inventory is one the server does not hold (a package
	// fewer): the server asks for the full one.
	var saved savedInventory
	b, _ := os.ReadFile(filepath.Join(dir, inventoryFile))
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	saved.Items[agentwire.SectionPackages] = saved.Items[agentwire.SectionPackages][1:]
	saved.Digest = agentwire.NewInventoryState(saved.Items).Digest()
	b, _ = json.Marshal(saved)
	os.WriteFile(filepath.Join(dir, inventoryFile), b, 0o600)
	if d := run(); d != d1 {
		t.Errorf("after the server asked for the full inventory: digest %s, want %s", d, d1)
	}
	checkPackages()
	b, _ = os.ReadFile(filepath.Join(dir, inventoryFile))
	json.Unmarshal(b, &saved)
	if saved.Digest != d1 {
		t.Errorf("kept digest: got %s, want %s", saved.Digest, d1)
	}
}

func TestInventoryInterval(t *testing.T) {
	err := Run(context.Background(), RunOptions{Dir: t.TempDir(), InventoryInterval: 59 * time.Second})
	if err == nil || err.Error() != "--inventory-interval: want at least 1m0s, got 59s" {
		t.Errorf("got %v, want the interval's bound", err)
	}
}

// TestInventorySchedule: collected at each connection, then every
// interval after the last collection.
func TestInventorySchedule(t *testing.T) {
	dir := t.TempDir()
	opts := inventory.Options{Root: "inventory/testdata/root", Proc: filepath.Join(dir, "no-proc"), RPM: "-"}
	synctest.Test(t, func(t *testing.T) {
		s := newInventorySync(dir, slog.New(slog.DiscardHandler), nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); s.collect(ctx, time.Hour, opts) }()
		start := time.Now()
		synctest.Wait()
		select {
		case <-s.ready:
			t.Fatal("collected before any connection")
		default:
		}
		s.connected()
		<-s.ready
		if got := time.Since(start); got != 0 {
			t.Errorf("collected at the connection after %s, want at once", got)
		}
		time.Sleep(30 * time.Minute)
		s.connected() // a reconnection: collected again, the hour restarts
		<-s.ready
		<-s.ready
		if got := time.Since(start); got != 90*time.Minute {
			t.Errorf("the next collection after %s, want 1h30m", got)
		}
		s.mu.Lock()
		n := len(s.latest[agentwire.SectionPackages])
		s.mu.Unlock()
		if n != 3 {
			t.Errorf("got %d packages collected, want 3", n)
		}
		cancel()
		<-done
	})
}
