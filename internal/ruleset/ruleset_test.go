package ruleset

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/sigma"
)

func TestBuiltinRulesLoadCleanly(t *testing.T) {
	l, err := Load(Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Errors {
		t.Errorf("load error: %v", e)
	}
	for _, s := range l.Skipped {
		t.Errorf("skipped %s: %v", s.Rule.Title, s.Reason)
	}
	if len(l.Set.Rules) < 10 {
		t.Errorf("got %d built-in rules, want at least 10", len(l.Set.Rules))
	}
	for _, r := range l.Set.Rules {
		for _, is := range sigma.Lint(r) {
			if is.Severity == sigma.SeverityError {
				t.Errorf("lint %s: %v", r.Title, is)
			}
		}
	}
}

// scenario parses syslog lines and returns the titles of the rules that
// fire, in order.
func scenario(t *testing.T, lines []string) []string {
	t.Helper()
	l, err := Load(Options{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	p := parse.New(parse.Options{})
	var got []string
	base := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	for i, line := range lines {
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: []byte(line), Format: ingest.FormatSyslog, Input: "test", Received: base.Add(time.Duration(i) * time.Second)}, ev)
		l.Engine.Match(ev, func(d detect.Detection) { got = append(got, d.Rule.Title) })
	}
	return got
}

func count(titles []string, title string) int {
	n := 0
	for _, x := range titles {
		if x == title {
			n++
		}
	}
	return n
}

func TestSSHBruteForceThenSuccess(t *testing.T) {
	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf("<38>Nov 22 04:00:%02d web1 sshd[%d]: Failed password for root from 203.0.113.9 port %d ssh2", i, 100+i, 40000+i))
	}
	lines = append(lines, "<38>Nov 22 04:00:30 web1 sshd[200]: Accepted password for root from 203.0.113.9 port 41000 ssh2")
	got := scenario(t, lines)
	if n := count(got, "SSH brute force from one source"); n < 1 {
		t.Errorf("brute force fired %d times, want at least 1 (got %v)", n, got)
	}
	if n := count(got, "SSH login succeeds after brute force"); n != 1 {
		t.Errorf("brute force then success fired %d times, want 1 (got %v)", n, got)
	}
}

func TestNoBruteForceBelowThreshold(t *testing.T) {
	var lines []string
	for i := range 9 {
		lines = append(lines, fmt.Sprintf("<38>Nov 22 04:00:%02d web1 sshd[%d]: Failed password for root from 203.0.113.9 port %d ssh2", i, 100+i, 40000+i))
	}
	got := scenario(t, lines)
	if n := count(got, "SSH brute force from one source"); n != 0 {
		t.Errorf("brute force fired %d times for 9 failures, want 0", n)
	}
}

func TestLinuxPrivilegeRules(t *testing.T) {
	got := scenario(t, []string{
		"<86>Nov 22 04:01:00 web1 sudo:    mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash",
		"<86>Nov 22 04:02:00 web1 useradd[900]: new user: name=backdoor, UID=1001, GID=1001, home=/home/backdoor, shell=/bin/bash, from=/dev/pts/1",
	})
	for _, want := range []string{"Sudo refused for a user not in sudoers", "Local user account created"} {
		if count(got, want) != 1 {
			t.Errorf("%q fired %d times, want 1 (got %v)", want, count(got, want), got)
		}
	}
}

// TestTemporalOrderedNeedsBothRules checks that "brute force then success"
// does not fire on the brute force alone.
func TestTemporalOrderedNeedsBothRules(t *testing.T) {
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("<38>Nov 22 04:00:%02d web1 sshd[%d]: Failed password for root from 198.51.100.77 port %d ssh2", i, 100+i, 40000+i))
	}
	got := scenario(t, lines)
	if n := count(got, "SSH login succeeds after brute force"); n != 0 {
		t.Errorf("brute force then success fired %d times without any accepted login", n)
	}
	if n := count(got, "SSH brute force from one source"); n == 0 {
		t.Errorf("brute force did not fire")
	}
}
