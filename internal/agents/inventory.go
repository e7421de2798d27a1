package agents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
)

// Inventories.
const (
	// MaxInventoriesInFlight bounds the inventories decoded and stored
	// at once over all agents (each up to agentwire.MaxInventoryBytes
	// decompressed); past it an agent's inventory waits for a slot.
	MaxInventoriesInFlight = 4
	// inventoryTimeout bounds the storing of one inventory.
	inventoryTimeout = 30 * time.Second
	// DefaultHistoryLimit and MaxHistoryLimit bound a page of the
	// inventory history.
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// Change kinds of the inventory history.
const (
	ChangeAdded   = "added"
	ChangeChanged = "changed"
	ChangeRemoved = "removed"
)

// inventorySlots holds one token per inventory being decoded and stored
// (MaxInventoriesInFlight, over the process).
var inventorySlots = make(chan struct{}, MaxInventoriesInFlight)

// Package is an OS package of an agent's inventory.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem of the agent's OS (Debian:12,
	// Ubuntu:22.04:LTS, Alpine:v3.19, Red Hat); empty for an OS without
	// one.
	Ecosystem string `json:"ecosystem"`
	Arch      string `json:"arch,omitempty"`
	// Source and SourceVersion are the source package (distribution
	// advisories name them); SourceVersion is empty when it is Version.
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	// Kind is the database: dpkg, apk, rpm.
	Kind string `json:"kind,omitempty"`
	// State is dpkg's state (installed, config-files, ...).
	State string `json:"state,omitempty"`
}

var packageColumns = []string{"name", "arch", "version", "ecosystem", "source", "source_version", "kind", "state"}

// inventoryPart takes one part of an agent's inventory; once the last
// part came, the inventory is decoded, stored and answered.
func (s *Service) inventoryPart(ctx context.Context, c net.Conn, id string, asm *agentwire.InventoryAssembler, p *agentwire.InventoryPart) error {
	data, err := asm.Add(p)
	if err != nil || data == nil {
		return err
	}
	select {
	case inventorySlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-inventorySlots }()
	inv, err := agentwire.DecodeInventory(data)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	ack := &agentwire.InventoryAck{ID: p.ID}
	digest, err := s.StoreInventory(sctx, id, inv)
	switch {
	case errors.Is(err, agentwire.ErrInventoryMismatch):
		s.o.Log.Info("agent inventory diff does not fit: asking for the full inventory", "agent", id, "err", err)
		ack.Full = true
	case err != nil:
		return err
	default:
		ack.Digest = digest
	}
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeInventoryAck, InventoryAck: ack}); err != nil {
		return fmt.Errorf("acknowledging the inventory: %w", err)
	}
	return nil
}

