package evtx

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type field struct{ Name, Value string }

// flattenJSON flattens an evtx_dump rendering the way Fields documents it,
// from the JSON side: the reference Fields is checked against.
func flattenJSON(t *testing.T, data []byte) []field {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var out []field
	add := func(name string, v any) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		out = append(out, field{name, strings.TrimSuffix(b.String(), "\n")})
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	// Object members keep document order only in the raw text, so walk
	// the keys in the order they appear there.
	ordered := func(m map[string]any, raw []byte) []string {
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		pos := func(k string) int { b, _ := json.Marshal(k); return bytes.Index(raw, append(b, ':')) }
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if pos(keys[j]) < pos(keys[i]) {
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
		}
		return keys
	}
	ev := obj(doc["Event"])
	sys := obj(ev["System"])
	for _, k := range ordered(sys, data) {
		v := sys[k]
		switch k {
		case "Provider":
			a := obj(obj(v)["#attributes"])
			for _, ak := range ordered(a, data) {
				if ak == "Name" || ak == "Guid" {
					add("Provider_"+ak, a[ak])
				}
			}
		case "Correlation":
			if a := obj(obj(v)["#attributes"]); a != nil && a["ActivityID"] != nil {
				add("ActivityID", a["ActivityID"])
			}
		case "Execution":
			a := obj(obj(v)["#attributes"])
			for _, ak := range ordered(a, data) {
				add(ak, a[ak])
			}
		case "Security":
			if a := obj(obj(v)["#attributes"]); a != nil && a["UserID"] != nil {
				add("Security_UserID", a["UserID"])
			}
		case "TimeCreated":
		default:
			if m := obj(v); m != nil {
				v = m["#text"]
			}
			if v != nil {
				add(k, v)
			}
		}
	}
	var member func(name string, v any)
	member = func(name string, v any) {
		if m := obj(v); m != nil {
			if tx, ok := m["#text"]; ok {
				v = tx
			} else {
				for _, k := range ordered(m, data) {
					if k != "#attributes" {
						member(name+"."+k, m[k])
					}
				}
				return
			}
		}
		if a, ok := v.([]any); ok {
			for _, e := range a {
				add(name, e)
			}
			return
		}
		add(name, v)
	}
	if d := obj(ev["EventData"]); d != nil {
		for _, k := range ordered(d, data) {
			if k != "#attributes" {
				member(k, d[k])
			}
		}
	}
	if u := obj(ev["UserData"]); u != nil {
		for _, k := range ordered(u, data) {
			if m := obj(u[k]); m != nil {
				for _, k2 := range ordered(m, data) {
					if k2 != "#attributes" {
						member(k2, m[k2])
					}
				}
			}
		}
	}
	return out
}

func TestFieldsMatchJSON(t *testing.T) {
	n := 0
	for _, path := range sampleFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := FromBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Records(func(r *Record) error {
			n++
			want := flattenJSON(t, r.AppendJSON(nil))
			var got []field
			r.Fields(func(name string, v Value) {
				got = append(got, field{strings.Clone(name), string(v.AppendJSON(nil))})
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s record %d: Fields differs from the JSON (-json +fields):\n%s", path, r.ID, diff)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("checked %d records", n)
}

func TestFieldsStructure(t *testing.T) {
	data := buildFile(func(x *bx) {
		x.open("Event", false)
		x.closeStart()
		x.open("EventData", false)
		x.closeStart()
		for _, s := range []string{" a ", "b"} {
			x.open("Data", false)
			x.closeStart()
			x.text(s)
			x.end()
		}
		x.open("Data", true)
		x.attr("Name")
		x.text("Empty")
		x.closeEmpty()
		x.end()
		x.open("UserData", false)
		x.closeStart()
		x.open("Op", false)
		x.closeStart()
		x.open("Outer", false)
		x.closeStart()
		x.open("Inner", false)
		x.closeStart()
		x.text("v")
		x.end()
		x.end()
		x.end()
		x.end()
		x.end()
	})
	f, err := FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []field
	if err := f.Records(func(r *Record) error {
		r.Fields(func(name string, v Value) { got = append(got, field{strings.Clone(name), string(v.AppendJSON(nil))}) })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []field{{"Data", `"a"`}, {"Data", `"b"`}, {"Empty", "null"}, {"Outer.Inner", `"v"`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields mismatch (-want +got):\n%s", diff)
	}
}
