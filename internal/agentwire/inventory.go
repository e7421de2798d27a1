package agentwire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Inventory frames: the agent sends its inventory (Inventory: a full
// snapshot or a diff against the last one the server acknowledged),
// DEFLATE-compressed and cut into parts that each fit a frame; the
// server answers each with an InventoryAck.
const (
	// TypeInventory is one part of an agent's inventory (InventoryPart).
	TypeInventory = "inventory"
	// TypeInventoryAck is the server's answer to a whole inventory
	// (InventoryAck).
	TypeInventoryAck = "inventory_ack"
)

// Bounds of an inventory.
const (
	// InventoryPartBytes bounds one part's compressed bytes (in base64
	// in the frame's JSON, with room to spare in MaxFrame).
	InventoryPartBytes = 40 << 10
	// MaxInventoryParts bounds the parts of one inventory.
	MaxInventoryParts = 64
	// MaxInventoryBytes bounds an inventory's JSON once decompressed.
	MaxInventoryBytes = 16 << 20
	// MaxSectionItems bounds the items of one section (added, changed
	// and removed together).
	MaxSectionItems = 50_000
	// MaxItemValue bounds one field's value (a process's command line
	// is cut to it by the agent).
	MaxItemValue = 4096
)

// Inventory sections.
const (
	SectionOS         = "os"
	SectionPackages   = "packages"
	SectionInterfaces = "interfaces"
	SectionPorts      = "ports"
	SectionUsers      = "users"
	SectionGroups     = "groups"
	SectionProcesses  = "processes"
)

// sectionSchema is each section's fields; the first keyFields of them,
// joined with '/', are an item's key within the section.
var sectionSchema = map[string]struct {
	fields    []string
	keyFields int
}{
	SectionOS:         {[]string{"hostname", "name", "id", "version", "version_id", "ecosystem", "kernel", "arch"}, 0},
	SectionPackages:   {[]string{"name", "arch", "version", "ecosystem", "source", "source_version", "kind", "state"}, 3},
	SectionInterfaces: {[]string{"name", "mac", "mtu", "flags", "addresses"}, 1},
	SectionPorts:      {[]string{"protocol", "address", "port", "pid", "process"}, 3},
	SectionUsers:      {[]string{"name", "uid", "gid", "home", "shell"}, 1},
	SectionGroups:     {[]string{"name", "gid", "members"}, 1},
	SectionProcesses:  {[]string{"pid", "ppid", "name", "user", "cmdline"}, 1},
}

// Sections lists the inventory's sections.
func Sections() []string {
	s := make([]string, 0, len(sectionSchema))
	for k := range sectionSchema {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Item is one thing of a section: a package, a port, a user. Its fields
// are the section's (absent ones are empty).
type Item map[string]string

// ItemKey is the item's key within its section: its key fields joined
// with '/' (the os section holds one item, whose key is empty).
func ItemKey(section string, it Item) string {
	sc := sectionSchema[section]
	var b strings.Builder
	for i, f := range sc.fields[:sc.keyFields] {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(it[f])
	}
	return b.String()
}

// CheckItem checks an item of section: known fields, its first key field
// set,
// each value at most MaxItemValue bytes of UTF-8 without control
// characters.
func CheckItem(section string, it Item) error {
	sc, ok := sectionSchema[section]
	if !ok {
		return fmt.Errorf("unknown section %q", truncate(section, 32))
	}
	for k, v := range it {
		if !slices.Contains(sc.fields, k) {
			return fmt.Errorf("%s: unknown field %q", section, truncate(k, 32))
		}
		if err := checkValue(v); err != nil {
			return fmt.Errorf("%s: %s: %w", section, k, err)
		}
	}
	if sc.keyFields > 0 && it[sc.fields[0]] == "" {
		return fmt.Errorf("%s: an item without %s", section, sc.fields[0])
	}
	return nil
}

func checkValue(v string) error { return checkText(v, MaxItemValue) }

func checkText(v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return errors.New("not UTF-8")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return errors.New("control character")
		}
	}
	return nil
}

// CleanValue makes s a valid field value: invalid UTF-8 and control
// characters become '?', and it is cut to MaxItemValue bytes.
func CleanValue(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	for len(s) > MaxItemValue {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// InventoryState is a whole inventory: section → item key → item.
type InventoryState map[string]map[string]Item

// NewInventoryState makes a state of items by section, keyed; an item
// whose key another already has is dropped (the first one stays).
func NewInventoryState(items map[string][]Item) InventoryState {
	st := InventoryState{}
	for sec, its := range items {
		m := make(map[string]Item, len(its))
		for _, it := range its {
			k := ItemKey(sec, it)
			if _, dup := m[k]; !dup {
				m[k] = it
			}
		}
		st[sec] = m
	}
	return st
}

// Digest is the SHA-256, in hex, of the state's canonical form: sections,
// keys and fields in order, empty sections the same as absent ones.
func (st InventoryState) Digest() string {
	h := sha256.New()
	secs := make([]string, 0, len(st))
	for s, m := range st {
		if len(m) > 0 {
			secs = append(secs, s)
		}
	}
	slices.Sort(secs)
	var fields []string
	for _, s := range secs {
		m := st[s]
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(h, "%s\x00", s)
		for _, k := range keys {
			it := m[k]
			fields = fields[:0]
			for f, v := range it {
				if v != "" {
					fields = append(fields, f)
				}
			}
			slices.Sort(fields)
			fmt.Fprintf(h, "%s\x00", k)
			for _, f := range fields {
				fmt.Fprintf(h, "%s\x00%s\x00", f, it[f])
			}
			h.Write([]byte{1})
		}
		h.Write([]byte{2})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Inventory is what one inventory frame sequence carries: a full
// snapshot (every item is Added) or a diff against the state whose
// digest is Base. Digest is the state's once it is applied.
type Inventory struct {
	Full   bool   `json:"full"`
	Base   string `json:"base,omitempty"`
	Digest string `json:"digest"`
	// Time is when the agent collected it (Unix nanoseconds).
	Time     int64                        `json:"time"`
	Sections map[string]*InventorySection `json:"sections"`
}

// InventorySection is one section's change: items added and changed (in
// full), keys removed.
type InventorySection struct {
	Added   []Item   `json:"added,omitempty"`
	Changed []Item   `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Empty reports whether the inventory changes nothing (a diff from a
// state to itself).
func (inv *Inventory) Empty() bool {
	for _, s := range inv.Sections {
		if len(s.Added)+len(s.Changed)+len(s.Removed) > 0 {
			return false
		}
	}
	return true
}

// Snapshot is the full inventory of st.
func Snapshot(st InventoryState, digest string, at int64) *Inventory {
	inv := &Inventory{Full: true, Digest: digest, Time: at, Sections: map[string]*InventorySection{}}
	for sec, m := range st {
		s := &InventorySection{}
		for _, k := range sortedKeys(m) {
			s.Added = append(s.Added, m[k])
		}
		inv.Sections[sec] = s
	}
	return inv
}

// Diff is the change from old (whose digest is base) to cur.
func Diff(old InventoryState, base string, cur InventoryState, digest string, at int64) *Inventory {
	inv := &Inventory{Base: base, Digest: digest, Time: at, Sections: map[string]*InventorySection{}}
	for _, sec := range Sections() {
		o, n := old[sec], cur[sec]
		s := &InventorySection{}
		for _, k := range sortedKeys(n) {
			prev, ok := o[k]
			switch {
			case !ok:
				s.Added = append(s.Added, n[k])
			case !sameItem(prev, n[k]):
				s.Changed = append(s.Changed, n[k])
			}
		}
		for _, k := range sortedKeys(o) {
			if _, ok := n[k]; !ok {
				s.Removed = append(s.Removed, k)
			}
		}
		if len(s.Added)+len(s.Changed)+len(s.Removed) > 0 {
			inv.Sections[sec] = s
		}
	}
	return inv
}

// Apply applies inv to st: a full inventory replaces it; a diff must fit
// it exactly (what it adds is absent, what it changes or removes is
// there), else ErrInventoryMismatch and st is unchanged.
func (st InventoryState) Apply(inv *Inventory) (InventoryState, error) {
	if inv.Full {
		out := InventoryState{}
		for sec, s := range inv.Sections {
			m := map[string]Item{}
			for _, it := range s.Added {
				m[ItemKey(sec, it)] = it
			}
			out[sec] = m
		}
		return out, nil
	}
	out := make(InventoryState, len(st))
	for sec, m := range st {
		out[sec] = maps(m)
	}
	for sec, s := range inv.Sections {
		m := out[sec]
		if m == nil {
			m = map[string]Item{}
			out[sec] = m
		}
		for _, k := range s.Removed {
			if _, ok := m[k]; !ok {
				return nil, fmt.Errorf("%w: %s: %q removed but absent", ErrInventoryMismatch, sec, truncate(k, 64))
			}
			delete(m, k)
		}
		for _, it := range s.Changed {
			k := ItemKey(sec, it)
			if _, ok := m[k]; !ok {
				return nil, fmt.Errorf("%w: %s: %q changed but absent", ErrInventoryMismatch, sec, truncate(k, 64))
			}
			m[k] = it
		}
		for _, it := range s.Added {
			k := ItemKey(sec, it)
			if _, ok := m[k]; ok {
				return nil, fmt.Errorf("%w: %s: %q added but present", ErrInventoryMismatch, sec, truncate(k, 64))
			}
			m[k] = it
		}
	}
	return out, nil
}

// ErrInventoryMismatch means a diff does not fit the state it is applied
// to: the server asks for a full snapshot.
var ErrInventoryMismatch = errors.New("inventory diff does not fit the stored state")

func maps(m map[string]Item) map[string]Item {
	out := make(map[string]Item, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]Item) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sameItem(a, b Item) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// inventoryParts is MaxInventoryParts; tests lower it.
var inventoryParts = MaxInventoryParts

// InventoryPart is one frame's part of a compressed inventory: parts
// 0 to Parts-1 of inventory ID, sent in order.
type InventoryPart struct {
	ID    uint64 `json:"id"`
	Part  int    `json:"part"`
	Parts int    `json:"parts"`
	Data  []byte `json:"data"`
}

// InventoryAck is the server's answer to inventory ID: stored (Digest is
// the state it now holds), or Full: the diff did not fit what the server
// holds and it wants a full snapshot.
type InventoryAck struct {
	ID     uint64 `json:"id"`
	Digest string `json:"digest,omitempty"`
	Full   bool   `json:"full,omitempty"`
}

func checkInventoryPart(p *InventoryPart) error {
	if p == nil {
		return errors.New("inventory frame without a part")
	}
	if p.ID == 0 || p.ID > MaxSeq {
		return errors.New("inventory: id out of range")
	}
	if p.Parts < 1 || p.Parts > inventoryParts || p.Part < 0 || p.Part >= p.Parts {
		return fmt.Errorf("inventory: part %d of %d: want 1 to %d parts", p.Part, p.Parts, inventoryParts)
	}
	if len(p.Data) == 0 || len(p.Data) > InventoryPartBytes {
		return fmt.Errorf("inventory: part of 1 to %d bytes, got %d", InventoryPartBytes, len(p.Data))
	}
	return nil
}

func checkInventoryAck(a *InventoryAck) error {
	if a == nil || a.ID == 0 || a.ID > MaxSeq {
		return errors.New("inventory_ack frame without an ack")
	}
	if a.Digest != "" && !isDigest(a.Digest) {
		return errors.New("inventory_ack: digest is not SHA-256 hex")
	}
	return nil
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// EncodeInventory compresses inv and cuts it into parts of id.
func EncodeInventory(id uint64, inv *Inventory) ([]*InventoryPart, error) {
	raw, err := json.Marshal(inv)
	if err != nil {
		return nil, fmt.Errorf("encoding the inventory: %w", err)
	}
	if len(raw) > MaxInventoryBytes {
		return nil, fmt.Errorf("inventory: %d bytes, more than %d", len(raw), MaxInventoryBytes)
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("compressing the inventory: %w", err)
	}
	w.Write(raw)
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compressing the inventory: %w", err)
	}
	data := buf.Bytes()
	n := (len(data) + InventoryPartBytes - 1) / InventoryPartBytes
	if n > inventoryParts {
		return nil, fmt.Errorf("inventory: %d bytes compressed, more than %d parts of %d", len(data), inventoryParts, InventoryPartBytes)
	}
	parts := make([]*InventoryPart, 0, n)
	for i := range n {
		parts = append(parts, &InventoryPart{ID: id, Part: i, Parts: n, Data: data[i*InventoryPartBytes : min(len(data), (i+1)*InventoryPartBytes)]})
	}
	return parts, nil
}

// InventoryAssembler gathers the parts of one inventory at a time.
type InventoryAssembler struct {
	id    uint64
	parts int
	data  []byte
}

// Add adds a part (checked by DecodeFrame). It returns the whole
// compressed inventory once its last part came. Parts must come in
// order; a part of a new id drops an unfinished one.
func (a *InventoryAssembler) Add(p *InventoryPart) ([]byte, error) {
	if p.Part == 0 {
		a.id, a.parts, a.data = p.ID, p.Parts, a.data[:0]
	} else if p.ID != a.id || p.Parts != a.parts || p.Part*InventoryPartBytes != len(a.data) {
		a.id, a.data = 0, a.data[:0]
		return nil, fmt.Errorf("inventory %d: part %d of %d out of order", p.ID, p.Part, p.Parts)
	}
	if p.Part < p.Parts-1 && len(p.Data) != InventoryPartBytes {
		a.id, a.data = 0, a.data[:0]
		return nil, fmt.Errorf("inventory %d: part %d of %d: want %d bytes, got %d", p.ID, p.Part, p.Parts, InventoryPartBytes, len(p.Data))
	}
	a.data = append(a.data, p.Data...)
	if p.Part < p.Parts-1 {
		return nil, nil
	}
	out := a.data
	a.id, a.data = 0, nil
	return out, nil
}

// DecodeInventory decompresses and checks an inventory: at most
// MaxInventoryBytes once decompressed (refused as soon as the bound is
// passed), known sections, at most MaxSectionItems items a section, each
// item checked (CheckItem), no key twice in a section, digests of
// SHA-256 hex (Base for a diff only).
func DecodeInventory(data []byte) (*Inventory, error) {
	zr := flate.NewReader(bytes.NewReader(data))
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, MaxInventoryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing the inventory: %w", err)
	}
	if len(raw) > MaxInventoryBytes {
		return nil, fmt.Errorf("inventory: more than %d bytes decompressed", MaxInventoryBytes)
	}
	var inv Inventory
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("decoding the inventory: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding the inventory: more than one value")
	}
	if !isDigest(inv.Digest) {
		return nil, errors.New("inventory: digest is not SHA-256 hex")
	}
	if inv.Full != (inv.Base == "") || !inv.Full && !isDigest(inv.Base) {
		return nil, errors.New("inventory: want a full snapshot without a base or a diff with a SHA-256 hex base")
	}
	if inv.Sections == nil {
		inv.Sections = map[string]*InventorySection{}
	}
	for sec, s := range inv.Sections {
		if _, ok := sectionSchema[sec]; !ok {
			return nil, fmt.Errorf("inventory: unknown section %q", truncate(sec, 32))
		}
		if s == nil {
			s = &InventorySection{}
			inv.Sections[sec] = s
		}
		if n := len(s.Added) + len(s.Changed) + len(s.Removed); n > MaxSectionItems {
			return nil, fmt.Errorf("inventory: %s: %d items, more than %d", sec, n, MaxSectionItems)
		}
		if inv.Full && len(s.Changed)+len(s.Removed) > 0 {
			return nil, fmt.Errorf("inventory: %s: a full snapshot only adds", sec)
		}
		if sec == SectionOS && len(s.Added)+len(s.Changed) > 1 {
			return nil, errors.New("inventory: os: more than one item")
		}
		seen := make(map[string]bool, len(s.Added)+len(s.Changed)+len(s.Removed))
		for _, list := range [][]Item{s.Added, s.Changed} {
			for _, it := range list {
				if err := CheckItem(sec, it); err != nil {
					return nil, fmt.Errorf("inventory: %w", err)
				}
				k := ItemKey(sec, it)
				if seen[k] {
					return nil, fmt.Errorf("inventory: %s: key %q twice", sec, truncate(k, 64))
				}
				seen[k] = true
			}
		}
		for _, k := range s.Removed {
			if err := checkText(k, 3*MaxItemValue+2); err != nil {
				return nil, fmt.Errorf("inventory: %s: removed key: invalid", sec)
			}
			if seen[k] {
				return nil, fmt.Errorf("inventory: %s: key %q twice", sec, truncate(k, 64))
			}
			seen[k] = true
		}
	}
	return &inv, nil
}
