package evtx

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkReadAll reads and renders every record of every sample file
// (held in memory, so the figure is the parser's, not the disk's),
// through the io.ReaderAt path that Open uses.
func BenchmarkReadAll(b *testing.B) { benchReadAll(b, false) }

// BenchmarkReadAllBytes is BenchmarkReadAll through FromBytes, which
// parses the chunks in place instead of copying them.
func BenchmarkReadAllBytes(b *testing.B) { benchReadAll(b, true) }

func benchReadAll(b *testing.B, inPlace bool) {
	files := sampleFiles(b)
	data := make([][]byte, len(files))
	for i, path := range files {
		d, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		data[i] = d
	}
	var dst []byte
	records := 0
	cpu0 := threadCPU()
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range data {
			var f *File
			var err error
			if inPlace {
				f, err = FromBytes(d)
			} else {
				f, err = NewReader(bytes.NewReader(d), int64(len(d)))
			}
			if err != nil {
				b.Fatal(err)
			}
			err = f.Records(func(r *Record) error {
				dst = r.AppendJSON(dst[:0])
				records++
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	// On a shared machine wall time includes waiting for a core; the
	// process's CPU time does not.
	if cpu := threadCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	}
}

// threadCPU returns the CPU time the process has used (user and system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParseOnly reads every record of every sample file without
// rendering it: the cost of reading, checksums and BinXML expansion.
func BenchmarkParseOnly(b *testing.B) {
	files := sampleFiles(b)
	data := make([][]byte, len(files))
	for i, path := range files {
		d, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		data[i] = d
	}
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range data {
			f, err := NewReader(bytes.NewReader(d), int64(len(d)))
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Records(func(r *Record) error { records++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
