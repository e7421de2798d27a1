package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// lineSink stores what the server hands to the pipeline.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) Enqueue(_ context.Context, msgs []ingest.Raw) error { return s.Offer(msgs, nil) }

func (s *lineSink) Offer(msgs []ingest.Raw, done func(error)) error {
	s.mu.Lock()
	for _, m := range msgs {
		s.lines = append(s.lines, string(m.Data))
	}
	s.mu.Unlock()
	if done != nil {
		go done(nil)
	}
	return nil
}

// TestShipLines: Run tails a file into an agents service in batches
// (more than the window of batches ahead), each line stored once and in
// order; a restart sends nothing again and goes on with new lines.
func TestShipLines(t *testing.T) {
	ctx := context.Background()
	svc, hs := testServer(t)
	sink := &lineSink{}
	svc.SetSink(sink, nil)
	tok, _, _ := svc.CreateToken(ctx, "t", time.Hour, 1)
	dir := t.TempDir()
	if _, err := Enroll(ctx, EnrollOptions{Server: hs.URL, Token: tok, Dir: dir, Hostname: "h1", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "app.log")
	write := func(from, to int) {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line %d\n", i)
		}
		f.Close()
	}
	// run runs the agent until the server acknowledged want.
	run := func(want uint64) {
		t.Helper()
		runCtx, cancel := context.WithCancel(ctx)
		acked := make(chan uint64, 100)
		done := make(chan error, 1)
		go func() {
			done <- Run(runCtx, RunOptions{Dir: dir, Version: "test", Heartbeat: time.Second, Files: []string{logPath}, BufferSize: MinBufferSize,
				OnAck: func(seq uint64) { acked <- seq }})
		}()
		timeout := time.After(20 * time.Second)
		for got := uint64(0); got < want; {
			select {
			case got = <-acked:
			case err := <-done:
				t.Fatalf("run ended: %v", err)
			case <-timeout:
				t.Fatalf("acknowledged %d within 20 s, want %d", got, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run after cancel: got %v, want nil", err)
		}
	}
	const n = 5000 // about 10 batches of 512
	write(0, n)
	run(n)
	write(n, n+10)
	run(n + 10)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.lines) != n+10 {
		t.Fatalf("got %d lines stored, want %d", len(sink.lines), n+10)
	}
	for i, l := range sink.lines {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("line %d: got %q, want %q", i, l, want)
		}
	}
}
