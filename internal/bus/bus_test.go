package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

// natsServer runs a real NATS server with JetStream in the test process
// (the nats-server module's own server) on a free loopback port.
func natsServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func connect(t *testing.T, url string, o Options) *Bus {
	t.Helper()
	o.URL = url
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func events(n int, prefix string) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		ev := &event.Event{Time: time.Date(2026, 12, 7, 12, 0, i, 0, time.UTC)}
		ev.SetString("message", fmt.Sprintf("%s %d", prefix, i))
		ev.SetString("source.ip", fmt.Sprintf("198.51.100.%d", i%7))
		evs[i] = ev
	}
	return evs
}

// collector is a Worker: it records what Consume hands over. Events whose
// message holds "fed" feed correlation state.
type collector struct {
	mu       sync.Mutex
	msgs     map[string]int // stored
	detected map[string]int
	replayed map[string]int
	fail     int // fail this many stores first
	refuse   bool
	calls    int
}

func newCollector() *collector {
	return &collector{msgs: map[string]int{}, detected: map[string]int{}, replayed: map[string]int{}}
}

func msgOf(ev *event.Event) string {
	m, _ := ev.GetName("message")
	return m.Str
}

func (c *collector) Detect(ev *event.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detected[msgOf(ev)]++
	return strings.Contains(msgOf(ev), "fed")
}

func (c *collector) SyncDetections() error { return nil }

func (c *collector) Replay(ev *event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replayed[msgOf(ev)]++
}

func (c *collector) Store(_ context.Context, evs []*event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.refuse {
		return errors.New("store down")
	}
	if c.fail > 0 {
		c.fail--
		return errors.New("store down")
	}
	for _, ev := range evs {
		c.msgs[msgOf(ev)]++
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) detectedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.detected)
}

// run runs Consume in the background; stop ends it and returns its
// error.
func run(b *Bus, c *collector) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, ConsumeOptions{Worker: c, Window: time.Hour}) }()
	return func() error {
		cancel()
		return <-done
	}
}

// waitFor polls cond for up to 30 s: the waits are for a real NATS
// server's deliveries and the membership's polls.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumeUntil runs Consume until c holds want messages (or 30 s pass).
func consumeUntil(t *testing.T, b *Bus, c *collector, want int) {
	t.Helper()
	stop := run(b, c)
	waitFor(t, fmt.Sprintf("%d events stored", want), func() bool { return c.count() >= want })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Events published by one node reach the consumer once each, every event
// of one source address in one partition, and an acknowledged event is
// not handed again to the next consumer.
func TestPublishConsume(t *testing.T) {
	url := natsServer(t)
	ingest := connect(t, url, Options{Partitions: 4})
	if err := ingest.Publisher().Append(context.Background(), events(200, "a")); err != nil {
		t.Fatal(err)
	}
	detect := connect(t, url, Options{Partitions: 4})
	c := newCollector()
	c.fail = 2
	consumeUntil(t, detect, c, 200)
	if c.count() != 200 {
		t.Fatalf("handled %d distinct events, want 200", c.count())
	}
	for m, n := range c.msgs {
		if n != 1 {
			t.Errorf("%q handled %d times after the handler's failures, want once", m, n)
		}
	}
	// Acknowledged: a new consumer run gets only what is new.
	if err := ingest.Publisher().Append(context.Background(), events(3, "b")); err != nil {
		t.Fatal(err)
	}
	c2 := newCollector()
	consumeUntil(t, detect, c2, 3)
	if c2.count() != 3 {
		t.Errorf("second run handled %d events, want the 3 new ones: %v", c2.count(), c2.msgs)
	}
	if _, err := ingest.Publisher().Search(context.Background(), store.SearchRequest{}); !errors.Is(err, store.ErrBadRequest) {
		t.Errorf("search on an ingest node: got %v, want ErrBadRequest", err)
	}
}

// A full stream refuses new events: Append fails (the pipeline holds them
// and pushes back), nothing is dropped.
func TestStreamFullRefuses(t *testing.T) {
	url := natsServer(t)
	b := connect(t, url, Options{Partitions: 1, MaxBytes: 64 << 10})
	ctx := context.Background()
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		err = b.Publisher().Append(ctx, events(20, fmt.Sprint("fill ", i)))
	}
	if err == nil {
		t.Fatal("publishing far past the stream's bound never failed")
	}
}

