package ingesttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigilsec/vigil/internal/ingest"
)

func raws(data ...string) []ingest.Raw {
	out := make([]ingest.Raw, len(data))
	for i, d := range data {
		out[i] = ingest.Raw{Data: []byte(d)}
	}
	return out
}

func TestSinkOffer(t *testing.T) {
	tests := []struct {
		mode      Mode
		wantErr   error
		wantDone  error
		wantLines []string
	}{
		{Accept, nil, nil, []string{"a"}},
		{Full, ingest.ErrFull, nil, nil},
		{Closed, ingest.ErrClosed, nil, nil},
		{Unavailable, ingest.ErrUnavailable, nil, nil},
		{Fail, nil, ErrStoreFailed, nil},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			s := &Sink{Mode: tt.mode}
			done := make(chan error, 1)
			err := s.Offer(raws("a"), func(err error) { done <- err })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("mode %d: Offer: got %v, want %v", tt.mode, err, tt.wantErr)
			}
			if err == nil {
				if got := <-done; !errors.Is(got, tt.wantDone) {
					t.Errorf("mode %d: done: got %v, want %v", tt.mode, got, tt.wantDone)
				}
			}
			if diff := cmp.Diff(tt.wantLines, s.Lines(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mode %d: lines mismatch (-want +got):\n%s", tt.mode, diff)
			}
			if got := s.Offers(); got != 1 {
				t.Errorf("mode %d: offers: got %d, want 1", tt.mode, got)
			}
		})
	}
}

func TestSinkNextThenMode(t *testing.T) {
	s := &Sink{Mode: Closed}
	s.Next(Full, Accept, Unavailable)
	var got []error
	for range 5 {
		got = append(got, s.Offer(raws("x"), nil))
	}
	want := []error{ingest.ErrFull, nil, ingest.ErrUnavailable, ingest.ErrClosed, ingest.ErrClosed}
	for i := range want {
		if !errors.Is(got[i], want[i]) || (want[i] == nil) != (got[i] == nil) {
			t.Errorf("offer %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if n := s.Count(); n != 1 {
		t.Errorf("count: got %d, want 1", n)
	}
}

func TestSinkHoldRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Sink{Mode: Hold}
		var results []error
		for range 2 {
			if err := s.Offer(raws("h"), func(err error) { results = append(results, err) }); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.Held(); got != 2 {
			t.Fatalf("held: got %d, want 2", got)
		}
		cause := errors.New("gone")
		if n := s.Release(cause); n != 2 {
			t.Errorf("released: got %d, want 2", n)
		}
		if len(results) != 2 || !errors.Is(results[0], cause) || !errors.Is(results[1], cause) {
			t.Errorf("done results: got %v, want %v twice", results, cause)
		}
		if got := s.Held(); got != 0 {
			t.Errorf("held after release: got %d, want 0", got)
		}
	})
}

func TestSinkGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Sink{Gate: make(chan struct{})}
		errc := make(chan error, 2)
		go func() { errc <- s.Enqueue(context.Background(), raws("a", "b")) }()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { errc <- s.Enqueue(ctx, raws("c")) }()
		s.WaitFor(t, "two at the gate", func() bool { return s.Waiting() == 2 })
		if got := s.Count(); got != 0 {
			t.Fatalf("count while gated: got %d, want 0", got)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Enqueue: got %v, want context.Canceled", err)
		}
		close(s.Gate)
		if err := <-errc; err != nil {
			t.Fatalf("Enqueue after the gate opened: %v", err)
		}
		if diff := cmp.Diff([]string{"a", "b"}, s.WaitLines(t, 2)); diff != "" {
			t.Errorf("lines mismatch (-want +got):\n%s", diff)
		}
		if got := s.Waiting(); got != 0 {
			t.Errorf("waiting: got %d, want 0", got)
		}
	})
}

func TestSinkDiscard(t *testing.T) {
	s := &Sink{Discard: true}
	if err := s.Enqueue(context.Background(), raws("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if got, n, b := len(s.Messages()), s.Count(), s.Batches(); got != 0 || n != 3 || b != 1 {
		t.Errorf("got %d kept, count %d, %d batches; want 0, 3, 1", got, n, b)
	}
}

// TestSinkWaitWakes: a waiter wakes on the change that satisfies it, with
// no time passing.
func TestSinkWaitWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Sink{}
		ready := make(chan struct{})
		go func() {
			<-ready
			s.Enqueue(context.Background(), raws("1"))
			s.Enqueue(context.Background(), raws("2", "3"))
		}()
		close(ready)
		got := s.WaitCount(t, 3)
		if len(got) != 3 {
			t.Errorf("got %d messages, want 3", len(got))
		}
	})
}

// TestSinkWaitTimesOut: a wait that is never satisfied ends after
// WaitTimeout with what the sink holds.
func TestSinkWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Sink{}
		s.Enqueue(context.Background(), raws("only"))
		err := s.waitFor(func() bool { return s.Count() >= 2 })
		if err == nil || !strings.Contains(err.Error(), "took 1 messages in 1 batches") {
			t.Errorf("got %v, want a timeout saying the sink took 1 message", err)
		}
	})
}

func TestStatsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := NewStats()
		go func() {
			st.Received("tcp", 2)
			st.Rejected("tcp", "too_large", 1)
			st.Rejected("tcp", "too_large", 1)
		}()
		st.WaitRejected(t, "tcp", "too_large", 2)
		st.WaitReceived(t, "tcp", 2)
		if got := st.RejectedCount("tcp", "bad_frame"); got != 0 {
			t.Errorf("bad_frame: got %d, want 0", got)
		}
		if waitFor(&st.mu, &st.changed, func() bool { return st.ReceivedCount("tcp") > 2 }) {
			t.Error("a wait for what never happens: got true, want a timeout")
		}
	})
}
