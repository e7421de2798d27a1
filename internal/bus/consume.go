package bus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
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
	"github.com/vigilsec/vigil/internal/logevery"
)

// Detection nodes share the partitions (docs/scale-out.md).
//
// Membership: each detect node puts its id (random, new at every start)
// in the key-value bucket VIGIL_DETECT_NODES every memberBeat; the bucket
// forgets a key memberTTL after its last put, so a node that dies leaves
// the membership within memberTTL, and one that stops cleanly deletes its
// key at once. Every node reads the membership every ownerPoll and owns
// the partitions p with p mod N equal to its rank among the N sorted ids:
// the partitions spread evenly and move when a node joins or leaves.
// Each partition's consumer pins it to one client (JetStream's pinned
// priority policy), so that while two nodes disagree about the membership
// for a moment, only one of them receives a partition's events.
//
// Correlation checkpoints: a node that handles a batch publishes, before
// it acknowledges the batch, the events of the batch that fed correlation
// state (a failed login the brute-force correlation counts, say) to the
// stream VIGIL_CORR, subject vigil.corr.<partition>, with the stream
// sequences of the events the batch covered. A node that takes a
// partition over first replays that partition's checkpoints of the last
// correlation window (the longest timespan of the loaded correlations)
// into its own correlation state, raising nothing, and from then on keeps
// reading the checkpoints that other nodes publish for it before each
// batch. So a brute force whose failures straddle the death of a node
// still completes on the node that takes over, and the events of a batch
// the dead node checkpointed but never acknowledged (handed again) are
// stored without being detected twice.

const (
	// CheckpointStream is the stream of correlation checkpoints.
	CheckpointStream = "VIGIL_CORR"
	checkpointPrefix = "vigil.corr."
	membersBucket    = "VIGIL_DETECT_NODES"

	memberTTL  = 10 * time.Second
	memberBeat = 3 * time.Second
	ownerPoll  = 2 * time.Second
	// ackWait is how long a delivered event waits for its acknowledgement
	// before JetStream hands it again (to the partition's owner then: a
	// node that died holding it); a batch whose handling takes longer is
	// marked in progress every ackWait/3.
	ackWait = 30 * time.Second

	// checkpointMaxAge bounds how far back checkpoints are kept, and so
	// the longest correlation window a takeover restores.
	checkpointMaxAge = 24 * time.Hour
	// checkpointMaxBytes bounds the checkpoint stream's disk; past it the
	// oldest checkpoints go (state older than that is not restored on a
	// takeover, and nothing else is lost).
	checkpointMaxBytes = 1 << 30
	// checkpointChunk bounds one checkpoint message (NATS refuses
	// messages over its max_payload, 1 MiB by default).
	checkpointChunk = 512 << 10
	// maxCovered bounds the covered ranges a partition remembers.
	maxCovered = 4096
	// replayMargin is added to the correlation window on a takeover:
	// events reach the stream some time after they happened.
	replayMargin = 5 * time.Minute

	hdrNode    = "Vigil-Node"
	hdrCovered = "Vigil-Covered"
)

// CheckpointSubject returns partition p's checkpoint subject.
func CheckpointSubject(p int) string { return checkpointPrefix + strconv.Itoa(p) }

// Worker is what a detect node gives the bus: detection, the correlation
// replay, and the events store.
type Worker interface {
	// Detect runs detection on ev and reports whether it fed correlation
	// state (it is then checkpointed).
	Detect(ev *event.Event) bool
	// SyncDetections makes the detections so far durable; an error is
	// counted by the worker, and the batch goes on.
	SyncDetections() error
	// Replay feeds a checkpointed event, which another node detected, to
	// the correlation state, raising nothing.
	Replay(ev *event.Event)
	// Store stores a batch; the bus retries a failure until it succeeds
	// or the node stops.
	Store(ctx context.Context, evs []*event.Event) error
}

// ConsumeOptions configure Consume.
type ConsumeOptions struct {
	Worker Worker
	// Window is the longest correlation timespan of the loaded rules: how
	// far back a takeover replays checkpoints (plus a margin, at most a
	// day).
	Window time.Duration
}

// NodeID returns this node's id in the detect membership.
func (b *Bus) NodeID() string { return b.id }

// Owned returns how many partitions this node consumes now.
func (b *Bus) Owned() int { return int(b.owned.Load()) }

// Checkpointed returns the events this node checkpointed; Replayed those
// it replayed from other nodes' checkpoints; Takeovers the partitions it
// took.
func (b *Bus) Checkpointed() int64 { return b.checkpointed.Load() }
func (b *Bus) Replayed() int64     { return b.replayed.Load() }
func (b *Bus) Takeovers() int64    { return b.takeovers.Load() }

