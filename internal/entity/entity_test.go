package entity

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestMerge pins the one merge of alerts and incidents. Before it, an
// alert kept 32 values per kind and an incident 64, so an incident merged
// from two alerts could list values that neither alert's bound allowed,
// and the same alert listed fewer users than its incident; now both keep
// MaxValues (64).
func TestMerge(t *testing.T) {
	tests := []struct {
		name     string
		into     Entities
		from     Entities
		want     Entities
		wantSame bool // the result is into itself
	}{
		{"nil into nil", nil, nil, Entities{}, false},
		{"copy into nil", nil, Entities{"host": {"web1"}}, Entities{"host": {"web1"}}, false},
		{"new kind", Entities{"host": {"web1"}}, Entities{"user": {"bob"}}, Entities{"host": {"web1"}, "user": {"bob"}}, true},
		{"duplicates dropped, order kept", Entities{"user": {"bob", "alice"}}, Entities{"user": {"carol", "alice", "bob", "dave"}},
			Entities{"user": {"bob", "alice", "carol", "dave"}}, true},
		{"duplicates within from", Entities{}, Entities{"source.ip": {"192.0.2.1", "192.0.2.1", "192.0.2.2"}},
			Entities{"source.ip": {"192.0.2.1", "192.0.2.2"}}, true},
		{"case matters", Entities{"user": {"Bob"}}, Entities{"user": {"bob"}}, Entities{"user": {"Bob", "bob"}}, true},
		{"bound across merges", Entities{"user": values("a", 40)}, Entities{"user": values("b", 40)},
			Entities{"user": append(values("a", 40), values("b", 24)...)}, true},
		{"bound within from", nil, Entities{"user": values("u", MaxValues+10)}, Entities{"user": values("u", MaxValues)}, false},
		{"full kind keeps its first values", Entities{"user": values("a", MaxValues)}, Entities{"user": {"late"}, "host": {"h"}},
			Entities{"user": values("a", MaxValues), "host": {"h"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.into.Merge(tt.from)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
			// A key added to the result shows in the receiver when they are
			// the same map.
			got["probe"] = nil
			if _, same := tt.into["probe"]; same != tt.wantSame {
				t.Errorf("Merge returned its receiver: got %v, want %v", same, tt.wantSame)
			}
		})
	}
}

func TestMergeDoesNotShare(t *testing.T) {
	from := Entities{"user": make([]string, 1, 8)}
	from["user"][0] = "bob"
	got := from.Clone()
	got.Add("user", "alice")
	from["user"] = append(from["user"], "mallory")
	if diff := cmp.Diff([]string{"bob", "alice"}, got["user"]); diff != "" {
		t.Errorf("merged copy changed with its source (-want +got):\n%s", diff)
	}
}

func TestAddAndFirst(t *testing.T) {
	e := Entities{}
	if got := e.First("host"); got != "" {
		t.Errorf("First of a missing kind: got %q, want empty", got)
	}
	for _, v := range values("h", MaxValues+1) {
		e.Add("host", v)
	}
	if got := len(e["host"]); got != MaxValues {
		t.Errorf("Add past the bound: got %d values, want %d", got, MaxValues)
	}
	if got := e.First("host"); got != "h0" {
		t.Errorf("First: got %q, want h0", got)
	}
}

func TestJSON(t *testing.T) {
	e := Entities{"host": {"web1"}, "user": {"bob", "alice"}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"host":["web1"],"user":["bob","alice"]}`; got != want {
		t.Errorf("json: got %s, want %s", got, want)
	}
	var back Entities
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, back); diff != "" {
		t.Errorf("json round trip (-want +got):\n%s", diff)
	}
}
