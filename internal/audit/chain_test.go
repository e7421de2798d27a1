package audit

import (
	"encoding/hex"
	"testing"
)

func mustHash(t *testing.T, s string) [32]byte {
	t.Helper()
	var h [32]byte
	if !decodeHash(s, &h) {
		t.Fatalf("bad test hash %q", s)
	}
	return h
}

// TestHashGolden pins the canonical encoding: the values were computed
// independently from the encoding documented on row.hash (a few lines of
// Python's hashlib and struct), so a change to the encoding, which would
// break every stored chain, fails here.
func TestHashGolden(t *testing.T) {
	const first = "21a9c9a8fa0a671a27f66cac8c7d9e35f9cd9736e8360646d05e99d134f274cd"
	tests := []struct {
		name string
		prev string // hex; empty: genesis
		r    row
		want string
	}{
		{
			name: "first entry",
			r: row{seq: 1, id: "5f2c0a9e1b7d3c4e8a6f0b12", time: 1700000000123456789, actor: "admin", action: "token.create",
				target: "tok-1", after: []byte(`{"name":"ci","role":"ingest"}`)},
			want: first,
		},
		{
			name: "chained, negative time",
			prev: first,
			r: row{seq: 2, id: "id-2", time: -1, actor: "vigil", action: "incident.open", target: "inc-1",
				before: []byte(`{"a":1}`), after: []byte(`{"a":2}`)},
			want: "90c3f3d1c06b41724668d78872e503a50e913f4c637fd218d5c25163751fce82",
		},
		{
			name: "empty fields",
			r:    row{seq: 1},
			want: "f3101000972671a025a20b5e62c2a77e7aecf17548b9430853cf563b980283ad",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev [32]byte
			if tt.prev != "" {
				prev = mustHash(t, tt.prev)
			}
			got, _ := tt.r.hash(prev, nil)
			if hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("got %x, want %s", got, tt.want)
			}
		})
	}
}

// TestHashUnambiguous checks that moving bytes from one field to the next,
// or changing any one field, changes the hash.
func TestHashUnambiguous(t *testing.T) {
	base := row{seq: 7, id: "id", time: 42, actor: "ab", action: "c", target: "t", before: []byte("{}"), after: []byte("[]")}
	var prev [32]byte
	want, _ := base.hash(prev, nil)
	tests := []struct {
		name   string
		change func(r *row, prev *[32]byte)
	}{
		{"actor/action boundary", func(r *row, _ *[32]byte) { r.actor, r.action = "a", "bc" }},
		{"before/after boundary", func(r *row, _ *[32]byte) { r.before, r.after = []byte("{}["), []byte("]") }},
		{"id/actor boundary", func(r *row, _ *[32]byte) { r.id, r.actor = "ida", "b" }},
		{"empty before, after moved", func(r *row, _ *[32]byte) { r.before, r.after = nil, []byte("{}[]") }},
		{"seq", func(r *row, _ *[32]byte) { r.seq++ }},
		{"time", func(r *row, _ *[32]byte) { r.time++ }},
		{"target", func(r *row, _ *[32]byte) { r.target = "u" }},
		{"prev", func(_ *row, p *[32]byte) { p[31] = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, p := base, prev
			tt.change(&r, &p)
			if got, _ := r.hash(p, nil); got == want {
				t.Errorf("got the unchanged hash %x after the change", got)
			}
		})
	}
}
