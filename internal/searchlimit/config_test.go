package searchlimit

import (
	"testing"
	"time"
)

func TestConfigLimits(t *testing.T) {
	c := DefaultConfig()
	if got, want := c.Limits(), Defaults(); got != want {
		t.Errorf("default configuration: got %+v, want the limiter's defaults %+v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("default configuration: %v", err)
	}
	c.QueueWait = 0
	if got := c.Limits().QueueWait; got >= 0 {
		t.Errorf("queue_wait 0: got wait %v, want negative (refused at once)", got)
	}
	c.QueueWait = 5 * time.Second
	if got := New(c.Limits()).Limits().QueueWait; got != 5*time.Second {
		t.Errorf("queue_wait 5s: got %v", got)
	}
}
