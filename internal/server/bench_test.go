package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/loadgen"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// peakRSS is the process's peak resident set (VmHWM) in bytes, or 0 where
// /proc is not available.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkServeIngest is the whole ingest path in one process: a server
// on the embedded store with its default configuration (built-in rules,
// detection, alerts), fed by the load generator of `vigil bench ingest`
// over syslog TCP on 4 connections, each op being 1,000 events, until
// every event is searchable. It reports end-to-end events/s and the CPU the
// process spent per event (server and load generator together; the
// generator's share is small: it formats lines into a buffer and writes
// it), and the process's peak RSS.
//
// GOGC=150 is vigil serve's default (a test binary has Go's, 100):
//
//	GOGC=150 go test ./internal/server -run '^$' -bench ServeIngest -benchtime 2000x
func BenchmarkServeIngest(b *testing.B) {
	const token = "bench-ingest-token-0123456789"
	cfg := config.Default()
	cfg.Data = b.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Syslog.UDP, cfg.Syslog.TLS = "", ""
	cfg.Syslog.TCP = "127.0.0.1:0"
	cfg.BootstrapToken = token
	s, ctx := startServer(b, cfg)
	events := b.N * 1000
	b.ResetTimer()
	cpu0 := sharedtest.ProcessCPU()
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Target:      fmt.Sprintf("tcp://%s", s.SyslogAddr.TCP),
		API:         "http://" + s.HTTPAddr.String(),
		Token:       token,
		Events:      events,
		Connections: 4,
		Wait:        10 * time.Minute,
	})
	cpu := sharedtest.ProcessCPU() - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if rep.Stored != int64(events) {
		b.Fatalf("stored %d of %d events", rep.Stored, events)
	}
	b.ReportMetric(rep.StoreRate(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(events), "cpu-µs/event")
	b.ReportMetric(peakRSS()/(1<<20), "peak-RSS-MiB")
}
