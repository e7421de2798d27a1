package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/agent/inventory"
	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/atomicfile"
)

// Inventory schedule: collected when the agent starts, then every
// interval; sent when it changed.
const (
	DefaultInventoryInterval = time.Hour
	MinInventoryInterval     = time.Minute
)

// inventoryFile keeps, in the data directory, the last inventory the
// server acknowledged and its digest: the next one is sent as a diff
// against it, also after a restart.
const inventoryFile = "inventory.json"

// savedInventory is inventoryFile's content.
type savedInventory struct {
	Digest string                      `json:"digest"`
	Items  map[string][]agentwire.Item `json:"items"`
}

// inventorySync sends the inventory: the collector goroutine publishes
// each collection; the connection's goroutine (one at a time) sends it,
// a diff against the last acknowledged one, or the full snapshot the
// first time or when the server asks for it.
type inventorySync struct {
	dir string
	log *slog.Logger
	// onAck, if set, is called with each digest the server acknowledged
	// (tests).
	onAck func(digest string)

	mu           sync.Mutex
	latest       agentwire.InventoryState // the last collection
	latestDigest string
	latestTime   int64
	ready        chan struct{} // signalled after each collection
	now          chan struct{} // signalled at each connection: collect now

	// Used by the connection's goroutine alone.
	base       agentwire.InventoryState // acknowledged by the server
	baseDigest string
	nextID     uint64
	synced     bool // the server holds base on this connection
	flight     *inventoryFlight
}

// inventoryFlight is an inventory sent, not yet acknowledged.
type inventoryFlight struct {
	id     uint64
	state  agentwire.InventoryState
	digest string
	time   int64
	full   bool
}

// newInventorySync loads the last acknowledged inventory from dir (a
// missing or damaged file means a full snapshot next).
func newInventorySync(dir string, log *slog.Logger, onAck func(string)) *inventorySync {
	s := &inventorySync{dir: dir, log: log, onAck: onAck, ready: make(chan struct{}, 1), now: make(chan struct{}, 1)}
	b, err := os.ReadFile(filepath.Join(dir, inventoryFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("reading the last inventory sent: sending a full one", "err", err)
		}
		return s
	}
	var saved savedInventory
	if err := json.Unmarshal(b, &saved); err != nil {
		log.Warn("reading the last inventory sent: sending a full one", "err", err)
		return s
	}
	st := agentwire.NewInventoryState(saved.Items)
	if st.Digest() != saved.Digest {
		log.Warn("the last inventory sent does not match its digest: sending a full one")
		return s
	}
	s.base, s.baseDigest = st, saved.Digest
	return s
}

// collect collects the inventory at each connection and every interval
// after the last collection, until ctx ends.
func (s *inventorySync) collect(ctx context.Context, interval time.Duration, o inventory.Options) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.now:
		case <-t.C:
		}
		items, warn, err := inventory.Collect(ctx, o)
		if err != nil {
			return // ctx ended
		}
		for _, w := range warn {
			s.log.Warn("inventory", "warning", w)
		}
		st := agentwire.NewInventoryState(items)
		s.mu.Lock()
		s.latest, s.latestDigest, s.latestTime = st, st.Digest(), time.Now().UnixNano()
		s.mu.Unlock()
		select {
		case s.ready <- struct{}{}:
		default:
		}
		t.Reset(interval)
	}
}

// connected starts a connection: the inventory is collected again, and
// the first one sent on it is checked against what the server holds.
func (s *inventorySync) connected() {
	s.synced, s.flight = false, nil
	select {
	case s.now <- struct{}{}:
	default:
	}
}

// send sends the latest collection if the server may not hold it: a
// diff against the acknowledged one (an empty diff checks that the
// server still holds it), or the full snapshot when there is none.
func (s *inventorySync) send(c net.Conn) error {
	if s.flight != nil {
		return nil // sent again once the flight is answered
	}
	s.mu.Lock()
	st, digest, at := s.latest, s.latestDigest, s.latestTime
	s.mu.Unlock()
	if st == nil || s.synced && digest == s.baseDigest {
		return nil
	}
	return s.sendState(c, st, digest, at, s.base == nil)
}

func (s *inventorySync) sendState(c net.Conn, st agentwire.InventoryState, digest string, at int64, full bool) error {
	var inv *agentwire.Inventory
	if full {
		inv = agentwire.Snapshot(st, digest, at)
	} else {
		inv = agentwire.Diff(s.base, s.baseDigest, st, digest, at)
	}
	s.nextID++
	parts, err := agentwire.EncodeInventory(s.nextID, inv)
	if err != nil {
		return err
	}
	for _, p := range parts {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeInventory, Inventory: p}); err != nil {
			return fmt.Errorf("sending the inventory: %w", err)
		}
	}
	s.flight = &inventoryFlight{id: s.nextID, state: st, digest: digest, time: at, full: full}
	return nil
}

// ack handles the server's answer: the inventory is the new base, or the
// server wants the full snapshot.
func (s *inventorySync) ack(c net.Conn, a *agentwire.InventoryAck) error {
	f := s.flight
	if f == nil || a.ID != f.id {
		return nil
	}
	s.flight = nil
	if a.Full || a.Digest != f.digest {
		if f.full {
			return fmt.Errorf("the server refused a full inventory (digest %q, want %q)", a.Digest, f.digest)
		}
		s.log.Info("the server asked for the full inventory")
		s.base, s.baseDigest = nil, ""
		return s.sendState(c, f.state, f.digest, f.time, true)
	}
	s.base, s.baseDigest, s.synced = f.state, f.digest, true
	saved := savedInventory{Digest: f.digest, Items: map[string][]agentwire.Item{}}
	for sec, m := range f.state {
		for _, it := range m {
			saved.Items[sec] = append(saved.Items[sec], it)
		}
	}
	b, err := json.Marshal(saved)
	if err != nil {
		return fmt.Errorf("saving the inventory: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, inventoryFile), b, 0o600); err != nil {
		// The server holds it: the next diff goes from there; a
		// restart sends a diff from the older file, which the server
		// answers by asking for the full inventory.
		s.log.Warn("saving the inventory", "err", err)
	}
	if s.onAck != nil {
		s.onAck(f.digest)
	}
	// Collected again while this one flew.
	return s.send(c)
}
