package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/config"
)

// startServer runs a server on cfg until the test ends and returns it once
// it has started, with a context that ends when the test does. The test
// fails if the server does not start within a minute or ends with an error.
func startServer(tb testing.TB, cfg config.Config) (*Server, context.Context) {
	tb.Helper()
	s := New(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server: %v", err)
		}
	})
	select {
	case <-s.Started():
	case err := <-done:
		done <- err // for the cleanup
		tb.Fatalf("server did not start: %v", err)
	case <-time.After(60 * time.Second):
		tb.Fatal("server did not start within a minute")
	}
	return s, ctx
}
