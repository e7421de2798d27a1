package agents

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// memSink stores what it is offered and reports it durable.
type memSink struct {
	mu   sync.Mutex
	msgs []ingest.Raw
}

func (m *memSink) Enqueue(_ context.Context, msgs []ingest.Raw) error {
	return m.Offer(msgs, nil)
}

func (m *memSink) Offer(msgs []ingest.Raw, done func(error)) error {
	m.mu.Lock()
	m.msgs = append(m.msgs, msgs...)
	m.mu.Unlock()
	if done != nil {
		go done(nil)
	}
	return nil
}

func (m *memSink) lines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.msgs {
		out = append(out, string(r.Data))
	}
	return out
}

func sendRecords(t *testing.T, c *tls.Conn, from, to uint64) uint64 {
	t.Helper()
	var recs []agentwire.Record
	for i := from; i <= to; i++ {
		recs = append(recs, agentwire.Record{Seq: i, Time: time.Now().UnixNano(), Path: "/var/log/app.log", Line: fmt.Appendf(nil, "line %d", i)})
	}
	b, err := agentwire.EncodeBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: b}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := agentwire.ReadFrame(c, 0)
	if err != nil {
		t.Fatalf("waiting for the ack of %d to %d: %v", from, to, err)
	}
	if f.Type != agentwire.TypeAck {
		t.Fatalf("got a %q frame, want an ack", f.Type)
	}
	return f.Ack.Seq
}

// TestRecordsExactlyOnce: records become raw messages naming the agent,
// are acknowledged once stored, and a resend (after a lost ack, or on a
// new connection) is dropped, on both metadata engines.
func TestRecordsExactlyOnce(t *testing.T) { metatest.Engines(t, testRecordsExactlyOnce) }

func testRecordsExactlyOnce(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	sink := &memSink{}
	stats := &countStats{}
	s.SetSink(sink, stats)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, _, _ := s.CreateToken(ctx, "t", time.Hour, 10)
	h := newHost(t, "m1", "web-1")
	res, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.CA))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(h.key)
	pair, _ := tls.X509KeyPair([]byte(res.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c, err := dialAgent(t, l.Addr().String(), pool, pair, accepted)
	if err != nil {
		t.Fatal(err)
	}
	if got := sendRecords(t, c, 1, 3); got != 3 {
		t.Errorf("ack: got %d, want 3", got)
	}
	// A resend overlapping what is stored: only 4 and 5 are new.
	if got := sendRecords(t, c, 2, 5); got != 5 {
		t.Errorf("ack: got %d, want 5", got)
	}
	c.Close()
	// A new connection: the first ack is the stored number, from the
	// database; a full resend stores nothing.
	c, err = tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: agentwire.ServerName, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := agentwire.ReadFrame(c, 0)
	if err != nil || f.Type != agentwire.TypeAck || f.Ack.Seq != 5 {
		t.Fatalf("first frame of a new connection: got %+v, %v; want ack 5", f, err)
	}
	if got := sendRecords(t, c, 1, 6); got != 6 {
		t.Errorf("ack: got %d, want 6", got)
	}
	got := sink.lines()
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5", "line 6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored: got %q, want %q", got, want)
	}
	sink.mu.Lock()
	m := sink.msgs[0]
	sink.mu.Unlock()
	if m.Input != Input || m.Fields["host.id"] != res.AgentID || m.Fields["agent.id"] != res.AgentID || m.Fields["host.hostname"] != "web-1" || m.Fields["log.file.path"] != "/var/log/app.log" {
		t.Errorf("message: got input %q fields %v, want the agent named", m.Input, m.Fields)
	}
	stats.mu.Lock()
	if got, want := fmt.Sprint(stats.n), "map[agent received:6 agent rejected duplicate:7]"; got != want {
		t.Errorf("counts: got %s, want %s", got, want)
	}
	stats.mu.Unlock()
	// A malformed batch closes the connection.
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: &agentwire.Batch{Data: []byte("not deflate")}}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := agentwire.ReadFrame(c, 0); err == nil {
		t.Errorf("after a malformed batch: got a %q frame, want the connection closed", f.Type)
	}
}

