// Package bus carries parsed events from ingest nodes to the detection
// node over NATS JetStream (vigil serve --role ingest|detect --nats URL).
//
// One stream, VIGIL_EVENTS, holds subjects vigil.events.<partition>. An
// ingest node parses what its inputs receive and publishes each event
// (its binary document, event.AppendBinary) to the partition of its
// correlation key (the source address, else the user, else the host), so
// that every event of one key is in one partition, in order. A publish
// counts only once JetStream acknowledged it (stored on its replicas):
// the ingest node's pipeline treats the bus as its store, so HTTP ingest
// answers 2xx after that acknowledgement, and syslog and files push back
// while the bus refuses (unreachable, or full: the stream discards
// nothing, it refuses new messages past its bounds; it is a work queue:
// an acknowledged event leaves it, so the bounds bound the backlog). Each
// message carries
// a Nats-Msg-Id, kept across the pipeline's retries of one batch, so a
// retry after a lost acknowledgement is stored once (JetStream's
// duplicate window, two minutes).
//
// Detection nodes share the partitions: each owns some, consumes them
// through durable pull consumers (vigil-detect-<partition>), runs
// detection, checkpoints what fed correlation state, stores the events,
// and only then acknowledges them (consume.go). A node killed between the
// two gets its batch handed again to the partition's next owner (at least
// once: its events may be stored twice; detected once, when the
// checkpoint covers them).
package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/internal/store"
)

// StreamName is the JetStream stream of events.
const StreamName = "VIGIL_EVENTS"

const subjectPrefix = "vigil.events."

// Subject returns partition p's subject.
func Subject(p int) string { return subjectPrefix + strconv.Itoa(p) }

// Options configure the connection and the stream.
type Options struct {
	// URL is the NATS server (nats://host:4222, or a comma-separated
	// list of a cluster's servers).
	URL string
	// Partitions is the number of partitions (default 16). Every node of
	// a cluster must agree on it.
	Partitions int
	// Replicas is the stream's replica count (default 1; 3 on a
	// three-server NATS cluster).
	Replicas int
	// MaxAge is how long events wait in the stream for the detection
	// node (default 72h); MaxBytes bounds the stream's disk (default 8
	// GiB). Past either bound new events are refused, never old ones
	// dropped: ingest pushes back.
	MaxAge   time.Duration
	MaxBytes int64
	// AckWait is how long an event handed to a detect node waits for its
	// acknowledgement before JetStream hands it again (default 30 s;
	// tests shorten it).
	AckWait time.Duration
	// Name names the connection in the NATS server's monitoring.
	Name string
	Log  *slog.Logger
}

// Bus is a connection to the events stream.
type Bus struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	// id is this node's id in the detect membership (consume.go).
	id string

	published, failed, consumed atomic.Int64
	consumeCounters
}

// Published returns the events JetStream acknowledged from this node's
// publisher, Failed those it did not (retried by the pipeline), Consumed
// those this node handled and acknowledged.
func (b *Bus) Published() int64 { return b.published.Load() }
func (b *Bus) Failed() int64    { return b.failed.Load() }
func (b *Bus) Consumed() int64  { return b.consumed.Load() }

// Backlog returns the events in the stream: published and not yet
// acknowledged by the detect node (the stream is a work queue).
func (b *Bus) Backlog(ctx context.Context) (int64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int64(info.State.Msgs), nil
}

