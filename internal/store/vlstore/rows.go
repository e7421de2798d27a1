package vlstore

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// rowBuilder turns events into the engine's fields, reusing its buffers
// from one event to the next (the engine copies what it is given).
type rowBuilder struct {
	fields []logstorage.Field
	doc    []byte
	idx    map[string]int
	text   strings.Builder
	// empties are the columns that hold an empty value (rare), so that a
	// search can tell an empty value from none (see colEmpty).
	empties []string
}

// build returns ev's row and how many of its leading fields are the
// stream's. Repeated fields (arrays) are one column holding their texts
// one per line; nulls have no text. Field names go through column.
func (rb *rowBuilder) build(ev *event.Event, ts time.Time, id string) ([]logstorage.Field, int) {
	rb.fields = rb.fields[:0]
	if rb.idx == nil {
		rb.idx = map[string]int{}
	}
	clear(rb.idx)
	rb.empties = rb.empties[:0]
	add := func(name, v string) {
		if v == "" {
			rb.empties = append(rb.empties, name)
		}
		if i, ok := rb.idx[name]; ok {
			rb.fields[i].Value += "\n" + v
			return
		}
		rb.idx[name] = len(rb.fields)
		rb.fields = append(rb.fields, logstorage.Field{Name: name, Value: v})
	}
	// The stream's fields come first, always present (empty when the
	// event lacks one); a repeated one holds all its values.
	for _, name := range streamFields {
		rb.text.Reset()
		query.FieldValues(ev, name, func(val event.Value) bool {
			if val.Kind != event.KindNull {
				if val.Str == "" {
					rb.empties = append(rb.empties, column(name))
				}
				if rb.text.Len() > 0 {
					rb.text.WriteByte('\n')
				}
				rb.text.WriteString(val.Str)
			}
			return true
		})
		rb.idx[column(name)] = len(rb.fields)
		rb.fields = append(rb.fields, logstorage.Field{Name: column(name), Value: rb.text.String()})
	}
	nStream := len(rb.fields)
	rb.text.Reset()
	query.FullText(ev, func(s string) bool {
		if rb.text.Len() > 0 {
			rb.text.WriteByte('\n')
		}
		rb.text.WriteString(s)
		return true
	})
	rb.fields = append(rb.fields, logstorage.Field{Name: "_msg", Value: rb.text.String()})
	rb.idx["_msg"] = len(rb.fields) - 1
	for _, name := range []string{"vigil.input", "logsource.product", "logsource.category", "logsource.service", event.FieldTags, event.FieldOriginal, "event.ingested"} {
		query.FieldValues(ev, name, func(v event.Value) bool {
			add(column(name), v.Str)
			return true
		})
	}
	for i := range ev.Fields {
		f := &ev.Fields[i]
		name := f.Key.Name()
		if f.Value.Kind == event.KindNull || name == event.FieldMessage || reserved(name) {
			continue
		}
		if isStreamField(name) {
			continue
		}
		add(column(name), f.Value.Str)
	}
	if len(rb.empties) > 0 {
		rb.fields = append(rb.fields, logstorage.Field{Name: colEmpty, Value: strings.Join(rb.empties, "\n")})
	}
	rb.doc = event.AppendBinary(rb.doc[:0], ev, ts)
	rb.fields = append(rb.fields,
		logstorage.Field{Name: colDoc, Value: hex.EncodeToString(rb.doc)},
		logstorage.Field{Name: colID, Value: id})
	return rb.fields, nStream
}

func isStreamField(name string) bool {
	for _, s := range streamFields {
		if s == name {
			return true
		}
	}
	return false
}

// reserved reports whether name is one of the event's own members, which
// never come from Event.Fields (see query.FieldValues).
func reserved(name string) bool {
	switch name {
	case event.FieldTimestamp, "event.ingested", "vigil.input", "logsource.product", "logsource.category",
		"logsource.service", event.FieldTags, event.FieldOriginal:
		return true
	}
	return false
}