// TestBucket: an agent's records are held to the rate: within one
// second's burst they go at once, past it they wait for the deficit.
func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := bucket{rate: 1000}
	tests := []struct {
		at   time.Duration
		n    int
		want time.Duration
	}{
		{0, 1000, 0},                     // the whole burst
		{0, 500, 500 * time.Millisecond}, // past it: half a second of deficit
		{time.Second, 400, 0},            // refilled 1000 - 500 owed
		{time.Second, 200, 100 * time.Millisecond},
		{10 * time.Second, 1000, 0}, // refilled to the burst, not beyond
		{10 * time.Second, 1, time.Millisecond},
	}
	for i, tt := range tests {
		if got := b.take(t0.Add(tt.at), tt.n); got != tt.want {
			t.Errorf("step %d: take(%v, %d): got wait %v, want %v", i, tt.at, tt.n, got, tt.want)
		}
	}
}

// flakySink answers full, then fails a batch, then stores it.
type flakySink struct {
	memSink
	calls int
}

func (f *flakySink) Offer(msgs []ingest.Raw, done func(error)) error {
	f.calls++
	switch f.calls {
	case 1:
		return ingest.ErrFull
	case 2:
		go done(errors.New("store failing"))
		return nil
	}
	return f.memSink.Offer(msgs, done)
}

// TestDeliverRetries: a batch the pipeline cannot take, or fails to
// store, is offered again; its number is recorded only once it is
// stored.
func TestDeliverRetries(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	sink := &flakySink{}
	if err := s.deliver(ctx, sink, "a1", 7, []ingest.Raw{{Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if sink.calls != 3 || len(sink.lines()) != 1 {
		t.Errorf("got %d offers, %d stored; want 3 offers, 1 stored", sink.calls, len(sink.lines()))
	}
	var seq int64
	if err := s.db.QueryRowContext(ctx, `SELECT seq FROM agent_log_seq WHERE agent = ?`, "a1").Scan(&seq); err != nil || seq != 7 {
		t.Errorf("recorded: got %d, %v; want 7", seq, err)
	}
	// The number never moves backwards.
	if err := s.storeSeq(ctx, "a1", 3); err != nil {
		t.Fatal(err)
	}
	s.db.QueryRowContext(ctx, `SELECT seq FROM agent_log_seq WHERE agent = ?`, "a1").Scan(&seq)
	if seq != 7 {
		t.Errorf("after storing 3: got %d, want 7 kept", seq)
	}
	// A closed pipeline ends the delivery.
	closed := &closedSink{}
	if err := s.deliver(ctx, closed, "a1", 8, []ingest.Raw{{Data: []byte("x")}}); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("closed pipeline: got %v, want ErrClosed", err)
	}
}

type closedSink struct{ memSink }

func (*closedSink) Offer([]ingest.Raw, func(error)) error { return ingest.ErrClosed }

// countStats counts what the agents' input reports.
type countStats struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countStats) Received(input string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[input+" received"] += n
}

func (c *countStats) Rejected(input, reason string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[input+" rejected "+reason] += n
}

// TestBatchSlots: past MaxBatchesInFlight batches at once over all
// agents, a batch waits for a slot, then is stored.
func TestBatchSlots(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	sink := &memSink{}
	s.SetSink(sink, nil)
	waiting := make(chan struct{}, 1)
	s.batchWait = func() { waiting <- struct{}{} }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, _, _ := s.CreateToken(ctx, "t", time.Hour, 10)
	h := newHost(t, "m1", "web-1")
	res, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.CA))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(h.key)
	pair, _ := tls.X509KeyPair([]byte(res.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c, err := dialAgent(t, l.Addr().String(), pool, pair, accepted)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Every slot taken, as by MaxBatchesInFlight other agents.
	for range MaxBatchesInFlight {
		s.batchSlots <- struct{}{}
	}
	b, err := agentwire.EncodeBatch([]agentwire.Record{{Seq: 1, Line: []byte("a")}, {Seq: 2, Line: []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: b}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch did not wait for a slot within 10 s")
	}
	if got := len(sink.lines()); got != 0 {
		t.Errorf("got %d lines stored while every slot is taken, want 0", got)
	}
	<-s.batchSlots
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := agentwire.ReadFrame(c, 0); err != nil || f.Type != agentwire.TypeAck || f.Ack.Seq != 2 {
		t.Errorf("once a slot is free: got %+v, %v; want ack 2", f, err)
	}
	if got := len(sink.lines()); got != 2 {
		t.Errorf("got %d lines stored, want 2", got)
	}
}