// partState is what a node remembers of a partition across the times it
// owns it: the checkpoint stream sequence it read up to, and the events
// stream sequences detected already (by it or by a node before it).
type partState struct {
	corrSeq uint64
	covered []seqRange // sorted, disjoint
}

type seqRange struct{ lo, hi uint64 }

func (s *partState) cover(rs []seqRange) {
	s.covered = append(s.covered, rs...)
	slices.SortFunc(s.covered, func(a, b seqRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := s.covered[:0]
	for _, r := range s.covered {
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	if len(out) > maxCovered {
		out = append(out[:0], out[len(out)-maxCovered:]...)
	}
	s.covered = out
}

func (s *partState) isCovered(seq uint64) bool {
	_, found := slices.BinarySearchFunc(s.covered, seq, func(r seqRange, t uint64) int {
		switch {
		case r.hi < t:
			return -1
		case r.lo > t:
			return 1
		}
		return 0
	})
	return found
}

// ranges returns the sorted sequences as ranges.
func ranges(seqs []uint64) []seqRange {
	s := slices.Clone(seqs)
	slices.Sort(s)
	var out []seqRange
	for _, q := range s {
		if n := len(out); n > 0 && q <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, q)
			continue
		}
		out = append(out, seqRange{q, q})
	}
	return out
}

func formatRanges(rs []seqRange) string {
	var sb strings.Builder
	for i, r := range rs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(r.lo, 10))
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(r.hi, 10))
	}
	return sb.String()
}

// maxRangesHeader bounds the ranges of one checkpoint's header (a batch
// is at most fetchBatch events).
const maxRangesHeader = fetchBatch

func parseRanges(s string) ([]seqRange, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxRangesHeader {
		return nil, fmt.Errorf("%d ranges, at most %d", len(parts), maxRangesHeader)
	}
	out := make([]seqRange, 0, len(parts))
	for _, p := range parts {
		a, b, ok := strings.Cut(p, "-")
		if !ok {
			return nil, fmt.Errorf("range %q: want LO-HI", p)
		}
		lo, err1 := strconv.ParseUint(a, 10, 64)
		hi, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || lo > hi || lo == 0 {
			return nil, fmt.Errorf("range %q: want LO-HI, 0 < LO <= HI", p)
		}
		out = append(out, seqRange{lo, hi})
	}
	return out, nil
}

// packEvents cuts evs into bodies of length-prefixed binary documents,
// each of at most maxEvents events and maxBytes bytes (an event larger
// than that is a body of its own), and calls fn with each body and the
// number of events it holds, in order. The events stream's messages and
// the checkpoints share this format (decodeCheckpoint reads it).
func packEvents(evs []*event.Event, maxEvents, maxBytes int, fn func(body []byte, n int)) {
	var body, doc []byte
	n := 0
	for _, ev := range evs {
		doc = event.AppendBinary(doc[:0], ev, ev.Timestamp())
		if n > 0 && (n == maxEvents || len(body)+len(doc)+binary.MaxVarintLen64 > maxBytes) {
			fn(body, n)
			body, n = nil, 0
		}
		body = binary.AppendUvarint(body, uint64(len(doc)))
		body = append(body, doc...)
		n++
	}
	if n > 0 {
		fn(body, n)
	}
}

// encodeCheckpoint packs the events into checkpoint messages of at most
// checkpointChunk bytes (one empty message for no events).
func encodeCheckpoint(evs []*event.Event) [][]byte {
	var chunks [][]byte
	packEvents(evs, len(evs), checkpointChunk, func(body []byte, _ int) { chunks = append(chunks, body) })
	if len(chunks) == 0 {
		chunks = append(chunks, nil)
	}
	return chunks
}

// decodeCheckpoint reads the events of one checkpoint message.
func decodeCheckpoint(data []byte) ([]*event.Event, error) {
	var out []*event.Event
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, errors.New("checkpoint: truncated event")
		}
		ev, err := event.DecodeBinary(data[k : k+int(n)])
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		out = append(out, ev)
		data = data[k+int(n):]
	}
	return out, nil
}

