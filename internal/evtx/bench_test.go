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
	data := sampleData(b)
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
	data := sampleData(b)
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

// sysmonLikeFile builds a one-chunk file of n process-creation records in
// the shape Windows writes them: the first record defines the template
// inline, the others refer to it by offset, each with its own values.
func sysmonLikeFile(n int) []byte {
	fields := []string{"RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion",
		"Description", "Product", "Company", "OriginalFileName", "CommandLine", "CurrentDirectory",
		"User", "LogonGuid", "LogonId", "TerminalSessionId", "IntegrityLevel", "Hashes",
		"ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine", "ParentUser"}
	types := map[string]byte{"ProcessGuid": vGUID, "LogonGuid": vGUID, "ParentProcessGuid": vGUID,
		"ProcessId": vUint32, "ParentProcessId": vUint32, "TerminalSessionId": vUint32, "LogonId": vHex64}
	body := func(x *bx) {
		x.open("Event", true)
		x.attr("xmlns")
		x.text("http://schemas.microsoft.com/win/2004/08/events/event")
		x.closeStart()
		x.open("System", false)
		x.closeStart()
		x.open("Provider", true)
		x.attr("Name")
		x.text("Microsoft-Windows-Sysmon")
		x.attr("Guid")
		x.text("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
		x.closeEmpty()
		for i, name := range []string{"EventID", "Version", "Level", "Task", "Opcode", "Keywords"} {
			x.open(name, false)
			x.closeStart()
			x.subst(i, vUint16, false)
			x.end()
		}
		x.open("TimeCreated", true)
		x.attr("SystemTime")
		x.subst(6, vFileTime, false)
		x.closeEmpty()
		x.open("EventRecordID", false)
		x.closeStart()
		x.subst(7, vUint64, false)
		x.end()
		x.open("Correlation", true)
		x.attr("ActivityID")
		x.subst(8, vGUID, true)
		x.closeEmpty()
		x.open("Channel", false)
		x.closeStart()
		x.text("Microsoft-Windows-Sysmon/Operational")
		x.end()
		x.open("Computer", false)
		x.closeStart()
		x.subst(9, vString, false)
		x.end()
		x.end()
		x.open("EventData", false)
		x.closeStart()
		for i, f := range fields {
			x.open("Data", true)
			x.attr("Name")
			x.text(f)
			x.closeStart()
			t := types[f]
			if t == 0 {
				t = vString
			}
			x.subst(10+i, t, false)
			x.end()
		}
		x.end()
		x.end()
	}
	values := func(rec int) []sub {
		s := []sub{{typ: vUint16, data: le16(1)}, {typ: vUint8, data: []byte{5}}, {typ: vUint8, data: []byte{4}},
			{typ: vUint16, data: le16(1)}, {typ: vUint8, data: []byte{0}}, {typ: vHex64, data: le64(0x8000000000000000)},
			{typ: vFileTime, data: le64(133000000000000000 + uint64(rec)*12345)}, {typ: vUint64, data: le64(uint64(1000 + rec))},
			{typ: vNull}, {typ: vString, data: utf16le("workstation.example.com\x00")}}
		for _, f := range fields {
			switch types[f] {
			case vGUID:
				s = append(s, sub{typ: vGUID, data: bytes.Repeat([]byte{byte(rec)}, 16)})
			case vUint32:
				s = append(s, sub{typ: vUint32, data: le32(uint32(4000 + rec))})
			case vHex64:
				s = append(s, sub{typ: vHex64, data: le64(0x33e8d150)})
			default:
				s = append(s, sub{typ: vString, data: utf16le(`C:\Windows\System32\` + f + `.exe --flag "quoted" value` + "\x00")})
			}
		}
		return s
	}
	var defOff int
	bodies := []func(x *bx){func(x *bx) {
		x.fragment()
		defOff = x.pos() + 10
		x.template(body, values(0))
		x.eof()
	}}
	for i := 1; i < n; i++ {
		bodies = append(bodies, func(x *bx) {
			x.fragment()
			x.templateRef(defOff, values(i))
			x.eof()
		})
	}
	return buildFile(bodies...)
}

// BenchmarkFullChunk reads and renders a chunk of 24 records sharing one
// template, as in files written by Windows: the steady state of reading a
// large log, where the chunk's reading and checksums are shared by its
// records.
func BenchmarkFullChunk(b *testing.B) {
	data := sysmonLikeFile(24)
	var dst []byte
	records := 0
	cpu0 := threadCPU()
	b.ReportAllocs()
	for b.Loop() {
		f, err := FromBytes(data)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Records(func(r *Record) error {
			dst = r.AppendJSON(dst[:0])
			records++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if cpu := threadCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	}
}

// BenchmarkFields reads every record of every sample file and flattens it
// with Fields instead of rendering JSON.
func BenchmarkFields(b *testing.B) {
	data := sampleData(b)
	var text []byte
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range data {
			f, err := NewReader(bytes.NewReader(d), int64(len(d)))
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Records(func(r *Record) error {
				records++
				r.Fields(func(name string, v Value) { text = v.AppendText(text[:0]) })
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// sampleData reads every sample file into memory.
func sampleData(b *testing.B) [][]byte {
	files := sampleFiles(b)
	data := make([][]byte, len(files))
	for i, path := range files {
		d, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		data[i] = d
	}
	return data
}
