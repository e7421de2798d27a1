package intel

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// The benchmark corpus: one million indicators in the proportions of a
// typical mix of feeds.
const (
	benchIPv4   = 400_000
	benchCIDR4  = 50_000
	benchIPv6   = 40_000
	benchCIDR6  = 10_000
	benchDomain = 200_000
	benchURL    = 100_000
	benchHash   = 50_000 // each of MD5, SHA-1 and SHA-256
	benchEmail  = 50_000
)

var (
	benchOnce sync.Once
	benchInds []Indicator
	benchMem  uint64 // heap held by benchInds
	benchHit  struct{ ip, domain, sha256, url string }
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchIndicators returns the corpus, built once per process.
func benchIndicators() []Indicator {
	benchOnce.Do(func() {
		before := heapInUse()
		rng := rand.New(rand.NewPCG(7, 11))
		ctxs := make([]*Context, 8)
		for i := range ctxs {
			ctxs[i] = &Context{Feed: fmt.Sprintf("feed-%d", i), Description: "generated for the benchmark", Tags: []string{"bench"}}
		}
		inds := make([]Indicator, 0, 1_000_000)
		add := func(k Kind, v string) {
			inds = append(inds, Indicator{Value: v, Kind: k, Confidence: 50, Context: ctxs[len(inds)%len(ctxs)]})
		}
		// IPv4 indicators stay within 1.0.0.0-126.255.255.255 so that the
		// miss event's documentation addresses are not covered.
		v4 := func() netip.Addr {
			u := 1<<24 + rng.Uint32N(126<<24)
			return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
		}
		v6 := func() netip.Addr {
			var b [16]byte
			b[0], b[1] = 0x24, 0x00
			for i := 2; i < 16; i++ {
				b[i] = byte(rng.Uint32())
			}
			return netip.AddrFrom16(b)
		}
		for range benchIPv4 {
			add(KindIP, v4().String())
		}
		for range benchCIDR4 {
			add(KindIP, netip.PrefixFrom(v4(), 16+rng.IntN(15)).Masked().String())
		}
		for range benchIPv6 {
			add(KindIP, v6().String())
		}
		for range benchCIDR6 {
			add(KindIP, netip.PrefixFrom(v6(), 32+rng.IntN(33)).Masked().String())
		}
		for i := range benchDomain {
			add(KindDomain, fmt.Sprintf("w%d.bad%d.example", rng.Uint32(), i%5000))
		}
		for i := range benchURL {
			add(KindURL, fmt.Sprintf("http://h%d.example/path/%d/payload.bin", i%20000, rng.Uint32()))
		}
		for _, n := range []int{16, 20, 32} {
			b := make([]byte, n)
			for range benchHash {
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				add(KindHash, hex.EncodeToString(b))
			}
		}
		for i := range benchEmail {
			add(KindEmail, fmt.Sprintf("u%d@m%d.example", rng.Uint32(), i%1000))
		}
		benchInds = inds
		benchHit.ip = inds[1234].Value
		benchHit.domain = "cdn." + inds[benchIPv4+benchCIDR4+benchIPv6+benchCIDR6+77].Value
		benchHit.url = inds[benchIPv4+benchCIDR4+benchIPv6+benchCIDR6+benchDomain+5].Value
		benchHit.sha256 = inds[benchIPv4+benchCIDR4+benchIPv6+benchCIDR6+benchDomain+benchURL+2*benchHash+9].Value
		benchMem = heapInUse() - before
	})
	return benchInds
}

var (
	benchIdxOnce sync.Once
	benchIdx     *Index
	benchIdxMem  uint64
)

func benchIndex(b *testing.B) *Index {
	inds := benchIndicators()
	benchIdxOnce.Do(func() {
		before := heapInUse()
		benchIdx = NewIndex([][]Indicator{inds}, IndexOptions{})
		benchIdxMem = heapInUse() - before
	})
	// Random values collide now and then; a repeat with the same context
	// is indexed once.
	if benchIdx.Len() < len(inds)-1000 {
		b.Fatalf("got %d indicators indexed, want about %d", benchIdx.Len(), len(inds))
	}
	return benchIdx
}

// typicalEvent is a Sysmon-like network and process event of 16 fields,
// 5 of them checked against the index.
func typicalEvent(srcIP, dstIP, domain, url, hash string) *event.Event {
	return newEvent(
		"event.kind", "event",
		"event.category", "network",
		"event.action", "connection_attempted",
		"event.outcome", "success",
		"host.name", "ws042.corp.example",
		"user.name", "jsmith",
		"process.name", "chrome.exe",
		"process.command_line", `"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility`,
		"process.pid", "6120",
		"source.ip", srcIP,
		"source.port", "51544",
		"destination.ip", dstIP,
		"destination.port", "443",
		"dns.question.name", domain,
		"url.original", url,
		"file.hash.sha256", hash,
	)
}

func missEvent() *event.Event {
	return typicalEvent("192.0.2.10", "203.0.113.80", "www.benign-site.example.org",
		"https://www.benign-site.example.org/index.html?q=1",
		"0f343b0931126a20f133d67c2b018a3b5e8e6b1c1e3c1a6d2b77c9f4d36b8a11")
}

func BenchmarkMatchMiss(b *testing.B) {
	x := benchIndex(b)
	ev := missEvent()
	n := 0
	fn := func(Hit) { n++ }
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	for b.Loop() {
		x.Match(ev, fn)
	}
	reportCPU(b, cpu)
	if n != 0 {
		b.Fatalf("got %d hits, want 0", n)
	}
}

func BenchmarkMatchHit(b *testing.B) {
	x := benchIndex(b)
	ev := typicalEvent(benchHit.ip, "203.0.113.80", benchHit.domain, benchHit.url, benchHit.sha256)
	n := 0
	fn := func(Hit) { n++ }
	x.Match(ev, fn)
	if n != 4 {
		b.Fatalf("got %d hits, want 4", n)
	}
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	for b.Loop() {
		x.Match(ev, fn)
	}
	reportCPU(b, cpu)
}

// BenchmarkMatchWindows is a Sysmon process event with a Hashes list.
func BenchmarkMatchWindows(b *testing.B) {
	x := benchIndex(b)
	ev := newEvent(
		"EventID", "1", "Channel", "Microsoft-Windows-Sysmon/Operational", "Computer", "ws042",
		"Image", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
		"CommandLine", "powershell.exe -nop -w hidden -enc SQBFAFgA",
		"User", `CORP\jsmith`, "ParentImage", `C:\Windows\System32\cmd.exe`,
		"Hashes", "SHA1=A1B2C3D4E5F60718293A4B5C6D7E8F9012345678,MD5=0123456789ABCDEF0123456789ABCDEF,SHA256=0F343B0931126A20F133D67C2B018A3B5E8E6B1C1E3C1A6D2B77C9F4D36B8A11,IMPHASH=FEDCBA9876543210FEDCBA9876543210",
		"ProcessId", "6120", "LogonId", "0x3e7a1",
	)
	n := 0
	fn := func(Hit) { n++ }
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	for b.Loop() {
		x.Match(ev, fn)
	}
	reportCPU(b, cpu)
}

func BenchmarkBuild1M(b *testing.B) {
	inds := benchIndicators()
	benchIndex(b)
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	for b.Loop() {
		NewIndex([][]Indicator{inds}, IndexOptions{})
	}
	reportCPU(b, cpu)
	// Heap held once built: the indicators (values and shared contexts)
	// and the index over them.
	b.ReportMetric(float64(benchMem)/1e6, "MB-indicators")
	b.ReportMetric(float64(benchIdxMem)/1e6, "MB-index")
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if cpu := sharedtest.ProcessCPU() - start; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkParseList parses a list feed of 100,000 mixed lines.
func BenchmarkParseList(b *testing.B) {
	inds := benchIndicators()
	var sb strings.Builder
	for i := 0; i < len(inds); i += 10 {
		sb.WriteString(inds[i].Value)
		sb.WriteByte('\n')
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	for b.Loop() {
		got, errs := ParseList(strings.NewReader(data), ParseOptions{Feed: "bench"})
		if len(errs) > 0 || len(got) != len(inds)/10 {
			b.Fatalf("got %d indicators, %d errors (%v)", len(got), len(errs), errs[0])
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkMatchMissVaried rotates through 4096 different miss events, so
// that lookups land on cold cache lines of the big tables as real traffic
// does, instead of the same lines every time.
func BenchmarkMatchMissVaried(b *testing.B) {
	x := benchIndex(b)
	rng := rand.New(rand.NewPCG(5, 6))
	evs := make([]*event.Event, 4096)
	for i := range evs {
		h := make([]byte, 32)
		for j := range h {
			h[j] = byte(rng.Uint32())
		}
		evs[i] = typicalEvent(
			fmt.Sprintf("192.0.2.%d", rng.IntN(256)),
			fmt.Sprintf("203.0.%d.%d", rng.IntN(256), rng.IntN(256)),
			fmt.Sprintf("www.site%d.example.org", rng.Uint32()),
			fmt.Sprintf("https://h%d.example.net/index.html?q=%d", rng.Uint32(), i),
			hex.EncodeToString(h))
	}
	n := 0
	fn := func(Hit) { n++ }
	b.ReportAllocs()
	cpu := sharedtest.ProcessCPU()
	i := 0
	for b.Loop() {
		x.Match(evs[i&(len(evs)-1)], fn)
		i++
	}
	reportCPU(b, cpu)
	if n != 0 {
		b.Fatalf("got %d hits, want 0", n)
	}
}
