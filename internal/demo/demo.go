// Package demo generates the first-run attack scenario that `vigil serve
// --demo` replays: realistic logs of a small company's web server, SSH
// bastion and Windows workstation during a plausible intrusion (web content
// scanning with a path traversal attempt, an SSH brute force that succeeds,
// privilege escalation with sudo, a new administrator account, and a
// PowerShell download cradle), with benign background noise around it.
//
// Every message is timed relative to a given "now" and written in the wire
// format the real software produces (RFC 3164 syslog lines, Sysmon events as
// evtx_dump JSON), so the scenario runs through the same parsers, rules,
// correlations, alerts and incidents as live data. Addresses come from the
// documentation ranges (RFC 5737) and host names are made up.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// Input is the input name every scenario message carries.
const Input = "demo"

// Tag is the source tag every scenario message carries, so that demo data
// can be found (tags:demo) and told apart from real data.
const Tag = "demo"

// Span is how long before its "now" the scenario's story starts: the first
// event is about Span before now and the last one at now.
const Span = 12 * time.Minute

// ReplayDuration is how long Run takes to hand the whole scenario to the
// sink (plus the time the sink takes to store the last messages).
const ReplayDuration = 15 * time.Second

// Scenario returns the scenario's messages, oldest first, with event times
// between now-Span and now. Every message has Data, Format (FormatSyslog
// for RFC 3164 lines with a PRI and a UTC timestamp, FormatJSON for Windows
// events), Input "demo", the tag "demo", and Received set to its event time.
// The result depends only on now.
func Scenario(now time.Time) []ingest.Raw {
	items := build(now)
	out := make([]ingest.Raw, len(items))
	for i := range items {
		out[i] = items[i].raw
	}
	return out
}

// Run replays the scenario into sink: it hands the messages over in the
// order of their event times, spread over about ReplayDuration so that live
// views move, with event times ending at the moment the last message is
// handed over. It waits for the sink to store the brute-force failures
// before it sends the successful login (the correlation that links them
// needs them in order), and returns once every message is stored. It
// returns ctx.Err() when ctx is done first, and the sink's error when it
// refuses or fails to store a batch. log may be nil.
func Run(ctx context.Context, sink ingest.Sink, log *slog.Logger) error {
	return replay(ctx, sink, log, replayConfig{duration: ReplayDuration, tick: 250 * time.Millisecond})
}

// replayConfig times a replay; tests shorten it.
type replayConfig struct {
	duration time.Duration // wall time over which the story is spread
	tick     time.Duration // messages due within one tick go in one batch
}

// fullRetry bounds the wait between offers that the sink refused as full.
const fullRetry = 500 * time.Millisecond

func replay(ctx context.Context, sink ingest.Sink, log *slog.Logger, cfg replayConfig) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	items := build(start.Add(cfg.duration))
	if len(items) == 0 {
		return nil
	}
	first, last := items[0].at, items[len(items)-1].at
	story := last.Sub(first)
	// due maps an event time to its wall-clock send offset.
	due := func(t time.Time) time.Duration {
		if story <= 0 {
			return 0
		}
		return time.Duration(float64(t.Sub(first)) / float64(story) * float64(cfg.duration))
	}
	log.Info("demo: replaying the attack scenario", "events", len(items), "duration", cfg.duration)

	var pending []chan error
	// drain waits until every batch handed over so far is stored.
	drain := func() error {
		for _, ch := range pending {
			select {
			case err := <-ch:
				if err != nil {
					return fmt.Errorf("demo: storing scenario events: %w", err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	phase := ""
	for i := 0; i < len(items); {
		// Messages due within one tick go together, at the tick's start.
		slot := due(items[i].at) / cfg.tick
		j, barrier := i, false
		for j < len(items) && due(items[j].at)/cfg.tick == slot {
			barrier = barrier || items[j].barrier
			j++
		}
		if wait := time.Until(start.Add(time.Duration(slot) * cfg.tick)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if barrier {
			if err := drain(); err != nil {
				return err
			}
		}
		batch := make([]ingest.Raw, 0, j-i)
		now := time.Now()
		for _, it := range items[i:j] {
			if it.phase != "" && it.phase != phase {
				phase = it.phase
				log.Info("demo: scenario step", "step", phase)
			}
			r := it.raw
			r.Received = now
			batch = append(batch, r)
		}
		ch, err := offer(ctx, sink, batch)
		if err != nil {
			return err
		}
		pending = append(pending, ch)
		i = j
	}
	if err := drain(); err != nil {
		return err
	}
	log.Info("demo: attack scenario replayed", "events", len(items), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// offer hands batch to sink, retrying while the sink is full, and returns
// the channel that receives the outcome of storing it.
func offer(ctx context.Context, sink ingest.Sink, batch []ingest.Raw) (chan error, error) {
	ch := make(chan error, 1)
	done := func(err error) { ch <- err }
	backoff := 10 * time.Millisecond
	for {
		err := sink.Offer(batch, done)
		if err == nil {
			return ch, nil
		}
		if !errors.Is(err, ingest.ErrFull) {
			return nil, fmt.Errorf("demo: handing %d scenario events to the pipeline: %w", len(batch), err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, fullRetry)
	}
}