// Consume makes this node a detect node until ctx ends: it joins the
// membership, consumes the partitions it owns, checkpoints and replays
// correlation state, and leaves the membership when it stops.
func (b *Bus) Consume(ctx context.Context, o ConsumeOptions) error {
	if o.Worker == nil {
		return errors.New("bus: no worker")
	}
	corr, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: CheckpointStream, Subjects: []string{checkpointPrefix + "*"}, Storage: jetstream.FileStorage,
		Replicas: b.o.Replicas, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: checkpointMaxAge, MaxBytes: checkpointMaxBytes,
	})
	if err != nil {
		return fmt.Errorf("nats: creating stream %s: %w", CheckpointStream, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: membersBucket, TTL: memberTTL, Storage: jetstream.MemoryStorage, Replicas: b.o.Replicas,
	})
	if err != nil {
		return fmt.Errorf("nats: creating bucket %s: %w", membersBucket, err)
	}
	cons := make([]jetstream.Consumer, b.o.Partitions)
	for p := range b.o.Partitions {
		cons[p], err = b.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: consumerName(p), FilterSubject: Subject(p),
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: b.o.AckWait, MaxAckPending: 1 << 16,
			DeliverPolicy:  jetstream.DeliverAllPolicy,
			PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{pinGroup}, PinnedTTL: pinnedTTL,
		})
		if err != nil {
			return fmt.Errorf("nats: consumer of partition %d: %w", p, err)
		}
	}
	c := &consumer{b: b, o: o, kv: kv, corr: corr, cons: cons, states: make([]*partState, b.o.Partitions),
		running: map[int]*ownedPart{}}
	for p := range c.states {
		c.states[p] = &partState{}
	}
	return c.run(ctx)
}

func consumerName(p int) string { return "vigil-detect-" + strconv.Itoa(p) }

type consumer struct {
	b    *Bus
	o    ConsumeOptions
	kv   jetstream.KeyValue
	corr jetstream.Stream
	cons []jetstream.Consumer
	warn logevery.Every

	states  []*partState
	running map[int]*ownedPart
	wg      sync.WaitGroup
}

// ownedPart is one owned partition's loop: stop asks it to let go after
// its current batch; done closes when it has.
type ownedPart struct {
	stop context.CancelFunc
	done chan struct{}
}

func (c *consumer) run(ctx context.Context) error {
	log := c.b.o.Log
	beat := time.NewTicker(memberBeat)
	defer beat.Stop()
	poll := time.NewTicker(ownerPoll)
	defer poll.Stop()
	c.heartbeat(ctx)
	c.rebalance(ctx)
	for {
		select {
		case <-ctx.Done():
			c.release(c.all())
			c.wg.Wait()
			// Leave the membership at once: the others take the
			// partitions at their next poll rather than after memberTTL.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := c.kv.Delete(dctx, c.b.id); err != nil {
				log.Debug("nats: leaving the detect membership", "err", err)
			}
			cancel()
			return nil
		case <-beat.C:
			c.heartbeat(ctx)
		case <-poll.C:
			c.rebalance(ctx)
		}
	}
}

func (c *consumer) heartbeat(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.kv.Put(hctx, c.b.id, []byte(c.b.o.Name)); err != nil && ctx.Err() == nil && c.warn.Due(time.Minute) {
		c.b.o.Log.Warn("nats: joining the detect membership", "err", err)
	}
}

// members returns the live detect nodes' ids, sorted.
func (c *consumer) members(ctx context.Context) ([]string, error) {
	mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lister, err := c.kv.ListKeys(mctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	return ids, nil
}

// Owner returns the owner of partition p among the sorted node ids.
func Owner(ids []string, p int) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[p%len(ids)]
}

func (c *consumer) rebalance(ctx context.Context) {
	ids, err := c.members(ctx)
	if err != nil {
		if ctx.Err() == nil && c.warn.Due(time.Minute) {
			c.b.o.Log.Warn("nats: reading the detect membership", "err", err)
		}
		return // keep what this node owns until NATS answers
	}
	var lose []int
	for p := range c.b.o.Partitions {
		mine := Owner(ids, p) == c.b.id
		_, running := c.running[p]
		switch {
		case mine && !running:
			pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
			op := &ownedPart{stop: stop, done: make(chan struct{})}
			c.running[p] = op
			c.b.owned.Add(1)
			c.wg.Go(func() {
				defer close(op.done)
				c.own(ctx, pctx, p)
			})
		case !mine && running:
			lose = append(lose, p)
		}
	}
	c.release(lose)
}

func (c *consumer) all() []int {
	var ps []int
	for p := range c.running {
		ps = append(ps, p)
	}
	return ps
}

// release stops the loops of ps and waits for them.
func (c *consumer) release(ps []int) {
	for _, p := range ps {
		c.running[p].stop()
	}
	for _, p := range ps {
		<-c.running[p].done
		delete(c.running, p)
		c.b.owned.Add(-1)
	}
}