// loadInventory reads an agent's stored inventory and its digest ("":
// none).
func loadInventory(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (agentwire.InventoryState, string, error) {
	var digest string
	err := q.QueryRowContext(ctx, `SELECT digest FROM agent_inventory_state WHERE agent = ?`, id).Scan(&digest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	st := agentwire.InventoryState{}
	rows, err := q.QueryContext(ctx, `SELECT name, arch, version, ecosystem, source, source_version, kind, state FROM agent_packages WHERE agent = ?`, id)
	if err != nil {
		return nil, "", fmt.Errorf("loading agent %s's packages: %w", id, err)
	}
	pkgs := map[string]agentwire.Item{}
	for rows.Next() {
		vals := make([]string, len(packageColumns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("loading agent %s's packages: %w", id, err)
		}
		it := agentwire.Item{}
		for i, c := range packageColumns {
			if vals[i] != "" {
				it[c] = vals[i]
			}
		}
		pkgs[agentwire.ItemKey(agentwire.SectionPackages, it)] = it
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("loading agent %s's packages: %w", id, err)
	}
	st[agentwire.SectionPackages] = pkgs
	rows, err = q.QueryContext(ctx, `SELECT section, item_key, item FROM agent_inventory WHERE agent = ?`, id)
	if err != nil {
		return nil, "", fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec, key, raw string
		if err := rows.Scan(&sec, &key, &raw); err != nil {
			return nil, "", fmt.Errorf("loading agent %s's inventory: %w", id, err)
		}
		var it agentwire.Item
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, "", fmt.Errorf("loading agent %s's inventory: %s %q: %w", id, sec, key, err)
		}
		if st[sec] == nil {
			st[sec] = map[string]agentwire.Item{}
		}
		st[sec][key] = it
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	return st, digest, nil
}

// normalize drops the fields of empty value (the digest ignores them;
// stored items have none).
func normalize(inv *agentwire.Inventory) {
	for _, s := range inv.Sections {
		for _, list := range [][]agentwire.Item{s.Added, s.Changed} {
			for _, it := range list {
				for k, v := range it {
					if v == "" {
						delete(it, k)
					}
				}
			}
		}
	}
}

// StoreInventory applies an agent's inventory, a full snapshot or a diff,
// in one transaction, and records each change in the history (the
// processes' changes excepted: they churn and are kept current only). A
// diff that does not start from the stored inventory, or does not end
// at its digest, changes nothing and returns
// agentwire.ErrInventoryMismatch: the agent then sends the full
// inventory. It returns the digest stored.
func (s *Service) StoreInventory(ctx context.Context, id string, inv *agentwire.Inventory) (string, error) {
	normalize(inv)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM agents WHERE id = ?`, id).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
	}
	var held string
	if err := tx.QueryRowContext(ctx, `SELECT digest FROM agent_inventory_state WHERE agent = ?`, id).Scan(&held); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
	}
	if !inv.Full && inv.Base != held {
		return "", fmt.Errorf("%w: the diff starts from %.12s, the server holds %.12s", agentwire.ErrInventoryMismatch, inv.Base, held)
	}
	if !inv.Full && inv.Empty() {
		// The check at each connection: nothing to load or write.
		if inv.Digest != held {
			return "", fmt.Errorf("%w: an empty diff from %.12s to %.12s", agentwire.ErrInventoryMismatch, held, inv.Digest)
		}
		return held, nil
	}
	old, digest, err := loadInventory(ctx, tx, id)
	if err != nil {
		return "", err
	}
	cur, err := old.Apply(inv)
	if err != nil {
		return "", err
	}
	if d := cur.Digest(); d != inv.Digest {
		if inv.Full {
			return "", fmt.Errorf("agent %s's inventory: its digest %.12s is not that of its items, %.12s", id, inv.Digest, d)
		}
		return "", fmt.Errorf("%w: the diff ends at %.12s, not at %.12s", agentwire.ErrInventoryMismatch, d, inv.Digest)
	}
	now := s.o.Now().UnixNano()
	changes := agentwire.Diff(old, digest, cur, inv.Digest, inv.Time)
	for _, sec := range agentwire.Sections() {
		ch := changes.Sections[sec]
		if ch == nil {
			continue
		}
		record := func(kind string, key string, it agentwire.Item) error {
			if sec == agentwire.SectionProcesses {
				return nil
			}
			raw, _ := json.Marshal(it)
			_, err := tx.ExecContext(ctx, `INSERT INTO agent_inventory_history (agent, time, section, change, item_key, item) VALUES (?, ?, ?, ?, ?, ?)`,
				id, now, sec, kind, key, string(raw))
			return err
		}
		for _, k := range ch.Removed {
			it := old[sec][k]
			if sec == agentwire.SectionPackages {
				_, err = tx.ExecContext(ctx, `DELETE FROM agent_packages WHERE agent = ? AND name = ? AND arch = ? AND version = ?`, id, it["name"], it["arch"], it["version"])
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM agent_inventory WHERE agent = ? AND section = ? AND item_key = ?`, id, sec, k)
			}
			if err == nil {
				err = record(ChangeRemoved, k, it)
			}
			if err != nil {
				return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
			}
		}
		for kind, list := range map[string][]agentwire.Item{ChangeAdded: ch.Added, ChangeChanged: ch.Changed} {
			for _, it := range list {
				k := agentwire.ItemKey(sec, it)
				if sec == agentwire.SectionPackages {
					_, err = tx.ExecContext(ctx, `INSERT INTO agent_packages (agent, name, arch, version, ecosystem, source, source_version, kind, state)
						VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
						ON CONFLICT (agent, name, arch, version) DO UPDATE SET ecosystem = excluded.ecosystem, source = excluded.source,
						source_version = excluded.source_version, kind = excluded.kind, state = excluded.state`,
						id, it["name"], it["arch"], it["version"], it["ecosystem"], it["source"], it["source_version"], it["kind"], it["state"])
				} else {
					raw, _ := json.Marshal(it)
					_, err = tx.ExecContext(ctx, `INSERT INTO agent_inventory (agent, section, item_key, item) VALUES (?, ?, ?, ?)
						ON CONFLICT (agent, section, item_key) DO UPDATE SET item = excluded.item`, id, sec, k, string(raw))
				}
				if err == nil {
					err = record(kind, k, it)
				}
				if err != nil {
					return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_inventory_state (agent, digest, collected, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (agent) DO UPDATE SET digest = excluded.digest, collected = excluded.collected, updated = excluded.updated`,
		id, inv.Digest, inv.Time, now); err != nil {
		return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("storing agent %s's inventory: %w", id, err)
	}
	return inv.Digest, nil
}

// exists returns ErrNotFound when no agent has the id.
func (s *Service) exists(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM agents WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("loading agent %s: %w", id, err)
	}
	return nil
}

// Packages returns the OS packages of an agent's last inventory, by
// name, architecture and version (none before its first inventory;
// ErrNotFound for an unknown agent).
func (s *Service) Packages(ctx context.Context, id string) ([]Package, error) {
	if err := s.exists(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, arch, version, ecosystem, source, source_version, kind, state FROM agent_packages
		WHERE agent = ? ORDER BY name, arch, version`, id)
	if err != nil {
		return nil, fmt.Errorf("listing agent %s's packages: %w", id, err)
	}
	defer rows.Close()
	out := []Package{}
	for rows.Next() {
		var p Package
		if err := rows.Scan(&p.Name, &p.Arch, &p.Version, &p.Ecosystem, &p.Source, &p.SourceVersion, &p.Kind, &p.State); err != nil {
			return nil, fmt.Errorf("listing agent %s's packages: %w", id, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing agent %s's packages: %w", id, err)
	}
	return out, nil
}

// AgentsWithPackages returns the ids of the agents whose inventory holds
// packages, in order.
func (s *Service) AgentsWithPackages(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT agent FROM agent_packages ORDER BY agent`)
	if err != nil {
		return nil, fmt.Errorf("listing agents with packages: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("listing agents with packages: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Inventory is an agent's last inventory but its packages.
type Inventory struct {
	// Collected is when the agent collected it, Updated when the server
	// stored it (nil before the first inventory).
	Collected  *time.Time       `json:"collected"`
	Updated    *time.Time       `json:"updated"`
	Digest     string           `json:"digest,omitempty"`
	OS         agentwire.Item   `json:"os"`
	Interfaces []agentwire.Item `json:"interfaces"`
	Ports      []agentwire.Item `json:"ports"`
	Users      []agentwire.Item `json:"users"`
	Groups     []agentwire.Item `json:"groups"`
	Processes  []agentwire.Item `json:"processes"`
}

// Inventory returns an agent's last inventory but its packages
// (ErrNotFound for an unknown agent).
func (s *Service) Inventory(ctx context.Context, id string) (*Inventory, error) {
	if err := s.exists(ctx, id); err != nil {
		return nil, err
	}
	inv := &Inventory{Interfaces: []agentwire.Item{}, Ports: []agentwire.Item{}, Users: []agentwire.Item{}, Groups: []agentwire.Item{}, Processes: []agentwire.Item{}}
	var collected, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT digest, collected, updated FROM agent_inventory_state WHERE agent = ?`, id).Scan(&inv.Digest, &collected, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	c, u := time.Unix(0, collected).UTC(), time.Unix(0, updated).UTC()
	inv.Collected, inv.Updated = &c, &u
	sections := map[string]*[]agentwire.Item{agentwire.SectionInterfaces: &inv.Interfaces, agentwire.SectionPorts: &inv.Ports,
		agentwire.SectionUsers: &inv.Users, agentwire.SectionGroups: &inv.Groups, agentwire.SectionProcesses: &inv.Processes}
	rows, err := s.db.QueryContext(ctx, `SELECT section, item FROM agent_inventory WHERE agent = ? ORDER BY section, item_key`, id)
	if err != nil {
		return nil, fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec, raw string
		if err := rows.Scan(&sec, &raw); err != nil {
			return nil, fmt.Errorf("loading agent %s's inventory: %w", id, err)
		}
		var it agentwire.Item
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, fmt.Errorf("loading agent %s's inventory: %w", id, err)
		}
		if sec == agentwire.SectionOS {
			inv.OS = it
		} else if p := sections[sec]; p != nil {
			*p = append(*p, it)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading agent %s's inventory: %w", id, err)
	}
	// Numeric keys (pids, ports) in number order.
	slices.SortStableFunc(inv.Processes, func(a, b agentwire.Item) int { return cmpNum(a["pid"], b["pid"]) })
	slices.SortStableFunc(inv.Ports, func(a, b agentwire.Item) int { return cmpNum(a["port"], b["port"]) })
	return inv, nil
}

func cmpNum(a, b string) int {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return int(min(max(x-y, -1), 1))
}

// Change is one entry of an agent's inventory history.
type Change struct {
	ID      int64          `json:"id"`
	Time    time.Time      `json:"time"`
	Section string         `json:"section"`
	Change  string         `json:"change"`
	Key     string         `json:"key"`
	Item    agentwire.Item `json:"item"`
}

// History returns an agent's inventory changes, newest first: at most
// limit (1 to MaxHistoryLimit) of them, of section (all when empty),
// before the change of id before (0: from the newest).
func (s *Service) History(ctx context.Context, id, section string, before int64, limit int) ([]Change, error) {
	if err := s.exists(ctx, id); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, fmt.Errorf("limit: want 1 to %d, got %d", MaxHistoryLimit, limit)
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, section, change, item_key, item FROM agent_inventory_history
		WHERE agent = ? AND id < ? AND (? = '' OR section = ?) ORDER BY id DESC LIMIT ?`, id, before, section, section, limit)
	if err != nil {
		return nil, fmt.Errorf("loading agent %s's inventory history: %w", id, err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		var c Change
		var at int64
		var raw string
		if err := rows.Scan(&c.ID, &at, &c.Section, &c.Change, &c.Key, &raw); err != nil {
			return nil, fmt.Errorf("loading agent %s's inventory history: %w", id, err)
		}
		c.Time = time.Unix(0, at).UTC()
		if err := json.Unmarshal([]byte(raw), &c.Item); err != nil {
			return nil, fmt.Errorf("loading agent %s's inventory history: %w", id, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// The inventory's API handlers (Register mounts them, read permission).

func (h *handlers) agentID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !agentwire.IsAgentID(id) {
		writeError(w, http.StatusNotFound, ErrNotFound.Error())
		return "", false
	}
	return id, true
}

func (h *handlers) inventoryError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	h.s.o.Log.Error("reading an agent's inventory", "err", err)
	writeError(w, http.StatusInternalServerError, "reading the inventory failed")
}

func (h *handlers) packages(w http.ResponseWriter, r *http.Request) {
	id, ok := h.agentID(w, r)
	if !ok {
		return
	}
	pkgs, err := h.s.Packages(r.Context(), id)
	if err != nil {
		h.inventoryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"packages": pkgs})
}

func (h *handlers) inventory(w http.ResponseWriter, r *http.Request) {
	id, ok := h.agentID(w, r)
	if !ok {
		return
	}
	inv, err := h.s.Inventory(r.Context(), id)
	if err != nil {
		h.inventoryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (h *handlers) history(w http.ResponseWriter, r *http.Request) {
	id, ok := h.agentID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	section := q.Get("section")
	if section != "" && !slices.Contains(agentwire.Sections(), section) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("section: want one of %v", agentwire.Sections()))
		return
	}
	limit := DefaultHistoryLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", MaxHistoryLimit))
			return
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "before: want the id of a change")
			return
		}
		before = n
	}
	changes, err := h.s.History(r.Context(), id, section, before, limit)
	if err != nil {
		h.inventoryError(w, err)
		return
	}
	out := map[string]any{"changes": changes}
	if len(changes) == limit {
		out["next"] = changes[len(changes)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}
