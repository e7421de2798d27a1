package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/agent/fim"
	"github.com/vigilsec/vigil/internal/agentwire"
)

// FIMOptions configure file integrity monitoring (docs/agent.md); it is
// off when Paths is empty. Zero values take fim's defaults.
type FIMOptions struct {
	Paths        []string
	Ignore       []string
	ScanInterval time.Duration
	MaxHashSize  int64
	MaxFiles     int
	HashRate     int64
}

// emitFIM writes file integrity events to the disk buffer as records of
// kind fim, so that they travel with the log lines: the same sequence
// numbers, acknowledgements and bound. The paths are made ones the server
// accepts, as log records' are.
func (s *bufferSink) emitFIM(evs []fim.Event) error {
	now := time.Now().UnixNano()
	recs := make([]agentwire.Record, 0, len(evs))
	for _, ev := range evs {
		line, err := fimLine(ev)
		if err != nil {
			return err
		}
		recs = append(recs, agentwire.Record{Time: now, Path: cleanPath(ev.Path), Line: line, Kind: agentwire.KindFIM})
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

// fimLine is the JSON of ev with its paths cleaned, without HTML
// escaping: at most three paths of agentwire.MaxPath bytes, each at most
// doubled by JSON's escapes, so that it stays well within
// agentwire.MaxLine.
func fimLine(ev fim.Event) ([]byte, error) {
	ev.Path = cleanPath(ev.Path)
	for _, st := range []**fim.State{&ev.Before, &ev.After} {
		if *st != nil {
			c := **st
			c.Target = cleanPath(c.Target)
			*st = &c
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encoding a fim event: %w", err)
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(line) > agentwire.MaxLine {
		return nil, fmt.Errorf("fim event of %s: %d bytes, more than %d", ev.Path, len(line), agentwire.MaxLine)
	}
	return line, nil
}

// fimHealth is the monitor's health as heartbeats report it.
func fimHealth(m *fim.Monitor) *agentwire.FIMHealth {
	h := m.Health()
	return &agentwire.FIMHealth{Files: h.Files, Overflows: h.Overflows, WatchErrors: h.WatchErrors, OverLimit: h.OverLimit, Scans: h.Scans}
}
