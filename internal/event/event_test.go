package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInternConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	keys := make([][]Key, 8)
	for g := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				keys[g] = append(keys[g], Intern(fmt.Sprintf("test.concurrent.%d", i)))
			}
		}()
	}
	wg.Wait()
	for g := 1; g < len(keys); g++ {
		if diff := cmp.Diff(keys[0], keys[g]); diff != "" {
			t.Fatalf("goroutines got different keys for the same names (-0 +%d):\n%s", g, diff)
		}
	}
	for i, k := range keys[0] {
		if got, want := k.Name(), fmt.Sprintf("test.concurrent.%d", i); got != want {
			t.Fatalf("Key(%d).Name() = %q, want %q", k, got, want)
		}
		if lk, ok := Lookup(k.Name()); !ok || lk != k {
			t.Fatalf("Lookup(%q) = %d, %v; want %d", k.Name(), lk, ok, k)
		}
	}
	if _, ok := Lookup("never.interned.name"); ok {
		t.Error("Lookup found a name never interned")
	}
}

func TestAppendJSON(t *testing.T) {
	ts := time.Date(2026, 11, 22, 4, 16, 49, 123000000, time.UTC)
	ev := &Event{Time: ts, Input: "syslog-tcp", Raw: "raw\x00line \xff", Logsource: Logsource{Product: "linux", Service: "sshd"}, Tags: []string{"dmz"}}
	ev.SetString("user.name", "root")
	ev.Set("source.port", Int(22))
	ev.Set("ratio", Float(0.5))
	ev.Set("ok", Bool(true))
	ev.Set("gone", Null())
	ev.SetString("ips", "10.0.0.1")
	ev.SetString("ips", "10.0.0.2")
	big, _ := Number("18446744073709551615")
	ev.Set("big", big)
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(ev.AppendJSON(nil)))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("AppendJSON is not valid JSON: %v\n%s", err, ev.AppendJSON(nil))
	}
	want := map[string]any{
		"@timestamp": "2026-11-22T04:16:49.123Z", "vigil.input": "syslog-tcp",
		"logsource.product": "linux", "logsource.service": "sshd", "tags": []any{"dmz"},
		"log.original": "raw\x00line \ufffd", "user.name": "root", "source.port": json.Number("22"),
		"ratio": json.Number("0.5"), "ok": true, "gone": nil, "ips": []any{"10.0.0.1", "10.0.0.2"},
		"big": json.Number("18446744073709551615"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendJSON (-want +got):\n%s", diff)
	}
}

func TestEventEditing(t *testing.T) {
	ev := &Event{}
	ev.SetString("a", "1")
	ev.SetString("a", "2")
	ev.SetString("empty", "")
	if ev.Has(Intern("empty")) {
		t.Error("SetString stored an empty string")
	}
	if got := len(ev.Values(nil, Intern("a"))); got != 2 {
		t.Errorf("Values(a) has %d values, want 2", got)
	}
	ev.Replace("a", String("3"))
	if vs := ev.Values(nil, Intern("a")); len(vs) != 1 || vs[0].Str != "3" {
		t.Errorf("after Replace: %v, want [3]", vs)
	}
	c := ev.Clone()
	c.SetString("b", "x")
	if ev.Has(Intern("b")) {
		t.Error("Clone shares its fields with the original")
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("user.name", "root", "raw line", 1.5)
	f.Add("x", "Inf", "NaN", math.Inf(1))
	f.Add("a\"b", "\xff\xfe\u2028", "\x00", math.Copysign(0, -1)) // a negative zero
	f.Fuzz(func(t *testing.T, name, val, raw string, num float64) {
		ev := &Event{Raw: raw, Input: val}
		ev.SetString(name, val)
		ev.Set(name+"n", Float(num))
		ev.Set(name, String(raw))
		if v, ok := Number(val); ok {
			ev.Set("num", v)
		}
		b := ev.AppendJSON(nil)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %q", b)
		}
	})
}

func TestNumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind Kind
		num  float64
	}{
		{"22", KindInt, 22}, {"-7", KindInt, -7}, {"+7", KindInt, 7}, {"007", KindInt, 7},
		{"12.5", KindFloat, 12.5}, {"1e3", KindFloat, 1000}, {"-0.25", KindFloat, -0.25},
		{"18446744073709551615", KindFloat, 18446744073709551615}, {"Inf", KindFloat, math.Inf(1)},
		{"", KindNull, 0}, {"-", KindNull, 0}, {"12a", KindNull, 0}, {"0x10", KindNull, 0}, {"1e999", KindNull, 0},
	} {
		v, ok := Number(c.in)
		if ok != (c.kind != KindNull) || v.Kind != c.kind || v.Num != c.num || ok && v.Str != c.in {
			t.Errorf("Number(%q) = %+v, %v; want kind %v num %v", c.in, v, ok, c.kind, c.num)
		}
	}
}

func TestProject(t *testing.T) {
	at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	e := &Event{Time: at, Received: at.Add(time.Second), Raw: "raw line", Input: "syslog-tcp", Tags: []string{"edge"},
		Logsource: Logsource{Product: "linux", Category: "auth", Service: "sshd"}}
	e.SetString("host.name", "web1")
	e.SetString("user.name", "root")
	got := e.Project(map[string]bool{"user.name": true, "log.original": true, "logsource.service": true})
	want := &Event{Time: e.Time, Received: e.Received, Raw: "raw line", Logsource: Logsource{Service: "sshd"}}
	want.SetString("user.name", "root")
	if g, w := string(got.AppendJSON(nil)), string(want.AppendJSON(nil)); g != w {
		t.Fatalf("projected:\n%s\nwant\n%s", g, w)
	}
	if got.Input != "" || got.Tags != nil || got.Logsource.Product != "" {
		t.Fatalf("projection kept unnamed parts: %+v", got)
	}
}
