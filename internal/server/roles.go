package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/store"
)

// Roles (vigil serve --role; docs/scale-out.md). "all" is the whole
// server on one machine. An ingest node runs the inputs and the parsers
// and publishes the parsed events to the NATS JetStream bus (its
// pipeline's store is the bus: a batch counts as stored once JetStream
// acknowledged it); it keeps no events and runs no detection, and its
// HTTP listener serves only the ingest endpoints, /healthz, /readyz and
// /metrics. A detect node is the whole server (API, console, detection,
// state) that also consumes the bus: the partitions it owns among the
// detect nodes, which share them (internal/bus).

// startBus connects to the NATS server.
func (s *Server) startBus(ctx context.Context) error {
	b, err := bus.Connect(ctx, bus.Options{URL: s.cfg.NATS, Replicas: s.cfg.NATSReplicas, Name: "vigil " + s.cfg.Role, Log: s.log})
	if err != nil {
		return err
	}
	s.bus = b
	s.log.Info("events bus", "role", s.cfg.Role, "partitions", b.Partitions())
	s.Metrics.CounterFunc("vigil_bus_published_total", "Events this node published that JetStream acknowledged.", func() float64 { return float64(b.Published()) })
	s.Metrics.CounterFunc("vigil_bus_publish_failures_total", "Events whose publish JetStream did not acknowledge (the pipeline retries them).", func() float64 { return float64(b.Failed()) })
	s.Metrics.CounterFunc("vigil_bus_consumed_total", "Events this node took from the bus, stored and acknowledged.", func() float64 { return float64(b.Consumed()) })
	if s.isRole(config.RoleDetect) {
		s.Metrics.GaugeFunc("vigil_bus_partitions_owned", "Partitions of the bus this detect node consumes now.", func() float64 { return float64(b.Owned()) })
		s.Metrics.CounterFunc("vigil_bus_checkpointed_events_total", "Events this detect node checkpointed for correlation state (they fed a correlation).", func() float64 { return float64(b.Checkpointed()) })
		s.Metrics.CounterFunc("vigil_bus_replayed_events_total", "Events this detect node replayed from other nodes' correlation checkpoints.", func() float64 { return float64(b.Replayed()) })
		s.Metrics.CounterFunc("vigil_bus_partition_takeovers_total", "Times this detect node took a partition.", func() float64 { return float64(b.Takeovers()) })
	}
	s.Metrics.GaugeFunc("vigil_bus_backlog", "Events in the bus not yet acknowledged by the detect nodes (-1: NATS did not answer).", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := b.Backlog(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	return nil
}

// stopBus closes the connection, after the pipeline drained into it.
func (s *Server) stopBus(context.Context) error { return s.bus.Close() }

// startIngestDomain opens what an ingest node needs of the state: the
// tokens that authenticate HTTP ingest.
func (s *Server) startIngestDomain(ctx context.Context) (err error) {
	s.Auth, err = auth.Open(ctx, s.Store.Meta())
	if err != nil {
		return err
	}
	if s.cfg.BootstrapToken != "" {
		if err := s.Auth.EnsureToken(ctx, "bootstrap", s.cfg.BootstrapToken, auth.RoleAdmin); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
	}
	return nil
}

// startPublishing starts an ingest node's pipeline: parse, then publish.
func (s *Server) startPublishing(ctx context.Context) error {
	pc := s.cfg.Pipeline
	pc.SpoolDir = filepath.Join(s.cfg.Data, "spool")
	s.Pipeline = pipeline.New(pc, parse.New(parse.Options{ShareData: true}), s.bus.Publisher(), s.Metrics, s.log)
	if files, n, err := s.Pipeline.Replay(ctx); err != nil {
		return err
	} else if files > 0 {
		s.log.Info("spooled messages from the last shutdown queued for the bus", "files", files, "messages", n)
	}
	s.Metrics.GaugeFunc("vigil_queue_depth", "Messages accepted but not yet stored.", func() float64 { return float64(s.Pipeline.QueueDepth()) })
	s.Metrics.GaugeFunc("vigil_queue_capacity", "Capacity of the pipeline queue in messages.", func() float64 { return float64(s.Pipeline.QueueSize()) })
	return nil
}

// startIngestListeners opens an ingest node's HTTP listener (ingest
// endpoints, health, metrics) and its stream inputs.
func (s *Server) startIngestListeners(ctx context.Context) (err error) {
	cfg := s.cfg
	mux := http.NewServeMux()
	ingestHTTP := newIngestHTTP(cfg, s.Pipeline, s.Auth, s.Metrics, s.log)
	ingestHTTP.Register(mux)
	mux.HandleFunc("GET /{$}", ingestHTTP.Root)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ingestReady(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	// The API's own check of a token: 401 without one, 403 for a role
	// without the read permission.
	guard := api.New(api.Options{Auth: s.Auth, Metrics: s.Metrics, Log: s.log})
	mux.Handle("GET /metrics", guard.Require(auth.PermRead, promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{})))
	if err := s.serveHTTP(mux); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.http.Close()
			<-s.httpDone
		}
	}()
	return s.openStreamInputs(ctx)
}

