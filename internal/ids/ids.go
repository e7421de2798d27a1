// Package ids makes the identifiers of stored records: alerts, incidents,
// their timeline entries and tasks, suppressions, notification routes and
// deliveries, response runs and audit entries.
//
// An id is 32 lower-case hexadecimal characters encoding 16 bytes: the
// first 6 are the Unix time in milliseconds, big endian, and the other 10
// come from crypto/rand. So ids sort by the millisecond they were made in
// (as text and as bytes), which keeps inserts at the end of the tables'
// primary-key indexes, and 80 random bits make a collision negligible even
// among the ids of one millisecond. Within a millisecond their order is
// random. Ids are opaque to every other package: nothing parses them, and
// ids made before this format (24 or 20 random hexadecimal characters)
// stay valid.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Len is the length of an id.
const Len = 32

// New returns a new id made now.
func New() string { return newAt(time.Now()) }

func newAt(t time.Time) string {
	var b [16]byte
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(b[:6], ms[2:])
	rand.Read(b[6:]) // crypto/rand does not fail: it crashes the program first
	var out [Len]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}
