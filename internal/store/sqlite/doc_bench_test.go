package sqlite

import (
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
)

// BenchmarkAppendDoc encodes parsed sshd, nginx and JSON lines as stored
// documents, as the writer does once per event.
func BenchmarkAppendDoc(b *testing.B) {
	p := parse.New(parse.Options{})
	var evs []*event.Event
	for _, line := range []string{
		"<38>Nov 22 04:16:49 bastion sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 51022 ssh2",
		`<134>Nov 22 04:16:49 web-01 nginx: 198.51.100.7 - - [22/Nov/2026:04:16:49 +0000] "GET /wp-login.php?x=1 HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
		`<134>Nov 22 04:16:49 app-3 payments: {"level":"info","service":"payments","msg":"charge processed","user":{"name":"user103"},"amount":29603,"source":{"ip":"10.0.115.163"},"duration_ms":12.5}`,
	} {
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: []byte(line), Input: "syslog-tcp", Received: t0}, ev)
		evs = append(evs, ev)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		buf = appendDoc(buf[:0], ev, ev.Timestamp())
	}
}
