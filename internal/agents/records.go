package agents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Log shipping.
const (
	// Input is the ingest.Raw Input of the agents' records.
	Input = "agent"
	// RecordsPerSecond bounds one agent's records: past it the server
	// reads that agent's connection more slowly (the agent keeps the rest
	// in its buffer); nothing is dropped.
	RecordsPerSecond = 5000
	// retryDelay is the wait before a batch the pipeline could not take
	// is offered again.
	retryDelay = 200 * time.Millisecond
	// shutdownGrace bounds the wait, once the listener closes, for the
	// verdict on a batch the pipeline took.
	shutdownGrace = 5 * time.Second
	// MaxBatchesInFlight bounds the batches decoded and delivered at once
	// over all agents: each holds up to agentwire.MaxBatchBytes of lines,
	// so the memory they take is bounded whatever the number of agents.
	// Past it a batch waits for a slot (its agent's connection is read
	// no further meanwhile).
	MaxBatchesInFlight = 64
	// maxAgentTimeSkew bounds how far an agent's read time may be from the
	// server's to be kept as the record's receipt time.
	maxAgentTimeSkew = 24 * time.Hour
)

// SetSink sets where the agents' records go (the pipeline) and what
// counts them (nil: nothing); until it is set, records frames are
// refused.
func (s *Service) SetSink(sink ingest.Sink, stats ingest.Stats) {
	s.mu.Lock()
	s.sink, s.stats = sink, stats
	s.mu.Unlock()
}

func (s *Service) count(stored, duplicates, truncated int, reject string) {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	if st == nil {
		return
	}
	if stored > 0 {
		st.Received(Input, stored)
	}
	if duplicates > 0 {
		st.Rejected(Input, "duplicate", duplicates)
	}
	if truncated > 0 {
		st.Rejected(Input, "truncated", truncated)
	}
	if reject != "" {
		st.Rejected(Input, reject, 1)
	}
}

// lastSeq returns the highest record number stored for the agent (0:
// none) and its hostname.
func (s *Service) lastSeq(ctx context.Context, id string) (uint64, string, error) {
	var host string
	if err := s.db.QueryRowContext(ctx, `SELECT hostname FROM agents WHERE id = ?`, id).Scan(&host); err != nil {
		return 0, "", fmt.Errorf("loading agent %s: %w", id, err)
	}
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM agent_log_seq WHERE agent = ?`, id).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("loading agent %s's last record: %w", id, err)
	}
	return uint64(seq), host, nil
}

// storeSeq records that the agent's records up to seq are stored; it
// never moves backwards.
func (s *Service) storeSeq(ctx context.Context, id string, seq uint64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO agent_log_seq (agent, seq) VALUES (?, ?)
		ON CONFLICT (agent) DO UPDATE SET seq = excluded.seq WHERE agent_log_seq.seq < excluded.seq`, id, int64(seq))
	if err != nil {
		return fmt.Errorf("recording agent %s's last record: %w", id, err)
	}
	return nil
}

// bucket is a token bucket of records per second, holding one second's
// worth.
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