// Retried publishes of the same events (a lost acknowledgement) are
// stored once: their message ids are kept across the retry.
func TestRetryKeepsIDs(t *testing.T) {
	url := natsServer(t)
	b := connect(t, url, Options{Partitions: 2})
	p := b.Publisher()
	evs := events(10, "r")
	// What a failed attempt leaves: the ids of the batch's events.
	p.mu.Lock()
	for i, ev := range evs {
		p.ids[ev] = msgID{id: fmt.Sprint("fixed-", i), at: time.Now()}
	}
	p.mu.Unlock()
	ctx := context.Background()
	if err := p.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	for i, ev := range evs {
		p.ids[ev] = msgID{id: fmt.Sprint("fixed-", i), at: time.Now()}
	}
	p.mu.Unlock()
	if err := p.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Ten events of seven addresses over two partitions: two messages,
	// not four.
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages after a retry, want 2", info.State.Msgs)
	}
	if len(p.ids) != 0 {
		t.Errorf("%d ids kept after success, want none", len(p.ids))
	}
}

func TestPartition(t *testing.T) {
	a, b := &event.Event{}, &event.Event{}
	a.SetString("source.ip", "203.0.113.9")
	a.SetString("user.name", "x")
	b.SetString("source.ip", "203.0.113.9")
	b.SetString("user.name", "y")
	if Partition(a, 16) != Partition(b, 16) {
		t.Error("two events of one source address in two partitions")
	}
	if p := Partition(&event.Event{}, 16); p != 0 {
		t.Errorf("an event without a key: partition %d, want 0", p)
	}
}

// Detect nodes share the partitions evenly, and each event is handled
// by one of them once.
func TestNodesSharePartitions(t *testing.T) {
	url := natsServer(t)
	ingest := connect(t, url, Options{Partitions: 4})
	a := connect(t, url, Options{Partitions: 4})
	b := connect(t, url, Options{Partitions: 4})
	ca, cb := newCollector(), newCollector()
	stopA := run(a, ca)
	waitFor(t, "the first node to own every partition", func() bool { return a.Owned() == 4 })
	stopB := run(b, cb)
	waitFor(t, "two partitions each", func() bool { return a.Owned() == 2 && b.Owned() == 2 })
	if err := ingest.Publisher().Append(context.Background(), events(200, "shared")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "200 events stored", func() bool { return ca.count()+cb.count() >= 200 })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second node to take every partition", func() bool { return b.Owned() == 4 })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if ca.count() == 0 || cb.count() == 0 {
		t.Errorf("stored %d and %d: want both nodes to handle some", ca.count(), cb.count())
	}
	for m := range ca.msgs {
		if cb.msgs[m] > 0 || ca.msgs[m] != 1 {
			t.Errorf("%q stored %d times by one node and %d by the other, want once", m, ca.msgs[m], cb.msgs[m])
		}
	}
}

