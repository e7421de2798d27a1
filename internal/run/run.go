// Package run starts and stops the parts of a server in order: each part
// (an actor) is started after the ones before it and stopped before them,
// and nothing it started outlives its Stop.
//
// Why not a group of goroutines interrupted together (oklog/run, as
// Prometheus uses): Vigil's parts depend on each other in one direction.
// The inputs hand messages to the pipeline, the pipeline to the store and
// the alert path, the alert path to the response runner and the notifier.
// Stopping them together would close the pipeline while an input still
// delivers to it, or the store while the pipeline drains into it; stopping
// them in reverse order of their start, each within its share of the
// shutdown budget, is what "nothing acknowledged is lost" needs. The set
// of actors is also what a role of a scaled-out deployment chooses (an
// ingest node runs the inputs and the publisher, a detection node the
// consumer and the alert path).
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Actor is one part of a server.
type Actor struct {
	// Name names the actor in logs and errors.
	Name string
	// Start starts the actor and returns once it is ready: an actor
	// started later may use it. Goroutines it needs run through the
	// Group's Go, or are stopped and waited for by its Stop. May be nil.
	Start func(ctx context.Context) error
	// Stop stops the actor and returns once everything it started has
	// ended. Its context ends at the actor's deadline (see Share). May be
	// nil.
	Stop func(ctx context.Context) error
	// Share is the part of the shutdown budget, in percent counted from
	// the start of the shutdown, by which the actor's Stop should be
	// done: its context's deadline. 0 gives it the whole budget.
	Share int
}

// Group is an ordered set of actors. The zero value is not usable; use New.
type Group struct {
	log     *slog.Logger
	actors  []Actor
	started int

	ctx    context.Context // the context of goroutines started with Go
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
	goErrs   chan error
}

// New returns an empty group.
func New(log *slog.Logger) *Group {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{log: log, ctx: ctx, cancel: cancel, goErrs: make(chan error, 1)}
}

// Add appends an actor: it starts after, and stops before, those added
// before it.
func (g *Group) Add(a Actor) { g.actors = append(g.actors, a) }

// Names returns the actors' names in start order.
func (g *Group) Names() []string {
	out := make([]string, len(g.actors))
	for i, a := range g.actors {
		out[i] = a.Name
	}
	return out
}

// Start starts the actors in order. If one fails, the ones already started
// are stopped (in reverse order, with budget) and Start returns the
// failure.
func (g *Group) Start(ctx context.Context, budget time.Duration) error {
	for i, a := range g.actors {
		if a.Start != nil {
			if err := a.Start(ctx); err != nil {
				err = fmt.Errorf("starting %s: %w", a.Name, err)
				g.started = i
				if serr := g.Stop(budget); serr != nil {
					err = errors.Join(err, serr)
				}
				return err
			}
		}
		g.started = i + 1
	}
	return nil
}

// Go runs fn in a goroutine that the group owns: a background job that
// feeds the actors (a reload on SIGHUP, the demo's replay, intel feed
// downloads). Its context ends first thing in Stop, which waits for it
// before stopping any actor, so no job runs into a part being stopped
// (a reload into a closing alert path); fn must return promptly once its
// context ends. A non-nil error other than the context's ends Wait's
// waiting (see Wait). Go during or after Stop runs nothing.
func (g *Group) Go(name string, fn func(ctx context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(g.ctx); err != nil && g.ctx.Err() == nil {
			err = fmt.Errorf("%s: %w", name, err)
			select {
			case g.goErrs <- err:
			default:
				g.log.Error("background task failed", "task", name, "err", err)
			}
		}
	}()
}

// Fail reports an actor's failure after its start (its listener died,
// say): Wait returns it. Only the first failure is kept; later ones are
// logged.
func (g *Group) Fail(err error) {
	select {
	case g.goErrs <- err:
	default:
		g.log.Error("failure after start", "err", err)
	}
}

// Wait returns when ctx ends (nil), or when a goroutine started with Go
// or an actor (Fail) fails (its error): the caller then stops the group.
func (g *Group) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-g.goErrs:
		return err
	}
}

// Stopping reports whether Stop has begun (a reload, say, checks it so as
// not to run during a shutdown).
func (g *Group) Stopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopping
}

// Stop ends the goroutines started with Go and waits for them, then stops
// the started actors in reverse order, each with a context whose deadline
// is its share of budget counted from the call. It returns the actors'
// errors joined; an actor's failure does not keep the ones before it from
// stopping.
func (g *Group) Stop(budget time.Duration) error {
	began := time.Now()
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	var errs []error
	for i := g.started - 1; i >= 0; i-- {
		a := g.actors[i]
		if a.Stop == nil {
			continue
		}
		share := a.Share
		if share <= 0 || share > 100 {
			share = 100
		}
		ctx, cancel := context.WithDeadline(context.Background(), began.Add(budget*time.Duration(share)/100))
		t := time.Now()
		err := a.Stop(ctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", a.Name, err))
		}
		g.log.Debug("stopped", "actor", a.Name, "took", time.Since(t).Round(time.Millisecond))
	}
	g.started = 0
	return errors.Join(errs...)
}
