package sqlite

import "github.com/vigilsec/vigil/internal/event"

// promoted lists the fields copied into their own columns beside the
// document: equality on them and grouping by them run in SQL without
// decoding documents. A column holds the field's first non-null value; the
// event's bit in cx is set when the field has any other value (an array or
// a null), in which case an exact answer needs the document.
var promoted = [...]struct {
	field, col string
}{
	{event.FieldHostName, "host"},
	{event.FieldSourceIP, "sip"},
	{event.FieldDestIP, "dip"},
	{event.FieldUserName, "usr"},
	{event.FieldDataset, "ds"},
	{event.FieldAction, "act"},
	{event.FieldOutcome, "outc"},
	{event.FieldProcessName, "proc"},
}

const nPromoted = len(promoted)

// promotedIndex returns the promoted slot of a field name, or -1.
func promotedIndex(field string) int {
	for i := range promoted {
		if promoted[i].field == field {
			return i
		}
	}
	return -1
}

var promotedKeys [nPromoted]event.Key

func init() {
	for i := range promoted {
		promotedKeys[i] = event.Intern(promoted[i].field)
	}
}

// promote fills vals with the promoted columns of ev and returns the cx
// bits.
func promote(ev *event.Event, vals *[nPromoted]string, has *[nPromoted]bool) int64 {
	*has = [nPromoted]bool{}
	var cx int64
	for i := range ev.Fields {
		f := &ev.Fields[i]
		for j := range promotedKeys {
			if f.Key != promotedKeys[j] {
				continue
			}
			if f.Value.Kind == event.KindNull || has[j] {
				cx |= 1 << j
			} else {
				vals[j] = f.Value.Str
				has[j] = true
			}
			break
		}
	}
	return cx
}
