package loadgen

import (
	"strings"
	"testing"
	"time"
)

// Every line of a run carries the run's start time (so that a store which
// refuses events older than its retention takes them) and its host name.
func TestLinesCarryTheRunsTime(t *testing.T) {
	h := newHeader("bench-x", time.Date(2026, 12, 7, 18, 50, 3, 0, time.FixedZone("CET", 3600)))
	want := map[string][]string{
		"sshd":  {"<38>Dec  7 17:50:03 bench-x sshd["},
		"nginx": {"<190>Dec  7 17:50:03 bench-x nginx: ", "[07/Dec/2026:17:50:03 +0000]"},
		"json":  {"<134>Dec  7 17:50:03 bench-x payments: {"},
	}
	for kind, parts := range want {
		line := string(kinds[kind](nil, 5, h))
		for _, p := range parts {
			if !strings.Contains(line, p) {
				t.Errorf("%s line %q: want %q in it", kind, line, p)
			}
		}
	}
	if a := string(appendAttack(nil, 3, 10, h)); !strings.HasPrefix(a, "<38>Dec  7 17:50:03 bench-x sshd[") {
		t.Errorf("attack line %q: want the run's time and host", a)
	}
}