// ingestReady is an ingest node's readiness: started, the bus connected,
// the pipeline publishing.
func (s *Server) ingestReady() error {
	if !s.ready.Load() {
		return errors.New("starting or stopping")
	}
	if err := s.bus.Ready(); err != nil {
		return err
	}
	return s.Pipeline.StoreError()
}

// consumeBus runs a detect node's consumer of the bus until ctx ends:
// the partitions it owns among the detect nodes, with their correlation
// checkpoints (internal/bus).
func (s *Server) consumeBus(ctx context.Context) error {
	var window time.Duration
	if l := s.Rules(); l != nil {
		for _, c := range l.Engine.Correlations() {
			window = max(window, c.Correlation.Timespan)
		}
	}
	return s.bus.Consume(ctx, bus.ConsumeOptions{Worker: busWorker{s}, Window: window})
}

// busWorker is a detect node's side of the bus: detection (the recorder
// reports what fed correlation state), the replay of other nodes'
// checkpoints, and the events store.
type busWorker struct{ s *Server }

func (w busWorker) Detect(ev *event.Event) bool {
	fed := false
	for _, d := range w.s.detector {
		if r, ok := d.(*alert.Recorder); ok {
			fed = r.DetectFed(ev) || fed
			continue
		}
		d.Detect(ev)
	}
	return fed
}

// SyncDetections waits until the batch's detections are committed to the
// metadata store, which the detect nodes share: a node that dies after
// its checkpoint leaves nothing in a journal of its own that only it
// would replay.
func (w busWorker) SyncDetections() error {
	err := w.s.detector.SyncDetections()
	w.s.Recorder.Flush()
	return err
}

func (w busWorker) Replay(ev *event.Event) { w.s.Recorder.Replay(ev) }

// Store stores a batch from the bus, retrying until the store takes it
// (or ctx ends: the batch, unacknowledged, is handed again, to this node
// or the partition's next owner). Events the store refuses for their
// time are counted, as the pipeline counts them.
func (w busWorker) Store(ctx context.Context, evs []*event.Event) error {
	s := w.s
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := s.Events.Append(ctx, evs)
		var partial *store.PartialError
		switch {
		case err == nil:
			s.Metrics.Stored.Add(float64(len(evs)))
			return nil
		case errors.As(err, &partial) && errors.Is(partial.Err, store.ErrOutOfRange):
			s.Metrics.Stored.Add(float64(len(evs) - len(partial.Unstored)))
			s.Metrics.Dropped.WithLabelValues("time_range").Add(float64(len(partial.Unstored)))
			s.log.Warn("store refused events from the bus whose time is outside the range it accepts", "refused", len(partial.Unstored), "err", partial.Err)
			return nil
		case errors.As(err, &partial):
			s.Metrics.Stored.Add(float64(len(evs) - len(partial.Unstored)))
			evs = partial.Unstored
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("storing events from the bus failed; retrying", "events", len(evs), "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// isRole reports whether the server runs role r.
func (s *Server) isRole(r string) bool {
	role := s.cfg.Role
	if role == "" {
		role = config.RoleAll
	}
	return role == r
}

// dependencies are what /readyz checks besides the server itself: the
// metadata database, an events server (--events), the NATS bus.
func (s *Server) dependencies(ctx context.Context) []api.Dependency {
	deps := []api.Dependency{{Name: "metadata", Err: s.Store.Meta().PingContext(ctx)}}
	if es, ok := s.Events.(eventsStore); ok {
		if p, ok := es.Store.(interface{ Ping(context.Context) error }); ok {
			deps = append(deps, api.Dependency{Name: "events", Err: p.Ping(ctx)})
		}
	}
	if s.bus != nil {
		deps = append(deps, api.Dependency{Name: "nats", Err: s.bus.Ready()})
	}
	return deps
}