// own consumes partition p until stop ends (ownership lost: after the
// batch in hand) or ctx does (the node stops: the batch in hand is left
// unacknowledged, handed again to the next owner).
func (c *consumer) own(ctx, stop context.Context, p int) {
	log := c.b.o.Log.With("partition", p)
	st := c.states[p]
	defer func() {
		// Let go of the partition, so that its next owner takes it at
		// once rather than after pinnedTTL.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := c.b.stream.UnpinConsumer(uctx, consumerName(p), pinGroup); err != nil {
			log.Debug("nats: unpinning a partition", "err", err)
		}
	}()
	tail, err := c.tail(ctx, p, st)
	for err != nil {
		if stop.Err() != nil || ctx.Err() != nil {
			return
		}
		if c.warn.Due(time.Minute) {
			log.Warn("nats: reading the partition's correlation checkpoints", "err", err)
		}
		sleep(stop, time.Second)
		tail, err = c.tail(ctx, p, st)
	}
	c.b.takeovers.Add(1)
	var warn logevery.Every
	for stop.Err() == nil && ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(stop, time.Second)
		batch, err := c.cons[p].Fetch(fetchBatch, jetstream.FetchPriorityGroup(pinGroup), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if stop.Err() != nil {
				return
			}
			if warn.Due(time.Minute) {
				log.Warn("nats: cannot fetch events", "err", err)
			}
			sleep(stop, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for msg := range batch.Messages() {
			msgs = append(msgs, msg)
		}
		if err := batch.Error(); err != nil && stop.Err() == nil && fctx.Err() == nil && !errors.Is(err, nats.ErrTimeout) && warn.Due(time.Minute) {
			log.Warn("nats: fetching events", "err", err)
		}
		cancel()
		if len(msgs) == 0 {
			continue
		}
		if !c.handle(ctx, log, p, st, tail, msgs) {
			return // the node stops; the batch is handed again
		}
	}
}

// tail returns where this node reads p's checkpoints from: after what it
// read when it owned p before, else the first checkpoint of the
// correlation window (found by the stream's times, which grow with its
// sequence).
func (c *consumer) tail(ctx context.Context, p int, st *partState) (*tail, error) {
	if st.corrSeq > 0 {
		return &tail{p: p, next: st.corrSeq + 1}, nil
	}
	from := time.Now().Add(-min(c.o.Window+replayMargin, checkpointMaxAge))
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	info, err := c.corr.Info(ictx)
	cancel()
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return &tail{p: p, next: info.State.LastSeq + 1}, nil
	}
	lo, hi := max(info.State.FirstSeq, 1), info.State.LastSeq+1 // the first at or after from is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := c.corr.GetMsg(gctx, mid)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			lo = mid + 1 // aged out meanwhile: the window starts later
		case err != nil:
			return nil, err
		case m.Time.Before(from):
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return &tail{p: p, next: lo}, nil
}

// tail is the next checkpoint sequence to read for a partition. Reads go
// one message at a time through the stream's message-get API (the next
// message of the partition's subject at or after a sequence), each
// bounded by a timeout, so that a NATS server lost mid-read costs one
// retry.
type tail struct {
	p    int
	next uint64
}

// catchUp replays the checkpoints other nodes published for p since this
// node last read them. A failure leaves the batch unhandled (it is
// retried): detecting it without the other node's state could miss a
// correlation.
func (c *consumer) catchUp(ctx context.Context, t *tail, st *partState) error {
	for {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := c.corr.GetMsg(gctx, t.next, jetstream.WithGetMsgSubject(CheckpointSubject(t.p)))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t.next = msg.Sequence + 1
		st.corrSeq = max(st.corrSeq, msg.Sequence)
		if msg.Header.Get(hdrNode) == c.b.id {
			continue // this node's own: its state has them
		}
		evs, err := decodeCheckpoint(msg.Data)
		if err != nil {
			c.b.o.Log.Error("nats: a correlation checkpoint does not decode; skipped", "err", err)
			continue
		}
		rs, err := parseRanges(msg.Header.Get(hdrCovered))
		if err != nil {
			c.b.o.Log.Error("nats: a correlation checkpoint's covered sequences do not parse; skipped", "err", err)
			continue
		}
		for _, ev := range evs {
			c.o.Worker.Replay(ev)
		}
		c.b.replayed.Add(int64(len(evs)))
		st.cover(rs)
	}
}

