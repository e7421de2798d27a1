package agents

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// enrolled returns a service with one enrolled agent.
func enrolled(t *testing.T) (*Service, string) {
	t.Helper()
	ctx := context.Background()
	s, _, _ := newService(t)
	tok, _, err := s.CreateToken(ctx, "t", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Enroll(ctx, newHost(t, "m1", "web").request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	return s, res.AgentID
}

func invState() agentwire.InventoryState {
	return agentwire.NewInventoryState(map[string][]agentwire.Item{
		agentwire.SectionOS: {{"hostname": "web", "name": "Debian GNU/Linux 12 (bookworm)", "ecosystem": "Debian:12"}},
		agentwire.SectionPackages: {
			{"name": "bash", "arch": "amd64", "version": "5.2.15-2+b2", "ecosystem": "Debian:12", "kind": "dpkg", "state": "installed"},
			{"name": "libssl3", "arch": "amd64", "version": "3.0.11-1~deb12u2", "ecosystem": "Debian:12", "source": "openssl", "kind": "dpkg", "state": "installed"},
		},
		agentwire.SectionPorts:     {{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "812", "process": "sshd"}},
		agentwire.SectionUsers:     {{"name": "root", "uid": "0"}},
		agentwire.SectionProcesses: {{"pid": "812", "name": "sshd"}, {"pid": "1", "name": "init"}},
	})
}

func TestStoreInventory(t *testing.T) { metatest.Engines(t, testStoreInventory) }

func testStoreInventory(t *testing.T) {
	ctx := context.Background()
	s, id := enrolled(t)
	st := invState()
	d1 := st.Digest()
	got, err := s.StoreInventory(ctx, id, agentwire.Snapshot(st, d1, 1))
	if err != nil || got != d1 {
		t.Fatalf("full inventory: got %q, %v; want %q", got, err, d1)
	}
	pkgs, err := s.Packages(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "bash", Version: "5.2.15-2+b2", Ecosystem: "Debian:12", Arch: "amd64", Kind: "dpkg", State: "installed"},
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", Arch: "amd64", Source: "openssl", Kind: "dpkg", State: "installed"},
	}
	if diff := cmp.Diff(want, pkgs); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if ids, err := s.AgentsWithPackages(ctx); err != nil || !cmp.Equal(ids, []string{id}) {
		t.Errorf("AgentsWithPackages: got %v, %v; want [%s]", ids, err, id)
	}

	// A diff: bash upgraded, sshd's pid changed, a user added, a
	// process gone.
	cur := invState()
	delete(cur[agentwire.SectionPackages], "bash/amd64/5.2.15-2+b2")
	cur[agentwire.SectionPackages]["bash/amd64/5.2.15-3"] = agentwire.Item{"name": "bash", "arch": "amd64", "version": "5.2.15-3", "ecosystem": "Debian:12"}
	cur[agentwire.SectionPorts]["tcp/0.0.0.0/22"] = agentwire.Item{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "900", "process": "sshd"}
	cur[agentwire.SectionUsers]["alice"] = agentwire.Item{"name": "alice", "uid": "1000"}
	delete(cur[agentwire.SectionProcesses], "1")
	d2 := cur.Digest()
	if got, err := s.StoreInventory(ctx, id, agentwire.Diff(st, d1, cur, d2, 2)); err != nil || got != d2 {
		t.Fatalf("diff: got %q, %v; want %q", got, err, d2)
	}
	inv, err := s.Inventory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Digest != d2 || inv.OS["ecosystem"] != "Debian:12" || len(inv.Users) != 2 || len(inv.Processes) != 1 || inv.Ports[0]["pid"] != "900" {
		t.Errorf("inventory after the diff: got %+v", inv)
	}
	hist, err := s.History(ctx, id, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot's 5 items (the processes are not in the history),
	// then 4 changes.
	if len(hist) != 9 {
		t.Fatalf("history: got %d changes, want 9: %+v", len(hist), hist)
	}
	var recent []string
	for _, c := range hist[:4] {
		recent = append(recent, c.Section+" "+c.Change+" "+c.Key)
	}
	wantRecent := []string{"users added alice", "ports changed tcp/0.0.0.0/22", "packages added bash/amd64/5.2.15-3", "packages removed bash/amd64/5.2.15-2+b2"}
	if diff := cmp.Diff(wantRecent, recent); diff != "" {
		t.Errorf("recent history (-want +got):\n%s", diff)
	}
	if page, _ := s.History(ctx, id, agentwire.SectionPackages, hist[2].ID, 1); len(page) != 1 || page[0].Key != "bash/amd64/5.2.15-2+b2" {
		t.Errorf("history page of packages before %d: got %+v", hist[2].ID, page)
	}

	// Diffs that do not fit change nothing and ask for the full one.
	wrongBase := agentwire.Diff(st, d1, cur, d2, 3)
	if _, err := s.StoreInventory(ctx, id, wrongBase); !errors.Is(err, agentwire.ErrInventoryMismatch) {
		t.Errorf("a diff from an older base: got %v, want ErrInventoryMismatch", err)
	}
	lying := agentwire.Diff(cur, d2, cur, d1, 3) // empty, but claims another end
	if _, err := s.StoreInventory(ctx, id, lying); !errors.Is(err, agentwire.ErrInventoryMismatch) {
		t.Errorf("a diff ending elsewhere than it says: got %v, want ErrInventoryMismatch", err)
	}
	misfit := &agentwire.Inventory{Base: d2, Digest: d2, Sections: map[string]*agentwire.InventorySection{
		agentwire.SectionUsers: {Removed: []string{"nobody"}}}}
	if _, err := s.StoreInventory(ctx, id, misfit); !errors.Is(err, agentwire.ErrInventoryMismatch) {
		t.Errorf("a diff removing what is absent: got %v, want ErrInventoryMismatch", err)
	}
	badFull := agentwire.Snapshot(cur, d1, 4)
	if _, err := s.StoreInventory(ctx, id, badFull); err == nil || errors.Is(err, agentwire.ErrInventoryMismatch) {
		t.Errorf("a full inventory with a wrong digest: got %v, want a refusal", err)
	}
	if inv, _ := s.Inventory(ctx, id); inv.Digest != d2 {
		t.Errorf("after refused inventories: digest %s, want %s", inv.Digest, d2)
	}
	if hist2, _ := s.History(ctx, id, "", 0, 100); len(hist2) != 9 {
		t.Errorf("after refused inventories: %d changes, want 9", len(hist2))
	}
	// An unchanged inventory (an empty diff) records nothing.
	if _, err := s.StoreInventory(ctx, id, agentwire.Diff(cur, d2, cur, d2, 5)); err != nil {
		t.Errorf("an empty diff: %v", err)
	}
	// A full inventory after all replaces it.
	if _, err := s.StoreInventory(ctx, id, agentwire.Snapshot(st, d1, 6)); err != nil {
		t.Fatal(err)
	}
	if pkgs, _ := s.Packages(ctx, id); len(pkgs) != 2 || pkgs[0].Version != "5.2.15-2+b2" {
		t.Errorf("after a full inventory: got %+v", pkgs)
	}

	if _, err := s.Packages(ctx, strings.Repeat("0", 32)); !errors.Is(err, ErrNotFound) {
		t.Errorf("packages of an unknown agent: got %v, want ErrNotFound", err)
	}
	if _, err := s.StoreInventory(ctx, strings.Repeat("0", 32), agentwire.Snapshot(st, d1, 1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("inventory of an unknown agent: got %v, want ErrNotFound", err)
	}
}

func TestInventoryAPI(t *testing.T) {
	ctx := context.Background()
	s, id := enrolled(t)
	st := invState()
	if _, err := s.StoreInventory(ctx, id, agentwire.Snapshot(st, st.Digest(), time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	hs, _ := testAPI(t, s)
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := get("/api/v1/agents/" + id + "/packages")
	var pkgs struct {
		Packages []map[string]string `json:"packages"`
	}
	if err := json.Unmarshal(b, &pkgs); code != 200 || err != nil || len(pkgs.Packages) != 2 {
		t.Fatalf("packages: HTTP %d, %v: %s", code, err, b)
	}
	if p := pkgs.Packages[1]; p["name"] != "libssl3" || p["version"] != "3.0.11-1~deb12u2" || p["ecosystem"] != "Debian:12" || p["source"] != "openssl" {
		t.Errorf("package: got %v", p)
	}
	code, b = get("/api/v1/agents/" + id + "/inventory")
	var inv Inventory
	if err := json.Unmarshal(b, &inv); code != 200 || err != nil || inv.OS["hostname"] != "web" || len(inv.Ports) != 1 || inv.Processes[0]["pid"] != "1" {
		t.Errorf("inventory: HTTP %d, %v: %s", code, err, b)
	}
	code, b = get("/api/v1/agents/" + id + "/inventory/history?section=packages&limit=1")
	var h struct {
		Changes []Change `json:"changes"`
		Next    int64    `json:"next"`
	}
	if err := json.Unmarshal(b, &h); code != 200 || err != nil || len(h.Changes) != 1 || h.Next == 0 || h.Changes[0].Change != ChangeAdded {
		t.Errorf("history: HTTP %d, %v: %s", code, err, b)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/agents/" + strings.Repeat("0", 32) + "/packages", 404},
		{"/api/v1/agents/nope/packages", 404},
		{"/api/v1/agents/" + strings.Repeat("0", 32) + "/inventory", 404},
		{"/api/v1/agents/" + id + "/inventory/history?section=secrets", 400},
		{"/api/v1/agents/" + id + "/inventory/history?limit=0", 400},
		{"/api/v1/agents/" + id + "/inventory/history?limit=1001", 400},
		{"/api/v1/agents/" + id + "/inventory/history?limit=1000", 200},
		{"/api/v1/agents/" + id + "/inventory/history?before=x", 400},
	} {
		if code, b := get(tc.path); code != tc.want {
			t.Errorf("GET %s: got HTTP %d, want %d: %s", tc.path, code, tc.want, b)
		}
	}
	// Before any inventory: empty lists, not errors.
	s2, id2 := enrolled(t)
	hs2, _ := testAPI(t, s2)
	resp, err := http.Get(hs2.URL + "/api/v1/agents/" + id2 + "/packages")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"packages":[]}` {
		t.Errorf("packages before an inventory: HTTP %d %s", resp.StatusCode, b)
	}
}

// TestInventoryConnection: inventories over a real agent connection — a
// full one stored and acknowledged with its digest, a diff that does not
// fit answered "full", and malformed parts closing the connection.
func TestInventoryConnection(t *testing.T) { metatest.Engines(t, testInventoryConnection) }

func testInventoryConnection(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, _, _ := s.CreateToken(ctx, "t", time.Hour, 1)
	h := newHost(t, "m1", "web")
	res, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.CA))
	pair := keyPair(t, res, h)
	dial := func() *tls.Conn {
		t.Helper()
		c, err := dialAgent(t, l.Addr().String(), pool, pair, accepted)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c *tls.Conn, parts ...*agentwire.InventoryPart) (*agentwire.InventoryAck, error) {
		t.Helper()
		for _, p := range parts {
			if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeInventory, Inventory: p}); err != nil {
				return nil, err
			}
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := agentwire.ReadFrame(c, 0)
		if err != nil {
			return nil, err
		}
		if f.Type != agentwire.TypeInventoryAck {
			t.Fatalf("got a %s frame, want inventory_ack", f.Type)
		}
		return f.InventoryAck, nil
	}
	encode := func(id uint64, inv *agentwire.Inventory) []*agentwire.InventoryPart {
		t.Helper()
		parts, err := agentwire.EncodeInventory(id, inv)
		if err != nil {
			t.Fatal(err)
		}
		return parts
	}
	c := dial()
	st := invState()
	d := st.Digest()
	ack, err := send(c, encode(1, agentwire.Snapshot(st, d, 1))...)
	if err != nil || ack.ID != 1 || ack.Digest != d || ack.Full {
		t.Fatalf("full inventory: got %+v, %v; want digest %s", ack, err, d)
	}
	if pkgs, _ := s.Packages(ctx, res.AgentID); len(pkgs) != 2 {
		t.Errorf("got %d packages stored, want 2", len(pkgs))
	}
	other := strings.Repeat("f", 64)
	ack, err = send(c, encode(2, agentwire.Diff(nil, other, st, d, 2))...)
	if err != nil || ack.ID != 2 || !ack.Full || ack.Digest != "" {
		t.Errorf("a diff from a base the server does not hold: got %+v, %v; want full", ack, err)
	}
	// Malformed: each closes the connection.
	for name, p := range map[string]*agentwire.InventoryPart{
		"out of order": {ID: 3, Part: 1, Parts: 2, Data: []byte{1}},
		"not DEFLATE":  {ID: 4, Part: 0, Parts: 1, Data: []byte("this is not deflate")},
		"bad JSON":     encode(5, &agentwire.Inventory{Full: true, Digest: "x"})[0],
	} {
		t.Run(name, func(t *testing.T) {
			c := dial()
			if ack, err := send(c, p); err == nil {
				t.Errorf("got %+v, want the connection closed", ack)
			}
		})
	}
	// What was stored stays.
	if inv, _ := s.Inventory(ctx, res.AgentID); inv.Digest != d {
		t.Errorf("digest after refusals: got %s, want %s", inv.Digest, d)
	}
}
