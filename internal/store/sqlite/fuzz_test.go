package sqlite

import (
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzDecodeDoc feeds arbitrary bytes to the document decoder (documents
// come from files on disk, which may be damaged): it must not panic, must
// not allocate beyond the input's size, and what it accepts must re-encode
// to the same bytes.
func FuzzDecodeDoc(f *testing.F) {
	g := newGen(5, t0, time.Second)
	for _, ev := range g.batch(6) {
		f.Add(appendDoc(nil, ev, ev.Timestamp()))
	}
	for _, ev := range oddEvents(rand.New(rand.NewPCG(1, 1)), t0, 6) {
		f.Add(appendDoc(nil, ev, ev.Timestamp()))
	}
	f.Add([]byte{})
	f.Add([]byte{docVersion, 3, 0x80})
	f.Add([]byte{docVersion, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeDoc(b)
		if err != nil {
			return
		}
		if len(ev.Fields) > len(b) || len(ev.Tags) > len(b) {
			t.Fatalf("decoded %d fields, %d tags from %d bytes", len(ev.Fields), len(ev.Tags), len(b))
		}
		again := appendDoc(nil, ev, ev.Time)
		ev2, err := decodeDoc(again)
		if err != nil {
			t.Fatalf("re-encoded document does not decode: %v", err)
		}
		if string(ev2.AppendJSON(nil)) != string(ev.AppendJSON(nil)) {
			t.Fatalf("round trip changed the event:\n%s\n%s", ev.AppendJSON(nil), ev2.AppendJSON(nil))
		}
	})
}

// FuzzBloomNoFalseNegative checks the block filter's one promise: a block
// holding an event whose text contains a word or phrase is never skipped
// for that word or phrase.
func FuzzBloomNoFalseNegative(f *testing.F) {
	f.Add("Failed password for root from 10.0.0.1 port 22", "password for", 3)
	f.Add("invalid_user ñandú x.y-z", "ñandú x", 0)
	f.Add("a", "a", 0)
	f.Fuzz(func(t *testing.T, text, needle string, cut int) {
		if len(needle) == 0 || len(text) > 4096 {
			return
		}
		b := make([]byte, bloomBytes)
		textRuns(text, func(h uint64) { bloomAdd(b, h) })
		// A phrase that occurs in the text.
		if cut >= 0 && cut < len(text) {
			p := text[cut:min(len(text), cut+len(needle))]
			if p != "" {
				for _, h := range phraseRuns(p) {
					if !bloomHas(b, h) {
						t.Fatalf("phrase %q of %q: run missing", p, text)
					}
				}
			}
		}
	})
}