// Connect connects to o.URL (retrying while ctx lasts), and creates the
// stream or updates its bounds.
func Connect(ctx context.Context, o Options) (*Bus, error) {
	if o.Partitions <= 0 {
		o.Partitions = 16
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 8 << 30
	}
	if o.AckWait <= 0 {
		o.AckWait = ackWait
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	log := o.Log
	nc, err := nats.Connect(o.URL, nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats: disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", redactURL(o.URL), err)
	}
	// A pipeline batch (up to 8,192 events, two writers) is published
	// before its acknowledgements are awaited: room for all of them, and
	// an acknowledgement that never comes fails its event after 30 s (the
	// pipeline then publishes it again).
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<15), jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		nc.Close()
		return nil, err
	}
	subjects := []string{subjectPrefix + "*"}
	var stream jetstream.Stream
	for {
		stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: StreamName, Subjects: subjects, Storage: jetstream.FileStorage, Replicas: o.Replicas,
			Retention: jetstream.WorkQueuePolicy, Discard: jetstream.DiscardNew,
			MaxAge: o.MaxAge, MaxBytes: o.MaxBytes, Duplicates: 2 * time.Minute,
		})
		if err == nil {
			break
		}
		// The server may still be starting, or electing a leader.
		log.Warn("nats: creating the events stream", "err", err)
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("nats %s: creating stream %s: %w", redactURL(o.URL), StreamName, err)
		case <-time.After(time.Second):
		}
	}
	return &Bus{o: o, nc: nc, js: js, stream: stream, id: newNodeID()}, nil
}

// redactURL returns the server list u with the passwords masked.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		parts[i] = redact.URL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// Ready reports whether the connection is up.
func (b *Bus) Ready() error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats: %s", st)
	}
	return nil
}

// Close drains and closes the connection.
func (b *Bus) Close() error {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return err
	}
	return nil
}

// Partitions is the number of partitions.
func (b *Bus) Partitions() int { return b.o.Partitions }

// Partition returns ev's partition among n: by its correlation key, the
// source address, else the user, else the host (else 0).
func Partition(ev *event.Event, n int) int {
	for _, k := range []string{"source.ip", "user.name", "host.name"} {
		if v, ok := ev.GetName(k); ok && v.Str != "" {
			h := fnv.New32a()
			h.Write([]byte(v.Str))
			return int(h.Sum32() % uint32(n))
		}
	}
	return 0
}

// A message of the events stream holds up to messageEvents events and
// messageBytes bytes (NATS refuses messages over its max_payload, 1 MiB
// by default; an event larger than messageBytes is a message of its
// own): each a uvarint length and the event's binary document. Its
// Vigil-Events header says how many; a message without it (published
// by an older ingest node) is one event's document.
const (
	messageEvents = 256
	messageBytes  = 512 << 10
	hdrEvents     = "Vigil-Events"
)

// decodeMessage returns the events of a message of the events stream.
func decodeMessage(h nats.Header, data []byte) ([]*event.Event, error) {
	if h.Get(hdrEvents) == "" {
		ev, err := event.DecodeBinary(data)
		if err != nil {
			return nil, err
		}
		return []*event.Event{ev}, nil
	}
	n, err := strconv.Atoi(h.Get(hdrEvents))
	if err != nil || n < 1 || n > messageEvents {
		return nil, fmt.Errorf("%s header %q: want 1 to %d", hdrEvents, h.Get(hdrEvents), messageEvents)
	}
	evs, err := decodeCheckpoint(data)
	if err != nil {
		return nil, err
	}
	if len(evs) != n {
		return nil, fmt.Errorf("a message of %d events holds %d", n, len(evs))
	}
	return evs, nil
}

// Publisher is the ingest node's store: Append publishes the events and
// returns once JetStream acknowledged them. It keeps no events: Search
// refuses.
type Publisher struct {
	b    *Bus
	salt string
	seq  atomic.Uint64

	mu sync.Mutex
	// ids keeps each event's message id across the pipeline's retries of
	// its batch (the same events), for JetStream's duplicate detection;
	// an id is dropped once published, or after idTTL (past the
	// duplicate window it no longer helps).
	ids   map[*event.Event]msgID
	swept time.Time
}

type msgID struct {
	id string
	at time.Time
}

const idTTL = 10 * time.Minute

// Publisher returns the bus's publisher.
func (b *Bus) Publisher() *Publisher {
	salt := make([]byte, 8)
	rand.Read(salt)
	return &Publisher{b: b, salt: hex.EncodeToString(salt), ids: map[*event.Event]msgID{}}
}

// errNoEvents is a search on an ingest node.
var errNoEvents = fmt.Errorf("an ingest node keeps no events (search the detection node): %w", store.ErrBadRequest)

