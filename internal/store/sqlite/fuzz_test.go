package sqlite

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
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
	f.Add(docV1)
	f.Add([]byte{2 /* version */, 3, 0x80})
	f.Add([]byte{2 /* version */, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
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

// docV1 is a version 1 document, as stores written before version 2 hold
// them: time, input "syslog-tcp", raw "<13>x host=a n=5", product "linux",
// no tags, fields host.name (string) and n (int 5).
var docV1 = []byte{
	1, 1, 0x80, 0xde, 0xc6, 0xa9, 0x0c, 0,
	10, 's', 'y', 's', 'l', 'o', 'g', '-', 't', 'c', 'p',
	16, '<', '1', '3', '>', 'x', ' ', 'h', 'o', 's', 't', '=', 'a', ' ', 'n', '=', '5',
	5, 'l', 'i', 'n', 'u', 'x', 0, 0,
	0,
	2,
	9, 'h', 'o', 's', 't', '.', 'n', 'a', 'm', 'e', 1, 1, 'a',
	1, 'n', 2, 1, '5', 0, 0, 0, 0, 0, 0, 0x14, 0x40,
}

func TestDecodeDocV1(t *testing.T) {
	ev, err := decodeDoc(docV1)
	if err != nil {
		t.Fatal(err)
	}
	got := string(ev.AppendJSON(nil))
	want := `{"@timestamp":"2022-06-02T15:30:08Z","vigil.input":"syslog-tcp","logsource.product":"linux","log.original":"<13>x host=a n=5","host.name":"a","n":5}`
	if got != want {
		t.Errorf("version 1 document decodes to\n%s\nwant\n%s", got, want)
	}
}

func TestDocV2Compact(t *testing.T) {
	p := parse.New(parse.Options{})
	for _, line := range []string{
		"<38>Nov 22 04:16:49 bastion sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 51022 ssh2",
		`<134>Nov 22 04:16:49 web-01 nginx: 198.51.100.7 - - [22/Nov/2026:04:16:49 +0000] "GET /wp-login.php?x=1 HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
		`<134>Nov 22 04:16:49 app-3 payments: {"level":"info","service":"payments","msg":"charge processed","user":{"name":"user103"},"amount":29603,"source":{"ip":"10.0.115.163"},"duration_ms":12.5}`,
	} {
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: []byte(line), Input: "syslog-tcp", Received: t0}, ev)
		b := appendDoc(nil, ev, ev.Timestamp())
		back, err := decodeDoc(b)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := string(back.AppendJSON(nil)), string(ev.AppendJSON(nil)); g != w {
			t.Fatalf("round trip:\n%s\nwant\n%s", g, w)
		}
		// Names are codes and texts point into the raw line, so the
		// document is not much larger than the line.
		if len(b) > len(line)+len(ev.Fields)*9+64 {
			t.Errorf("document of %d bytes for a line of %d with %d fields: %s", len(b), len(line), len(ev.Fields), ev.AppendJSON(nil))
		}
		t.Logf("%d-byte line, %d fields: %d-byte document", len(line), len(ev.Fields), len(b))
	}
}
