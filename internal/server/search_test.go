package server

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/searchlimit"
)

func TestSearchLimits(t *testing.T) {
	c := config.Default().Search
	if got, want := searchLimits(c), searchlimit.Defaults(); got != want {
		t.Errorf("default configuration: got %+v, want the limiter's defaults %+v", got, want)
	}
	c.QueueWait = 0
	if got := searchLimits(c).QueueWait; got >= 0 {
		t.Errorf("queue_wait 0: got wait %v, want negative (refused at once)", got)
	}
	c.QueueWait = 5 * time.Second
	if got := searchlimit.New(searchLimits(c)).Limits().QueueWait; got != 5*time.Second {
		t.Errorf("queue_wait 5s: got %v", got)
	}
}
