package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

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

// collector gathers what Consume hands over.
type collector struct {
	mu    sync.Mutex
	msgs  map[string]int
	parts map[string]int
	fail  int // fail this many calls first
	calls int
}

func (c *collector) handle(_ context.Context, p int, evs []*event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail > 0 {
		c.fail--
		return errors.New("store down")
	}
	for _, ev := range evs {
		m, _ := ev.GetName("message")
		ip, _ := ev.GetName("source.ip")
		c.msgs[m.Str]++
		if q, ok := c.parts[ip.Str]; ok && q != p {
			panic(fmt.Sprintf("%s in partitions %d and %d", ip.Str, q, p))
		}
		c.parts[ip.Str] = p
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// consumeUntil runs Consume until c holds want messages (or 20 s pass).
func consumeUntil(t *testing.T, b *Bus, c *collector, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, c.handle) }()
	deadline := time.Now().Add(20 * time.Second)
	for c.count() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // waiting for a real NATS server's deliveries
	}
	cancel()
	if err := <-done; err != nil {
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
	c := &collector{msgs: map[string]int{}, parts: map[string]int{}, fail: 2}
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
	c2 := &collector{msgs: map[string]int{}, parts: map[string]int{}}
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
	if info.State.Msgs != 10 {
		t.Errorf("stream holds %d messages after a retry, want 10", info.State.Msgs)
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

// Each partition is pinned to one consumer: a second one receives nothing
// while the first pulls, and takes over at once when the first stops
// cleanly (it lets go of its partitions).
func TestStandbyTakesOver(t *testing.T) {
	url := natsServer(t)
	ingest := connect(t, url, Options{Partitions: 2})
	a := connect(t, url, Options{Partitions: 2})
	b := connect(t, url, Options{Partitions: 2})
	ca := &collector{msgs: map[string]int{}, parts: map[string]int{}}
	cb := &collector{msgs: map[string]int{}, parts: map[string]int{}}
	actx, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.Consume(actx, ca.handle) }()
	if err := ingest.Publisher().Append(context.Background(), events(40, "first")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for ca.count() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // waiting for a real NATS server's deliveries
	}
	if ca.count() != 40 {
		t.Fatalf("the first consumer handled %d events, want 40", ca.count())
	}
	bctx, stopB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- b.Consume(bctx, cb.handle) }()
	if err := ingest.Publisher().Append(context.Background(), events(10, "second")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for ca.count() < 50 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // waiting for a real NATS server's deliveries
	}
	if ca.count() != 50 || cb.count() != 0 {
		t.Fatalf("while the first pulls: first %d, standby %d; want 50 and 0", ca.count(), cb.count())
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	if err := ingest.Publisher().Append(context.Background(), events(10, "third")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second) // well under the pin's ten seconds
	for cb.count() < 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // waiting for a real NATS server's deliveries
	}
	stopB()
	<-doneB
	if cb.count() != 10 {
		t.Errorf("after the first stopped: standby handled %d events, want 10", cb.count())
	}
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
	if info.State.Msgs != 10000 || b.Published() != 10000 {
		t.Errorf("stream holds %d, published %d; want 10000", info.State.Msgs, b.Published())
	}
}

// The events a publish refused keep their message ids until the retry
// publishes them, so a retry after a lost acknowledgement is stored once;
// they are published under those ids.
func TestFailedKeepIDsForRetry(t *testing.T) {
	url := natsServer(t)
	ctx := context.Background()
	b := connect(t, url, Options{Partitions: 1, MaxBytes: 4 << 10})
	p := b.Publisher()
	evs := events(200, "limited")
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
	if int(info.State.Msgs) != len(evs) {
		t.Errorf("stream holds %d messages, want %d", info.State.Msgs, len(evs))
	}
	for seq := info.State.LastSeq - uint64(len(pe.Unstored)) + 1; seq <= info.State.LastSeq; seq++ {
		m, err := b.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get("Nats-Msg-Id"); !kept[id] {
			t.Fatalf("message %d published under id %q, not the one its event kept", seq, id)
		}
	}
}
