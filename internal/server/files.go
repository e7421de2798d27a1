package server

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/file"
	"github.com/vigilsec/vigil/internal/metrics"
)

type waiter interface{ Wait() }

type noFiles struct{}

func (noFiles) Wait() {}

// startFiles starts the file-tailing input when files are configured.
func startFiles(ctx context.Context, cfg config.Config, sink ingest.Sink, m *metrics.Metrics, log *slog.Logger) (waiter, error) {
	if len(cfg.Files) == 0 {
		return noFiles{}, nil
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
	t, err := file.New(fc, sink, m, log)
	if err != nil {
		return nil, err
	}
	if err := t.Start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}
