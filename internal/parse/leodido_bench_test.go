package parse

import (
	"testing"

	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

// The benchmarks below measure github.com/leodido/go-syslog on the same
// lines as BenchmarkParseSSHD3164 and BenchmarkParseRFC5424, header parsing
// only (no event fields, no app parser). They are the reason the syslog
// decoder is hand-written: see decodeSyslog.

func BenchmarkLeodidoRFC3164(b *testing.B) {
	m := rfc3164.NewParser(rfc3164.WithBestEffort(), rfc3164.WithYear(rfc3164.CurrentYear{}), rfc3164.WithRFC3339())
	data := []byte(benchSSHD)
	if _, err := m.Parse(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := sharedtest.ProcessCPU()
	for b.Loop() {
		if _, err := m.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}

func BenchmarkLeodidoRFC5424(b *testing.B) {
	m := rfc5424.NewParser(rfc5424.WithBestEffort())
	data := []byte(bench5424)
	if _, err := m.Parse(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := sharedtest.ProcessCPU()
	for b.Loop() {
		if _, err := m.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}
