package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/metrics"
)

type noFiles struct{}

func (noFiles) Wait() {}

// startFiles is replaced by the file-tailing input as soon as it lands;
// until then a configuration that asks for file inputs is refused rather
// than silently ignored.
func startFiles(ctx context.Context, cfg config.Config, sink ingest.Sink, m *metrics.Metrics, log *slog.Logger) (interface{ Wait() }, error) {
	if len(cfg.Files) > 0 {
		return nil, errors.New("files: file inputs are not available in this build yet")
	}
	return noFiles{}, nil
}
