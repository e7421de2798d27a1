// Package entity holds what alerts and incidents are about: the hosts,
// users, addresses, processes and files their detections name, by kind.
package entity

// MaxValues bounds the values an Entities keeps per kind. Values come from
// logs, so an attacker chooses how many there are: past the bound, new
// values are dropped and the first ones, which dedup keys and grouping
// read, stay. (The incident store's observables table keeps every value.)
const MaxValues = 64

// Entities are entity values by kind ("host", "user", "source.ip",
// "destination.ip", "process", "file", "file.hash"): each kind's values
// without duplicates, in the order first seen, at most MaxValues of them.
// Its JSON form is an object of string arrays.
type Entities map[string][]string

// Add adds v to the values of kind, unless it is there already or kind
// holds MaxValues. e must not be nil.
func (e Entities) Add(kind, v string) {
	vs := e[kind]
	for _, x := range vs {
		if x == v {
			return
		}
	}
	if len(vs) < MaxValues {
		e[kind] = append(vs, v)
	}
}

// Merge adds the values of from to e, kind by kind and in order, as Add
// does, and returns e; a nil e gives a new Entities (so Merge(nil, x)
// copies x). The slices of from are never shared with the result.
func (e Entities) Merge(from Entities) Entities {
	if e == nil {
		e = make(Entities, len(from))
	}
	for k, vs := range from {
		for _, v := range vs {
			e.Add(k, v)
		}
	}
	return e
}

// Clone returns a copy of e that shares no slice with it.
func (e Entities) Clone() Entities { return Entities(nil).Merge(e) }

// First returns the first value of kind, or "".
func (e Entities) First(kind string) string {
	if vs := e[kind]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
