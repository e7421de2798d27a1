package agentwire

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleState() InventoryState {
	return NewInventoryState(map[string][]Item{
		SectionOS:       {{"hostname": "web-1", "name": "Debian GNU/Linux", "version_id": "12", "kernel": "6.1.0"}},
		SectionPackages: {{"name": "bash", "arch": "amd64", "version": "5.2-2", "ecosystem": "Debian:12", "kind": "dpkg"}, {"name": "libssl3", "arch": "amd64", "version": "3.0.11-1", "source": "openssl", "ecosystem": "Debian:12"}},
		SectionPorts:    {{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "812", "process": "sshd"}},
		SectionUsers:    {{"name": "root", "uid": "0", "gid": "0", "home": "/root", "shell": "/bin/bash"}},
	})
}

// encodeDecode sends inv through EncodeInventory, the assembler and
// DecodeInventory.
func encodeDecode(t *testing.T, inv *Inventory) *Inventory {
	t.Helper()
	parts, err := EncodeInventory(7, inv)
	if err != nil {
		t.Fatal(err)
	}
	var a InventoryAssembler
	var data []byte
	for i, p := range parts {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, &Frame{Type: TypeInventory, Inventory: p}); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		f, err := ReadFrame(&buf, MaxFrame)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if data, err = a.Add(f.Inventory); err != nil {
			t.Fatal(err)
		}
		if (data != nil) != (i == len(parts)-1) {
			t.Fatalf("part %d of %d: got whole %v", i, len(parts), data != nil)
		}
	}
	got, err := DecodeInventory(data)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestInventoryDiffApply(t *testing.T) {
	old := sampleState()
	base := old.Digest()
	cur := sampleState()
	cur[SectionPackages]["bash/amd64/5.2-2"] = nil
	delete(cur[SectionPackages], "bash/amd64/5.2-2")
	cur[SectionPackages]["bash/amd64/5.2-3"] = Item{"name": "bash", "arch": "amd64", "version": "5.2-3", "ecosystem": "Debian:12"}
	cur[SectionPorts]["tcp/0.0.0.0/22"] = Item{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "900", "process": "sshd"}
	delete(cur, SectionUsers)
	cur[SectionGroups] = map[string]Item{"adm": {"name": "adm", "gid": "4", "members": "syslog"}}
	digest := cur.Digest()
	if digest == base {
		t.Fatal("the digest did not change")
	}

	d := Diff(old, base, cur, digest, 1)
	want := map[string]*InventorySection{
		SectionPackages: {Added: []Item{{"name": "bash", "arch": "amd64", "version": "5.2-3", "ecosystem": "Debian:12"}}, Removed: []string{"bash/amd64/5.2-2"}},
		SectionPorts:    {Changed: []Item{{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "900", "process": "sshd"}}},
		SectionUsers:    {Removed: []string{"root"}},
		SectionGroups:   {Added: []Item{{"name": "adm", "gid": "4", "members": "syslog"}}},
	}
	if diff := cmp.Diff(want, d.Sections); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	got := encodeDecode(t, d)
	applied, err := old.Apply(got)
	if err != nil {
		t.Fatal(err)
	}
	if g := applied.Digest(); g != digest {
		t.Errorf("digest after Apply: got %s, want %s", g, digest)
	}
	if old.Digest() != base {
		t.Error("Apply changed the state it was given")
	}
	// Applied twice: it no longer fits.
	if _, err := applied.Apply(got); !errors.Is(err, ErrInventoryMismatch) {
		t.Errorf("a diff applied twice: got %v, want ErrInventoryMismatch", err)
	}
	if e := Diff(cur, digest, cur, digest, 2); !e.Empty() {
		t.Errorf("a diff of a state to itself: got %+v, want empty", e.Sections)
	}
	full := encodeDecode(t, Snapshot(cur, digest, 3))
	st, err := InventoryState(nil).Apply(full)
	if err != nil || st.Digest() != digest {
		t.Errorf("a snapshot applied: got %v, digest %s; want %s", err, st.Digest(), digest)
	}
}

func TestInventoryParts(t *testing.T) {
	// Incompressible values: several parts.
	var pkgs []Item
	for i := range 3000 {
		pkgs = append(pkgs, Item{"name": fmt.Sprintf("p%d-%x", i, uint64(i)*0x9e3779b97f4a7c15), "arch": "amd64", "version": fmt.Sprintf("%x", uint64(i+1)*0xbf58476d1ce4e5b9)})
	}
	st := NewInventoryState(map[string][]Item{SectionPackages: pkgs})
	inv := Snapshot(st, st.Digest(), 1)
	parts, err := EncodeInventory(1, inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 {
		t.Fatalf("got %d parts, want several", len(parts))
	}
	got := encodeDecode(t, inv)
	if n := len(got.Sections[SectionPackages].Added); n != 3000 {
		t.Errorf("got %d packages, want 3000", n)
	}

	var a InventoryAssembler
	if _, err := a.Add(parts[1]); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("a second part first: got %v, want out of order", err)
	}
	a.Add(parts[0])
	short := *parts[1]
	short.Part = 1
	short.Data = short.Data[:10]
	if len(parts) > 2 {
		if _, err := a.Add(&short); err == nil {
			t.Error("a short middle part: got no error")
		}
	}
}

func deflateBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestDecodeInventoryBounds(t *testing.T) {
	d := strings.Repeat("a", 64)
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":"u%d"}`, i)
		}
		return b.String()
	}
	tests := []struct{ name, json, want string }{
		{"ok", `{"full":true,"digest":"` + d + `","time":1,"sections":{"users":{"added":[{"name":"root"}]}}}`, ""},
		{"bad digest", `{"full":true,"digest":"x","sections":{}}`, "digest is not SHA-256 hex"},
		{"diff without base", `{"full":false,"digest":"` + d + `","sections":{}}`, "want a full snapshot without a base"},
		{"unknown section", `{"full":true,"digest":"` + d + `","sections":{"secrets":{}}}`, `unknown section "secrets"`},
		{"unknown field", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[{"name":"a","password":"x"}]}}}`, `unknown field "password"`},
		{"no key", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[{"uid":"0"}]}}}`, "an item without name"},
		{"control", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[{"name":"a\u001b[31m"}]}}}`, "control character"},
		{"long value", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[{"name":"` + strings.Repeat("a", MaxItemValue+1) + `"}]}}}`, "longer than 4096 bytes"},
		{"twice", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[{"name":"a"},{"name":"a"}]}}}`, `key "a" twice`},
		{"full removes", `{"full":true,"digest":"` + d + `","sections":{"users":{"removed":["a"]}}}`, "a full snapshot only adds"},
		{"two os", `{"full":true,"digest":"` + d + `","sections":{"os":{"added":[{"name":"a"},{"name":"b"}]}}}`, "os: more than one item"},
		{"unknown top field", `{"full":true,"digest":"` + d + `","extra":1}`, "unknown field"},
		{"items bound", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[` + many(MaxSectionItems+1) + `]}}}`, "users: 50001 items, more than 50000"},
		{"items at bound", `{"full":true,"digest":"` + d + `","sections":{"users":{"added":[` + many(MaxSectionItems) + `]}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeInventory(deflateBytes([]byte(tt.json)))
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("bomb", func(t *testing.T) {
		// 17 MiB of spaces compress to a few KiB.
		_, err := DecodeInventory(deflateBytes(bytes.Repeat([]byte(" "), MaxInventoryBytes+1<<20)))
		if err == nil || !strings.Contains(err.Error(), "more than 16777216 bytes decompressed") {
			t.Errorf("got %v, want the decompressed bound", err)
		}
	})
	t.Run("too many parts", func(t *testing.T) {
		defer func(n int) { inventoryParts = n }(inventoryParts)
		inventoryParts = 2
		big := NewInventoryState(nil)
		big[SectionProcesses] = map[string]Item{}
		// Incompressible command lines past 2 parts of 40 KiB.
		x := uint64(1)
		for i := range 100 {
			var b strings.Builder
			for b.Len() < 3000 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				fmt.Fprintf(&b, "%x", x)
			}
			it := Item{"pid": fmt.Sprint(i + 1), "cmdline": b.String()}
			big[SectionProcesses][it["pid"]] = it
		}
		_, err := EncodeInventory(1, Snapshot(big, big.Digest(), 1))
		if err == nil || !strings.Contains(err.Error(), "more than 2 parts") {
			t.Errorf("got %v, want the parts bound", err)
		}
	})
}

func TestInventoryFrames(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"part", `{"type":"inventory","inventory":{"id":1,"part":0,"parts":1,"data":"AA=="}}`, ""},
		{"no part", `{"type":"inventory"}`, "without a part"},
		{"zero id", `{"type":"inventory","inventory":{"id":0,"part":0,"parts":1,"data":"AA=="}}`, "id out of range"},
		{"parts", `{"type":"inventory","inventory":{"id":1,"part":0,"parts":65,"data":"AA=="}}`, "want 1 to 64 parts"},
		{"part past", `{"type":"inventory","inventory":{"id":1,"part":1,"parts":1,"data":"AA=="}}`, "part 1 of 1"},
		{"empty", `{"type":"inventory","inventory":{"id":1,"part":0,"parts":1}}`, "part of 1 to 40960 bytes"},
		{"ack", `{"type":"inventory_ack","inventory_ack":{"id":1,"full":true}}`, ""},
		{"ack digest", `{"type":"inventory_ack","inventory_ack":{"id":1,"digest":"zz"}}`, "not SHA-256 hex"},
		{"no ack", `{"type":"inventory_ack"}`, "without an ack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFrame([]byte(tt.json))
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCleanValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sshd -D", "sshd -D"},
		{"a\x00b\nc\xff", "a?b?c?"},
		{strings.Repeat("é", MaxItemValue), strings.Repeat("é", MaxItemValue/2)},
	}
	for _, tt := range tests {
		got := CleanValue(tt.in)
		if got != tt.want {
			t.Errorf("CleanValue(%.20q): got %.20q (%d bytes), want %.20q", tt.in, got, len(got), tt.want)
		}
		if err := checkValue(got); err != nil {
			t.Errorf("CleanValue(%.20q): %v", tt.in, err)
		}
	}
}

func FuzzDecodeInventory(f *testing.F) {
	st := sampleState()
	f.Add(deflateBytes([]byte(`{"full":true,"digest":"` + strings.Repeat("a", 64) + `","sections":{"users":{"added":[{"name":"root"}]}}}`)))
	parts, _ := EncodeInventory(1, Diff(nil, strings.Repeat("b", 64), st, st.Digest(), 1))
	f.Add(parts[0].Data)
	f.Add([]byte("\x00\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := DecodeInventory(data)
		if err != nil {
			return
		}
		for sec, s := range inv.Sections {
			for _, it := range append(s.Added, s.Changed...) {
				if err := CheckItem(sec, it); err != nil {
					t.Errorf("an accepted item fails CheckItem: %v", err)
				}
			}
		}
		if _, err := InventoryState(nil).Apply(inv); err != nil && inv.Full {
			t.Errorf("a full snapshot does not apply: %v", err)
		}
	})
}