// handle detects, checkpoints, stores and acknowledges one batch. It
// returns false when the node stops before the batch is stored.
func (c *consumer) handle(ctx context.Context, log *slog.Logger, p int, st *partState, tail *tail, msgs []jetstream.Msg) bool {
	// Keep the batch ours while it takes long (a store that refuses).
	hctx, done := context.WithCancel(ctx)
	defer done()
	go func() {
		t := time.NewTicker(c.b.o.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				for _, m := range msgs {
					m.InProgress()
				}
			}
		}
	}()
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
		err := c.catchUp(ctx, tail, st)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("nats: reading correlation checkpoints failed; retrying", "err", err, "retry_in", backoff)
		sleep(ctx, backoff)
	}
	var evs, fed []*event.Event
	var seqs []uint64
	var ok []jetstream.Msg
	for _, msg := range msgs {
		mevs, err := decodeMessage(msg.Headers(), msg.Data())
		if err != nil {
			log.Error("nats: a message does not hold events; dropped", "err", err)
			msg.Term()
			continue
		}
		ok = append(ok, msg)
		evs = append(evs, mevs...)
		// A message whose sequence cannot be read is detected: it cannot
		// be covered by a checkpoint, and skipping it would miss it.
		if meta, err := msg.Metadata(); err == nil {
			seq := meta.Sequence.Stream
			if st.isCovered(seq) {
				continue // detected before (the batch was handed again)
			}
			seqs = append(seqs, seq)
		}
		for _, ev := range mevs {
			if c.o.Worker.Detect(ev) {
				fed = append(fed, ev)
			}
		}
	}
	if len(seqs) > 0 {
		_ = c.o.Worker.SyncDetections() // a failure is counted by the worker
	}
	if len(fed) > 0 {
		rs := ranges(seqs)
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			corrSeq, err := c.checkpoint(hctx, p, fed, rs)
			if err == nil {
				st.corrSeq = max(st.corrSeq, corrSeq)
				break
			}
			if ctx.Err() != nil {
				return false
			}
			log.Warn("nats: publishing a correlation checkpoint failed; retrying", "err", err, "retry_in", backoff)
			sleep(ctx, backoff)
		}
		c.b.checkpointed.Add(int64(len(fed)))
	}
	st.cover(ranges(seqs))
	for backoff := 100 * time.Millisecond; len(evs) > 0; backoff = min(2*backoff, 10*time.Second) {
		err := c.o.Worker.Store(hctx, evs)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("handling a batch of events failed; retrying", "events", len(evs), "err", err, "retry_in", backoff)
		sleep(ctx, backoff)
	}
	if len(ok) == 0 {
		return true
	}
	// Each message is acknowledged (the stream is a work queue: an
	// acknowledged event leaves it); the last waits for the server's
	// confirmation, which follows the others on this connection.
	// Unacknowledged ones are handed again after the ack wait (stored
	// twice at worst, detected once: the checkpoint covers them).
	for _, m := range ok[:len(ok)-1] {
		m.Ack()
	}
	// Bounded: an acknowledgement lost with a NATS server that died
	// would otherwise hold the partition for good; unacknowledged, the
	// batch comes again after the ack wait (stored twice, detected once).
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := ok[len(ok)-1].DoubleAck(actx)
	cancel()
	if err != nil && ctx.Err() == nil {
		log.Warn("nats: acknowledging a batch", "err", err)
	}
	c.b.consumed.Add(int64(len(evs)))
	return true
}

// checkpoint publishes fed as p's checkpoint, covering rs; it returns the
// checkpoint stream sequence of its last message.
func (c *consumer) checkpoint(ctx context.Context, p int, fed []*event.Event, rs []seqRange) (uint64, error) {
	chunks := encodeCheckpoint(fed)
	var last uint64
	for i, chunk := range chunks {
		msg := &nats.Msg{Subject: CheckpointSubject(p), Header: nats.Header{}, Data: chunk}
		msg.Header.Set(hdrNode, c.b.id)
		if i == len(chunks)-1 {
			// Only the last chunk says which events the checkpoint
			// covers: a node that died between two chunks left a
			// checkpoint that covers nothing (its batch is detected
			// again, its first chunks counted once more at worst).
			msg.Header.Set(hdrCovered, formatRanges(rs))
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ack, err := c.b.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(CheckpointStream))
		cancel()
		if err != nil {
			return 0, err
		}
		last = ack.Sequence
	}
	return last, nil
}

func newNodeID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// counters of the detect side (kept on the Bus for its metrics).
type consumeCounters struct {
	owned                             atomic.Int64
	checkpointed, replayed, takeovers atomic.Int64
}
