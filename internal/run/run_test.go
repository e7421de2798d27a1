package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// journal records what the actors did, in order.
type journal struct {
	mu  sync.Mutex
	log []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.log = append(j.log, s)
	j.mu.Unlock()
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.log, " ")
}

func actor(j *journal, name string, startErr error) Actor {
	return Actor{
		Name: name,
		Start: func(context.Context) error {
			j.add("start:" + name)
			return startErr
		},
		Stop: func(context.Context) error {
			j.add("stop:" + name)
			return nil
		},
	}
}

func TestOrder(t *testing.T) {
	j := &journal{}
	g := New(nil)
	for _, n := range []string{"store", "pipeline", "inputs"} {
		g.Add(actor(j, n, nil))
	}
	if err := g.Start(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	want := "start:store start:pipeline start:inputs stop:inputs stop:pipeline stop:store"
	if got := j.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFailedStartStopsWhatStarted(t *testing.T) {
	j := &journal{}
	g := New(nil)
	g.Add(actor(j, "store", nil))
	g.Add(actor(j, "pipeline", nil))
	g.Add(actor(j, "inputs", errors.New("address in use")))
	g.Add(actor(j, "http", nil))
	err := g.Start(context.Background(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "starting inputs: address in use") {
		t.Fatalf("got %v, want the inputs' failure", err)
	}
	want := "start:store start:pipeline start:inputs stop:pipeline stop:store"
	if got := j.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStopErrorsDoNotStopTheStopping(t *testing.T) {
	j := &journal{}
	g := New(nil)
	g.Add(actor(j, "store", nil))
	g.Add(Actor{Name: "pipeline", Stop: func(context.Context) error { j.add("stop:pipeline"); return errors.New("spool full") }})
	g.Add(actor(j, "inputs", nil))
	g.Start(context.Background(), time.Second)
	err := g.Stop(time.Second)
	if err == nil || !strings.Contains(err.Error(), "stopping pipeline: spool full") {
		t.Fatalf("got %v, want the pipeline's failure", err)
	}
	if got, want := j.String(), "start:store start:inputs stop:inputs stop:pipeline stop:store"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStopDeadlinesByShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		g := New(nil)
		for _, a := range []struct {
			name  string
			share int
		}{{"store", 0}, {"pipeline", 80}, {"inputs", 50}} {
			g.Add(Actor{Name: a.name, Share: a.share, Stop: func(ctx context.Context) error {
				dl, _ := ctx.Deadline()
				got = append(got, fmt.Sprintf("%s:%v", a.name, time.Until(dl)))
				return nil
			}})
		}
		g.Start(context.Background(), 10*time.Second)
		g.Stop(10 * time.Second)
		want := "inputs:5s pipeline:8s store:10s"
		if strings.Join(got, " ") != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func TestGoStopsBeforeActors(t *testing.T) {
	j := &journal{}
	g := New(nil)
	g.Add(actor(j, "alerts", nil))
	g.Start(context.Background(), time.Second)
	started := make(chan struct{})
	g.Go("reload", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		j.add("end:reload")
		return ctx.Err()
	})
	<-started
	g.Stop(time.Second)
	if got, want := j.String(), "start:alerts end:reload stop:alerts"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !g.Stopping() {
		t.Fatal("Stopping is false after Stop")
	}
	ran := false
	g.Go("late", func(context.Context) error { ran = true; return nil })
	if ran {
		t.Fatal("a job started after Stop ran")
	}
}

func TestWaitReturnsAJobsFailure(t *testing.T) {
	g := New(nil)
	g.Go("http", func(context.Context) error { return errors.New("listener closed") })
	err := g.Wait(context.Background())
	if err == nil || err.Error() != "http: listener closed" {
		t.Fatalf("got %v, want the job's failure", err)
	}
	g.Stop(time.Second)

	g = New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("Wait after its context ended: %v, want nil", err)
	}
}

func TestFailEndsWait(t *testing.T) {
	g := New(nil)
	g.Fail(errors.New("http: listener closed"))
	g.Fail(errors.New("second")) // logged, not kept
	if err := g.Wait(context.Background()); err == nil || err.Error() != "http: listener closed" {
		t.Fatalf("got %v, want the first failure", err)
	}
}
