package server

import (
	"context"
	"path/filepath"

	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/file"
)

// The file input: tails the configured files and globs, keeping its
// offsets in DATA/file-offsets.json.
func init() {
	registerInput(streamInput{Name: "files", Open: func(ctx context.Context, s *Server, sink ingest.Sink) (inputHandle, error) {
		cfg := s.cfg
		if len(cfg.Files) == 0 {
			return nil, nil
		}
		fc := file.Config{StateFile: filepath.Join(cfg.Data, "file-offsets.json"), MaxLineSize: cfg.Syslog.MaxMessageSize}
		for _, f := range cfg.Files {
			format, err := file.ParseFormat(f.Format)
			if err != nil {
				return nil, err
			}
			for _, p := range f.Paths {
				fc.Paths = append(fc.Paths, file.Path{Glob: p, Format: format, FromBeginning: f.FromBeginning, Tags: f.Tags})
			}
		}
		t, err := file.New(fc, sink, s.Metrics, s.log)
		if err != nil {
			return nil, err
		}
		// The tailer stops when its context ends: a context of its own,
		// ended by Shutdown.
		tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if err := t.Start(tctx); err != nil {
			cancel()
			return nil, err
		}
		return filesHandle{t, cancel}, nil
	}})
}

type filesHandle struct {
	t      *file.Tailer
	cancel context.CancelFunc
}

// Shutdown stops the tailer and waits for it to close its files.
func (h filesHandle) Shutdown(context.Context) error {
	h.cancel()
	h.t.Wait()
	return nil
}