// A node that takes a partition over replays the checkpoints of the node
// before it into its correlation state, raising nothing, and detects only
// what is new.
func TestTakeoverReplaysCheckpoints(t *testing.T) {
	url := natsServer(t)
	ctx := context.Background()
	ingest := connect(t, url, Options{Partitions: 1})
	a := connect(t, url, Options{Partitions: 1})
	b := connect(t, url, Options{Partitions: 1})
	ca, cb := newCollector(), newCollector()
	stopA := run(a, ca)
	if err := ingest.Publisher().Append(ctx, append(events(5, "fed"), events(3, "plain")...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "8 events stored by the first node", func() bool { return ca.count() == 8 })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	if a.Checkpointed() != 5 {
		t.Errorf("first node checkpointed %d events, want the 5 that fed correlation", a.Checkpointed())
	}
	stopB := run(b, cb)
	if err := ingest.Publisher().Append(ctx, events(1, "fed new")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new event stored by the second node", func() bool { return cb.count() == 1 })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if len(cb.replayed) != 5 || b.Replayed() != 5 {
		t.Errorf("second node replayed %v (%d), want the first node's 5 fed events", cb.replayed, b.Replayed())
	}
	for m, n := range cb.replayed {
		if !strings.HasPrefix(m, "fed ") || n != 1 {
			t.Errorf("replayed %q %d times, want fed events once", m, n)
		}
	}
	if len(cb.detected) != 1 {
		t.Errorf("second node detected %v, want only the new event", cb.detected)
	}
}

// A batch a node detected and checkpointed but did not store (its store
// refused until it stopped) is handed again to the next owner, which
// stores it without detecting it a second time.
func TestHandedAgainDetectedOnce(t *testing.T) {
	url := natsServer(t)
	ctx := context.Background()
	o := Options{Partitions: 1, AckWait: 2 * time.Second}
	ingest := connect(t, url, o)
	a := connect(t, url, o)
	b := connect(t, url, o)
	ca, cb := newCollector(), newCollector()
	ca.refuse = true
	stopA := run(a, ca)
	if err := ingest.Publisher().Append(ctx, append(events(4, "fed"), events(2, "plain")...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first node to detect the batch", func() bool { return ca.detectedCount() == 6 && a.Checkpointed() == 4 })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	stopB := run(b, cb)
	waitFor(t, "the batch stored by the second node", func() bool { return cb.count() == 6 })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if len(cb.detected) != 0 {
		t.Errorf("second node detected %v again, want nothing (the checkpoint covers them)", cb.detected)
	}
	if len(cb.replayed) != 4 {
		t.Errorf("second node replayed %v, want the 4 fed events", cb.replayed)
	}
}

func TestCheckpointCodec(t *testing.T) {
	evs := events(3, "fed")
	big := &event.Event{Time: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	big.SetString("message", strings.Repeat("x", checkpointChunk))
	evs = append(evs, big, evs[0])
	chunks := encodeCheckpoint(evs)
	if len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3 (an oversized event alone in its own)", len(chunks))
	}
	var got []string
	for _, c := range chunks {
		out, err := decodeCheckpoint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out {
			got = append(got, msgOf(ev))
		}
	}
	want := []string{"fed 0", "fed 1", "fed 2", big.Fields[0].Value.Str, "fed 0"}
	if !slices.Equal(got, want) {
		t.Errorf("decoded %d events, want %d in order", len(got), len(want))
	}
	if _, err := decodeCheckpoint([]byte{0x80}); err == nil {
		t.Error("a truncated checkpoint decoded")
	}
}

func TestRanges(t *testing.T) {
	rs := ranges([]uint64{5, 3, 4, 9, 10, 12})
	if got := formatRanges(rs); got != "3-5,9-10,12-12" {
		t.Errorf("ranges: got %q, want 3-5,9-10,12-12", got)
	}
	back, err := parseRanges(formatRanges(rs))
	if err != nil || !slices.Equal(back, rs) {
		t.Errorf("parse: got %v %v, want %v", back, err, rs)
	}
	var st partState
	st.cover(rs)
	st.cover([]seqRange{{6, 8}})
	for _, c := range []struct {
		seq  uint64
		want bool
	}{{2, false}, {3, true}, {7, true}, {10, true}, {11, false}, {12, true}, {13, false}} {
		if got := st.isCovered(c.seq); got != c.want {
			t.Errorf("isCovered(%d): got %v, want %v", c.seq, got, c.want)
		}
	}
	if len(st.covered) != 2 {
		t.Errorf("covered %v, want merged into 2 ranges", st.covered)
	}
	for _, bad := range []string{"x", "5-3", "0-1", "1-", strings.Repeat("1-1,", maxRangesHeader+1) + "1-1"} {
		if _, err := parseRanges(bad); err == nil {
			t.Errorf("parseRanges(%.20q) accepted", bad)
		}
	}
	for i := range maxCovered + 10 {
		st.cover([]seqRange{{uint64(100 + 2*i), uint64(100 + 2*i)}})
	}
	if len(st.covered) != maxCovered {
		t.Errorf("covered holds %d ranges, want the bound %d", len(st.covered), maxCovered)
	}
}

func FuzzCheckpoint(f *testing.F) {
	f.Add(encodeCheckpoint(events(2, "fed"))[0], "1-2,4-9")
	f.Add([]byte{0x05, 1, 2}, "")
	f.Fuzz(func(t *testing.T, data []byte, hdr string) {
		decodeCheckpoint(data)
		if rs, err := parseRanges(hdr); err == nil {
			var st partState
			st.cover(rs)
		}
	})
}

// A batch larger than the client's default of outstanding publishes goes
// through whole.
func TestLargeBatch(t *testing.T) {
	url := natsServer(t)
	b := connect(t, url, Options{Partitions: 4})
	if err := b.Publisher().Append(context.Background(), events(10000, "big")); err != nil {
		t.Fatal(err)
	}
	info, err := b.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Several events to a message: at least 10000/messageEvents messages,
	// far fewer than events.
	if info.State.Msgs < 10000/messageEvents || info.State.Msgs > 100 || b.Published() != 10000 {
		t.Errorf("stream holds %d messages, published %d events; want 40 to 100 messages and 10000 events", info.State.Msgs, b.Published())
	}
	c := newCollector()
	consumeUntil(t, connect(t, url, Options{Partitions: 4}), c, 10000)
	if c.count() != 10000 {
		t.Errorf("consumed %d distinct events, want 10000", c.count())
	}
}

// A message over messageBytes is cut: no message NATS would refuse for
// its size, and each event arrives once.
func TestMessageBytesBound(t *testing.T) {
	url := natsServer(t)
	b := connect(t, url, Options{Partitions: 1})
	evs := events(40, "wide")
	for _, ev := range evs {
		ev.SetString("payload", strings.Repeat("p", 60<<10))
	}
	if err := b.Publisher().Append(context.Background(), evs); err != nil {
		t.Fatalf("publishing 40 events of 60 KiB: %v", err)
	}
	info, err := b.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < 5 {
		t.Errorf("2.4 MiB of events in %d messages, want them cut at %d bytes", info.State.Msgs, messageBytes)
	}
	c := newCollector()
	consumeUntil(t, connect(t, url, Options{Partitions: 1}), c, 40)
	if c.count() != 40 {
		t.Errorf("consumed %d distinct events, want 40", c.count())
	}
}

func TestDecodeMessage(t *testing.T) {
	one := events(1, "old")[0]
	h := nats.Header{}
	got, err := decodeMessage(h, event.AppendBinary(nil, one, one.Timestamp()))
	if err != nil || len(got) != 1 || msgOf(got[0]) != "old 0" {
		t.Errorf("a message of one event without the header: got %v %v", got, err)
	}
	body := encodeCheckpoint(events(3, "new"))[0]
	for _, c := range []struct {
		n    string
		want int
	}{{"3", 3}, {"2", -1}, {"0", -1}, {"x", -1}, {"100000", -1}} {
		h.Set(hdrEvents, c.n)
		got, err := decodeMessage(h, body)
		if c.want < 0 {
			if err == nil {
				t.Errorf("%s %s for 3 events: accepted", hdrEvents, c.n)
			}
			continue
		}
		if err != nil || len(got) != c.want {
			t.Errorf("%s %s: got %d events, %v", hdrEvents, c.n, len(got), err)
		}
	}
}

// The events a publish refused keep their message ids until the retry
// publishes them, so a retry after a lost acknowledgement is stored once;
// they are published under those ids.
func TestFailedKeepIDsForRetry(t *testing.T) {
	url := natsServer(t)
	ctx := context.Background()
	// The first message (messageEvents events) fits, the next ones not.
	evs := events(3*messageEvents, "limited")
	one := len(encodeCheckpoint(evs[:messageEvents])[0])
	b := connect(t, url, Options{Partitions: 1, MaxBytes: int64(one + one/2)})
	p := b.Publisher()
	err := p.Append(ctx, evs)
	var pe *store.PartialError
	if !errors.As(err, &pe) || len(pe.Unstored) == 0 || len(pe.Unstored) == len(evs) {
		t.Fatalf("publishing past the stream's bound: got %v, want some events refused", err)
	}
	kept := map[string]bool{}
	p.mu.Lock()
	for _, ev := range pe.Unstored {
		m, ok := p.ids[ev]
		if !ok {
			t.Fatal("a refused event lost its message id")
		}
		kept[m.id] = true
	}
	if len(p.ids) != len(pe.Unstored) {
		t.Errorf("%d ids kept, want %d (only the refused events')", len(p.ids), len(pe.Unstored))
	}
	p.mu.Unlock()
	cfg := b.stream.CachedInfo().Config
	cfg.MaxBytes = 8 << 20
	if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := p.Append(ctx, pe.Unstored); err != nil {
		t.Fatal(err)
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Three messages in all: the one stored first, and the refused
	// events' two, under the ids their first events kept.
	if info.State.Msgs != 3 {
		t.Errorf("stream holds %d messages, want 3", info.State.Msgs)
	}
	for seq := info.State.LastSeq - 1; seq <= info.State.LastSeq; seq++ {
		m, err := b.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := strings.Cut(m.Header.Get("Nats-Msg-Id"), "+")
		if !kept[id] {
			t.Fatalf("message %d published under id %q, not the one its event kept", seq, id)
		}
	}
}
