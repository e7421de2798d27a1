package detect

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// globRegexp translates a pattern to an anchored Go regexp, the reference
// for glob.
func globRegexp(parts []sigma.Part) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, p := range parts {
		switch p.Kind {
		case sigma.PartLiteral:
			b.WriteString(regexp.QuoteMeta(p.Text))
		case sigma.PartStar:
			b.WriteString(`.*`)
		case sigma.PartQuestion:
			b.WriteString(`.`)
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// FuzzGlob checks the wildcard matcher against a regular expression
// translation of the same pattern.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{`*\cmd.exe`, `c:\windows\system32\cmd.exe`},
		{`a?c*`, `abcabc`},
		{`*a*a*a*b`, `aaaaaaaaaaaaaaaaaaaac`},
		{`net* user *`, `net1.exe user bob /add`},
		{`??`, `é`},
		{`*`, ``},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 256 {
			return
		}
		p := sigma.ParsePattern(pat)
		if p.HasPlaceholders() || !strings.ContainsAny(pat, "*?") {
			return
		}
		for _, pt := range p.Parts {
			if pt.Kind == sigma.PartLiteral && !isValidUTF8(pt.Text) {
				return
			}
		}
		if !isValidUTF8(s) {
			return
		}
		got := glob(p.Parts, s)
		want := globRegexp(p.Parts).MatchString(s)
		if got != want {
			t.Fatalf("glob(%q, %q) = %v, want %v", pat, s, got, want)
		}
	})
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FuzzAhoCorasick checks the automaton against strings.Contains.
func FuzzAhoCorasick(f *testing.F) {
	f.Add("he\x00she\x00his\x00hers", "ushers and his")
	f.Add("\\cmd.exe\x00.exe\x00cmd", `c:\windows\cmd.exe`)
	f.Add("aaa\x00aa\x00a", "aaaa")
	f.Add("\\system32\\cmd.exe\x00powershell", `C:\Windows\System32\CMD.EXE /c PowerShell`)
	f.Fuzz(func(t *testing.T, needleList, hay string) {
		needles := strings.Split(needleList, "\x00")
		if len(needles) > 64 || len(hay) > 1024 {
			return
		}
		ids := make([][]int32, len(needles))
		for i := range needles {
			ids[i] = []int32{int32(i)}
		}
		m, overflow := buildAC(needles, ids)
		if len(overflow) > 0 {
			t.Fatalf("overflow with %d needles", len(needles))
		}
		got := map[int32]bool{}
		for _, id := range m.scan(hay, nil) {
			got[id] = true
		}
		low := string(appendLower(nil, hay))
		var long []string
		var longIDs []int32
		for i, n := range needles {
			if windowable(n) {
				long = append(long, n)
				longIDs = append(longIDs, int32(i))
			}
		}
		winHits := map[int32]bool{}
		if len(long) > 0 {
			for _, id := range buildWindows(long, longIDs).scan(hay, nil) {
				winHits[id] = true
			}
		}
		for j, n := range long {
			if strings.Contains(low, n) && !winHits[longIDs[j]] {
				t.Fatalf("needle %q occurs in lowered %q but the window scan of %q missed it", n, low, hay)
			}
			if winHits[longIDs[j]] && asciiNeedle(n) && isPrintableASCII(hay) && !strings.Contains(low, n) {
				t.Fatalf("window scan reported %q, which does not occur in lowered %q", n, low)
			}
		}
		for i, n := range needles {
			if n == "" {
				continue
			}
			if strings.Contains(low, n) && !m.mayContainFold(hay) {
				t.Fatalf("needle %q occurs in lowered %q but the pair filter rejects %q", n, low, hay)
			}
			// Bytes outside printable ASCII share classes, which may add
			// hits; a real occurrence must never be missed.
			if strings.Contains(hay, n) && !got[int32(i)] {
				t.Fatalf("needle %q occurs in %q but was not reported", n, hay)
			}
			if got[int32(i)] && !strings.Contains(hay, n) && isPrintableASCII(n) && isPrintableASCII(hay) {
				t.Fatalf("needle %q reported but does not occur in %q", n, hay)
			}
		}
	})
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

const fuzzRules = `
title: a
id: a
logsource: {product: test}
detection:
  sel:
    CommandLine|contains|all: [' -enc ', 'hidden']
    Image|endswith: ['\powershell.exe', '\pwsh.exe']
  filter:
    User|startswith: 'adm_'
  condition: sel and not filter
---
title: b
id: b
logsource: {product: test}
detection:
  sel:
    CommandLine|re|i: 'invoke-\w+'
  ip:
    DestinationIp|cidr: ['10.0.0.0/8', 'fe80::/10']
  num:
    Port|gte: 1024
  t:
    UtcTime|hour|lt: 6
  condition: sel or ip or (num and t)
---
title: c
id: c
logsource: {product: test}
detection:
  keywords:
    - 'mimikatz'
    - 'sekurlsa::*'
  ref:
    Image|fieldref: ParentImage
  nul:
    Description: null
  condition: keywords or ref or not nul
---
title: d
id: d
logsource: {product: test}
detection:
  sel:
    Outcome: failure
  condition: sel
---
title: e
id: e
correlation:
  type: value_count
  rules: [d]
  group-by: [Host]
  timespan: 1m
  condition:
    field: User
    gte: 2
`

// FuzzMatch runs hostile field values through a compiled rule set: no
// panic, and the same event always gives the same detections.
func FuzzMatch(f *testing.F) {
	rules, err := sigma.Parse([]byte(fuzzRules), "fuzz.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`C:\x\powershell.exe`, `powershell -w hidden -enc AAA`, `10.1.2.3`, `2026-01-01 03:00:00`, "mimikatz", int64(8080))
	f.Add(`é\x`, `Invoke-Expression`, `fe80::1`, `bad`, "", int64(-1))
	f.Add("", "", "", "", "\xff\xfe", int64(0))
	f.Fuzz(func(t *testing.T, image, cmd, ip, utc, raw string, port int64) {
		// A fresh engine per input keeps correlation state from carrying
		// over between inputs, so that results are reproducible.
		eng, _, err := Compile(rules, Options{MaxGroups: 4, MaxGroupEntries: 4})
		if err != nil {
			t.Fatal(err)
		}
		ev := &event.Event{Logsource: event.Logsource{Product: "test"}, Raw: raw, Time: confBase}
		ev.Set("Image", event.String(image))
		ev.Set("ParentImage", event.String(strings.ToUpper(image)))
		ev.Set("CommandLine", event.String(cmd))
		ev.Set("DestinationIp", event.String(ip))
		ev.Set("UtcTime", event.String(utc))
		ev.Set("Port", event.Int(port))
		ev.Set("Outcome", event.String("failure"))
		ev.Set("User", event.String(cmd))
		ev.Set("Host", event.String(ip))
		ids := func() []string {
			var out []string
			for _, d := range eng.MatchAll(ev) {
				if d.Rule.Kind == sigma.KindDetection {
					out = append(out, d.Rule.ID)
				}
			}
			return out
		}
		first, second := ids(), ids()
		if !slices.Equal(first, second) {
			t.Fatalf("detections differ between runs: %v vs %v", first, second)
		}
	})
}