// take takes n tokens at now and returns how long to wait before the
// records may go on (0: at once).
func (b *bucket) take(now time.Time, n int) time.Duration {
	if b.last.IsZero() {
		b.tokens = b.rate
	} else {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// records stores a batch: the records after the last one stored become
// raw messages for the pipeline, and once the pipeline reports them
// durable the batch's last number is recorded and acknowledged.
func (s *Service) records(ctx context.Context, c net.Conn, id string, se *session, b *agentwire.Batch) error {
	select {
	case s.batchSlots <- struct{}{}:
	default:
		if s.batchWait != nil {
			s.batchWait()
		}
		select {
		case s.batchSlots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-s.batchSlots }()
	recs, err := agentwire.DecodeBatch(b)
	if err != nil {
		s.count(0, 0, 0, "bad_frame")
		return err
	}
	s.mu.Lock()
	sink := s.sink
	s.mu.Unlock()
	if sink == nil {
		return errors.New("records refused: no pipeline")
	}
	if wait := se.bucket.take(s.o.Now(), len(recs)); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	last := recs[len(recs)-1].Seq
	now := s.o.Now()
	var msgs []ingest.Raw
	truncated, badFIM := 0, 0
	for _, r := range recs {
		if r.Seq <= se.seq {
			continue // a resend after a lost acknowledgement
		}
		at := time.Unix(0, r.Time)
		if d := now.Sub(at); d > maxAgentTimeSkew || d < -maxAgentTimeSkew {
			at = now
		}
		if r.Truncated {
			truncated++
		}
		raw := ingest.Raw{Data: r.Line, Format: ingest.FormatAuto, Input: Input, Received: at, Peer: se.conn.RemoteAddr().String(),
			Truncated: r.Truncated, Fields: map[string]string{
				"agent.id": id, "agent.type": "vigil-agent", "host.id": id, "host.hostname": se.hostname, "log.file.path": r.Path,
			}}
		if r.Kind == agentwire.KindFIM {
			// A file integrity event: checked, and stored as the
			// structured document it becomes.
			doc, err := fimDoc(r.Line, at)
			if err != nil {
				badFIM++
				s.o.Log.Warn("agent fim record refused", "agent", id, "seq", r.Seq, "err", err)
				continue
			}
			raw.Data, raw.Format = doc, ingest.FormatJSON
			delete(raw.Fields, "log.file.path")
		}
		msgs = append(msgs, raw)
	}
	if len(msgs) > 0 {
		if err := s.deliver(ctx, sink, id, last, msgs); err != nil {
			return err
		}
	}
	s.count(len(msgs), len(recs)-len(msgs)-badFIM, truncated, "")
	se.seq = max(se.seq, last)
	s.mu.Lock()
	se.stored += int64(len(msgs))
	se.duplicates += int64(len(recs) - len(msgs) - badFIM)
	st := s.stats
	s.mu.Unlock()
	if badFIM > 0 && st != nil {
		st.Rejected(Input, "bad_fim", badFIM)
	}
	return writeAck(c, se.seq)
}

// deliver offers msgs until the pipeline takes them and reports them
// stored; the stored number is recorded by the pipeline's callback, so
// that it is recorded even when the connection is gone by then.
func (s *Service) deliver(ctx context.Context, sink ingest.Sink, id string, last uint64, msgs []ingest.Raw) error {
	for {
		done := make(chan error, 1)
		var once sync.Once
		err := sink.Offer(msgs, func(err error) {
			var re *ingest.RefusedError
			if errors.As(err, &re) {
				// Refused for good (out of the store's time range): a
				// resend would be refused again.
				s.o.Log.Warn("agent records refused by the store", "agent", id, "refused", re.Refused, "err", re.Err)
				err = nil
			}
			if err != nil {
				once.Do(func() { done <- err })
				return
			}
			// Not on the pipeline's goroutine, which calls done: the
			// write may take a database round trip. It ends within its
			// timeout, even when the connection is gone by then.
			go func() {
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := s.storeSeq(sctx, id, last)
				cancel()
				once.Do(func() { done <- err })
			}()
		})
		if err == nil {
			select {
			case err = <-done:
			case <-ctx.Done():
				select {
				case err = <-done:
				case <-time.After(shutdownGrace):
					return ctx.Err()
				}
			}
			if err == nil {
				return nil
			}
			s.o.Log.Warn("agent records not stored, retrying", "agent", id, "records", len(msgs), "err", err)
		}
		if errors.Is(err, ingest.ErrClosed) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryDelay):
		}
	}
}

func writeAck(c net.Conn, seq uint64) error {
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeAck, Ack: &agentwire.Ack{Seq: seq}}); err != nil {
		return fmt.Errorf("acknowledging records: %w", err)
	}
	return nil
}
