package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/internal/config"
)

func TestStreamInputsRegistered(t *testing.T) {
	var names []string
	for _, in := range streamInputs {
		names = append(names, in.Name)
	}
	if got, want := fmt.Sprint(names), "[agents files syslog]"; got != want {
		t.Fatalf("registered inputs: got %s, want %s (in name order)", got, want)
	}
}

// TestInputsOpenOnlyWhenEnabled: an input the configuration does not
// enable opens nothing.
func TestInputsOpenOnlyWhenEnabled(t *testing.T) {
	cfg := config.Default()
	cfg.Syslog.UDP, cfg.Syslog.TCP, cfg.Syslog.TLS = "", "", ""
	cfg.Files = nil
	s := New(cfg, nil)
	for _, in := range streamInputs {
		h, err := in.Open(context.Background(), s, nil)
		if err != nil || h != nil {
			t.Errorf("%s with nothing configured: handle %v, error %v; want neither", in.Name, h, err)
		}
	}
}