// Append publishes evs. The events JetStream did not acknowledge are
// returned in a *store.PartialError (the pipeline retries them alone),
// or all of them with the error when none was.
func (p *Publisher) Append(ctx context.Context, evs []*event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	now := time.Now()
	ids := make([]string, len(evs))
	p.mu.Lock()
	if now.Sub(p.swept) > time.Minute {
		for ev, m := range p.ids {
			if now.Sub(m.at) > idTTL {
				delete(p.ids, ev)
			}
		}
		p.swept = now
	}
	for i, ev := range evs {
		m, ok := p.ids[ev]
		if !ok {
			m = msgID{id: p.salt + "-" + strconv.FormatUint(p.seq.Add(1), 36), at: now}
			p.ids[ev] = m
		}
		ids[i] = m.id
	}
	p.mu.Unlock()

	// The events go by partition, several to a message (messageEvents
	// and messageBytes at most): one publish, one replication and one
	// acknowledgement for many events. A message's id is its first
	// event's; a retry hands the same events in the same order (the
	// pipeline retries what failed, alone), so its messages are the same
	// and JetStream's duplicate window drops what was stored already.
	byPart := make([][]int, p.b.o.Partitions)
	for i, ev := range evs {
		q := Partition(ev, p.b.o.Partitions)
		byPart[q] = append(byPart[q], i)
	}
	type sent struct {
		f   jetstream.PubAckFuture
		idx []int
	}
	var futs []sent
	var firstErr error
	var failed []int // indexes into evs
	for q, idx := range byPart {
		part := make([]*event.Event, len(idx))
		for k, i := range idx {
			part[k] = evs[i]
		}
		packEvents(part, messageEvents, messageBytes, func(body []byte, n int) {
			msg := &nats.Msg{Subject: Subject(q), Header: nats.Header{}, Data: body}
			msg.Header.Set(jetstream.MsgIDHeader, ids[idx[0]]+"+"+strconv.Itoa(n))
			msg.Header.Set(hdrEvents, strconv.Itoa(n))
			f, err := p.b.js.PublishMsgAsync(msg, jetstream.WithExpectStream(StreamName))
			if err != nil {
				firstErr = cmpErr(firstErr, err)
				failed = append(failed, idx[:n]...)
			} else {
				futs = append(futs, sent{f, idx[:n]})
			}
			idx = idx[n:]
		})
	}
	for _, s := range futs {
		select {
		case <-s.f.Ok():
		case err := <-s.f.Err():
			firstErr = cmpErr(firstErr, err)
			failed = append(failed, s.idx...)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	slices.Sort(failed)
	// The published events' ids are done with; the failed ones keep
	// theirs for the retry.
	unstored := make([]*event.Event, len(failed))
	p.mu.Lock()
	for _, ev := range evs {
		delete(p.ids, ev)
	}
	for k, i := range failed {
		unstored[k] = evs[i]
		p.ids[evs[i]] = msgID{id: ids[i], at: now}
	}
	p.mu.Unlock()
	p.b.published.Add(int64(len(evs) - len(failed)))
	p.b.failed.Add(int64(len(failed)))
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) == len(evs):
		return fmt.Errorf("publishing %d events: %w", len(evs), firstErr)
	}
	return &store.PartialError{Unstored: unstored, Err: fmt.Errorf("publishing: %w", firstErr)}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Search refuses: an ingest node keeps no events.
func (p *Publisher) Search(context.Context, store.SearchRequest) (*store.Result, error) {
	return nil, errNoEvents
}

// Stats reports nothing: an ingest node keeps no events.
func (p *Publisher) Stats(context.Context) (store.Stats, error) { return store.Stats{}, nil }

// Close does nothing: the bus is closed by its owner.
func (p *Publisher) Close() error { return nil }

const pinGroup = "detect"

// pinnedTTL is how long a partition stays pinned to a detection node that
// stopped pulling without letting go (a crash) before a standby takes it.
const pinnedTTL = 10 * time.Second

// fetchBatch is the most messages one pull asks for.
const fetchBatch = 2048

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
