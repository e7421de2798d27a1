package sqlite

import (
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// A stored event (a "document") is the event's binary encoding
// (event.AppendBinary): a version byte, then varints and length-prefixed
// strings, about 40% of the event's JSON.

// appendDoc appends the document of ev to b; t is the time it is stored
// under, recorded as its time when it has none.
func appendDoc(b []byte, ev *event.Event, t time.Time) []byte { return event.AppendBinary(b, ev, t) }

// decodeDoc decodes a document.
func decodeDoc(b []byte) (*event.Event, error) { return event.DecodeBinary(b) }
