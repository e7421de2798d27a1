package alert

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// Matcher is the part of a compiled rule set the recorder runs.
type Matcher interface {
	Match(ev *event.Event, fn func(detect.Detection))
}

// Recorder runs every event through the current rule set and stores what
// matches as alerts. It implements the pipeline's Detector. Alerts are
// written in batches by one goroutine; when that writer falls behind, the
// pipeline workers wait (nothing is dropped).
type Recorder struct {
	engine  atomic.Pointer[matcherBox]
	store   *Store
	log     *slog.Logger
	onAlert func(Alert) // metrics hook; may be nil

	ch      chan Alert
	wg      sync.WaitGroup
	closing sync.Once
}

type matcherBox struct{ m Matcher }

// NewRecorder starts a recorder writing to s.
func NewRecorder(s *Store, log *slog.Logger, onAlert func(Alert)) *Recorder {
	r := &Recorder{store: s, log: log, onAlert: onAlert, ch: make(chan Alert, 4096)}
	r.wg.Add(1)
	go r.write()
	return r
}

// SetEngine swaps the rule set; events after the swap see the new one.
func (r *Recorder) SetEngine(m Matcher) {
	if m == nil {
		r.engine.Store(nil)
		return
	}
	r.engine.Store(&matcherBox{m})
}

// Detect implements pipeline.Detector.
func (r *Recorder) Detect(ev *event.Event) {
	box := r.engine.Load()
	if box == nil {
		return
	}
	box.m.Match(ev, func(d detect.Detection) {
		r.ch <- FromDetection(d)
	})
}

// FromDetection builds the alert of one detection.
func FromDetection(d detect.Detection) Alert {
	t := d.Time
	if t.IsZero() && d.Event != nil {
		t = d.Event.Timestamp()
	}
	a := Alert{
		ID:        NewID(),
		RuleID:    d.Rule.ID,
		RuleTitle: d.Rule.Title,
		Level:     d.Rule.Level,
		Tags:      d.Rule.Tags,
		Count:     int64(max(d.Count, 1)),
		FirstSeen: t,
		LastSeen:  t,
	}
	if d.Event != nil {
		a.Entities = Entities(d.Event)
		a.Event = d.Event.AppendJSON(nil)
	}
	if len(d.Events) > 0 {
		a.FirstSeen = d.Events[0].Timestamp()
	}
	if len(d.Group) > 0 {
		a.Group = map[string]string{}
		for _, g := range d.Group {
			a.Group[g.Field] = g.Value
		}
	}
	return a
}

func (r *Recorder) write() {
	defer r.wg.Done()
	batch := make([]Alert, 0, 256)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := r.store.Insert(ctx, batch)
			cancel()
			if err == nil {
				break
			}
			if attempt == 4 {
				r.log.Error("alerts lost after retries", "alerts", len(batch), "err", err)
				break
			}
			r.log.Warn("storing alerts failed, retrying", "alerts", len(batch), "err", err)
			time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
		}
		if r.onAlert != nil {
			for _, a := range batch {
				r.onAlert(a)
			}
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case a, ok := <-r.ch:
			if !ok {
				flush()
				return
			}
			batch = append(batch, a)
			if len(batch) == cap(batch) {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// Close stores every pending alert and stops the writer. Detect must not be
// called after Close.
func (r *Recorder) Close() {
	r.closing.Do(func() { close(r.ch) })
	r.wg.Wait()
}
