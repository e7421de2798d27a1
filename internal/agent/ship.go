package agent

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/file"
)

// Batches the agent sends: at most batchRecords records and about
// batchBytes bytes of lines, cut further until the compressed batch fits
// one frame; at most window batches wait for the server's
// acknowledgement.
const (
	batchRecords = 512
	batchBytes   = 256 << 10
	window       = 4
)

// bufferSink is the file tailer's sink: it writes the lines to the disk
// buffer, and a batch is durable (the tailer saves its offsets) once the
// buffer fsynced it.
type bufferSink struct {
	b *Buffer
	// notify is signalled (without blocking) after each append, to wake
	// the sender.
	notify chan struct{}
}

var _ ingest.Sink = (*bufferSink)(nil)

func (s *bufferSink) put(msgs []ingest.Raw) error {
	recs := make([]agentwire.Record, 0, len(msgs))
	for _, m := range msgs {
		recs = append(recs, agentwire.Record{Time: m.Received.UnixNano(), Path: cleanPath(m.Fields[file.FieldPath]), Line: m.Data, Truncated: m.Truncated})
	}
	if _, err := s.b.Append(recs); err != nil {
		return err
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Enqueue buffers msgs.
func (s *bufferSink) Enqueue(_ context.Context, msgs []ingest.Raw) error { return s.put(msgs) }

// Offer buffers msgs and reports them durable (or the error) to done.
func (s *bufferSink) Offer(msgs []ingest.Raw, done func(error)) error {
	err := s.put(msgs)
	if done != nil {
		done(err)
	}
	return nil
}

// cleanPath makes a file name (which whoever can create files in a
// watched directory chooses) a path the server accepts: valid UTF-8, no
// control characters, at most agentwire.MaxPath bytes.
func cleanPath(p string) string {
	p = strings.ToValidUTF8(p, "?")
	p = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, p)
	for len(p) > agentwire.MaxPath {
		_, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
	}
	return p
}

// fitBatch encodes the longest prefix of recs (halving) whose batch fits
// one frame.
func fitBatch(recs []agentwire.Record) (*agentwire.Batch, []agentwire.Record, error) {
	for {
		b, err := agentwire.EncodeBatch(recs)
		if err != nil {
			return nil, nil, err
		}
		// The frame's JSON: the batch in base64 and about 40 bytes
		// around it.
		if 4*((len(b.Data)+2)/3)+64 <= agentwire.MaxFrame || len(recs) == 1 {
			return b, recs, nil
		}
		recs = recs[:len(recs)/2]
	}
}
