package query

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
)

// sampleEvent is an sshd failure as the syslog and sshd parsers produce it.
func sampleEvent() *event.Event {
	ev := &event.Event{
		Time:      time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC),
		Received:  time.Date(2026, 11, 22, 10, 30, 1, 0, time.UTC),
		Input:     "syslog-tcp",
		Raw:       "<38>Nov 22 10:30:00 web-01 sshd[4242]: Failed password for invalid user admin from 10.1.2.3 port 52344 ssh2",
		Logsource: event.Logsource{Product: "linux", Service: "sshd"},
		Tags:      []string{"prod", "dmz"},
	}
	ev.Set("message", event.String("Failed password for invalid user admin from 10.1.2.3 port 52344 ssh2"))
	ev.Set("event.dataset", event.String("sshd"))
	ev.Set("event.category", event.String("authentication"))
	ev.Set("event.category", event.String("session"))
	ev.Set("event.outcome", event.String("failure"))
	ev.Set("host.name", event.String("web-01"))
	ev.Set("process.name", event.String("sshd"))
	ev.Set("process.pid", event.Int(4242))
	ev.Set("user.name", event.String("Admin"))
	ev.Set("source.ip", event.String("10.1.2.3"))
	ev.Set("source.port", event.Int(52344))
	ev.Set("destination.ip", event.String("fe80::1%eth0"))
	ev.Set("client.ip", event.String("::ffff:192.168.1.7"))
	ev.Set("bytes", event.String("1500"))
	ev.Set("ratio", event.Float(0.25))
	ev.Set("flag", event.Bool(true))
	ev.Set("nothing", event.Null())
	ev.Set("empty", event.String(""))
	ev.Set("seen", event.String("2026-11-21T08:00:00Z"))
	ev.Set("path", event.String(`C:\Windows\System32\cmd.exe`))
	ev.Set("star", event.String("a*b"))
	ev.Set("uni", event.String("Ünïcode Straße"))
	return ev
}

func TestMatch(t *testing.T) {
	ev := sampleEvent()
	tests := []struct {
		q    string
		want bool
	}{
		{"", true},
		{"*", true},
		// Equality: ASCII case-insensitive, exact otherwise.
		{"user.name:admin", true},
		{"user.name:ADMIN", true},
		{"user.name:adm", false},
		{"uni:ünïcode*", false}, // non-ASCII letters do not fold
		{"uni:Ünïcode*", true},
		{`uni:"ünïcode straße"`, false},
		{"process.pid:4242", true},
		{"process.pid:4242.0", false}, // text equality
		{"flag:true", true},
		{"flag:TRUE", true},
		{`empty:""`, true},
		{`user.name:""`, false},
		{`nothing:""`, false},
		{"nosuchfield:x", false},
		// Arrays: any element.
		{"event.category:session", true},
		{"event.category:authentication", true},
		{"event.category:(session AND authentication)", true},
		{"event.category:web", false},
		// Wildcards.
		{"process.name:ssh*", true},
		{"process.name:SSH?", true},
		{"process.name:ssh?", true},
		{"process.name:ss?", false},
		{"process.name:*sh*", true},
		{"process.name:*", true},
		{"host.name:web-0?", true},
		{`path:C:\Windows\*`, false}, // \* is a literal star
		{`path:C:\\Windows\\*`, true},
		{`path:*\cmd.exe`, true},
		{`path:*\\CMD.EXE`, true},
		{`star:a\*b`, true},
		{`star:a\*c`, false},
		{`star:"a*b"`, true},
		{`star:a*b`, true},
		{"uni:?nïcode*", true}, // ? is one character, not one byte
		{"uni:??nïcode*", false},
		// Exists.
		{"nothing:*", true},
		{"empty:*", true},
		{"nosuchfield:*", false},
		{"NOT nosuchfield:*", true},
		// CIDR.
		{"source.ip:10.0.0.0/8", true},
		{"source.ip:10.1.0.0/16", true},
		{"source.ip:10.2.0.0/16", false},
		{"source.ip:10.1.2.3/32", true},
		{"destination.ip:fe80::/10", true}, // zone ignored
		{"destination.ip:10.0.0.0/8", false},
		{"client.ip:192.168.0.0/16", true}, // IPv4-mapped counts as IPv4
		{"user.name:10.0.0.0/8", false},
		{"source.ip:::/0", false},
		{"source.ip:0.0.0.0/0", true},
		// Comparisons.
		{"source.port>50000", true},
		{"source.port>=52344", true},
		{"source.port>52344", false},
		{"source.port<=52344", true},
		{"source.port<52344", false},
		{"bytes>1000", true}, // numeric string
		{"bytes<1e3", false},
		{"ratio<0.5", true},
		{"flag>0", false}, // booleans never compare
		{"user.name>0", false},
		{"nothing>-1", false},
		{"@timestamp>=2026-11-22T10:30:00Z", true},
		{"@timestamp>2026-11-22T10:30:00Z", false},
		{"@timestamp<2026-11-22T11:30:00+01:00", false},
		{"@timestamp<2026-11-22T11:30:01+01:00", true},
		{"@timestamp>=2026-11-22", true},
		{"event.ingested>2026-11-22T10:30:00Z", true},
		{"seen<2026-11-22", true},
		{"seen>2026-11-22", false},
		{"user.name<2026-11-22", false},
		// Reserved names.
		{"@timestamp:2026-11-22T10:30:00Z", true},
		{"@timestamp:2026-11-22*", true},
		{"tags:prod", true},
		{"tags:DMZ", true},
		{"tags:parse_error", false},
		{"logsource.product:linux logsource.service:sshd", true},
		{"logsource.category:*", false},
		{"vigil.input:syslog-tcp", true},
		{"log.original:*sshd[4242]*", true},
		// Full text: phrases are substrings, words are tokens.
		{`"failed PASSWORD"`, true},
		{`"password for invalid"`, true},
		{`"passwd"`, false},
		{`"ssword fo"`, true},
		{"failed", true},
		{"FAILED", true},
		{"fail", false},
		{"fail*", true},
		{"f?iled", true},
		{"*ssh*", true},
		{"10.1.2.3", true},
		{"10.1.2", true}, // consecutive tokens 10 1 2
		{"1.2.3", true},
		{"10.1.2.30", false},
		{"invalid-user", true},
		{"invalid_user", true},
		{"user.admin", true},
		{"admin.user", false},
		{"52344", true},
		{"web", false}, // host name is not in the message
		{"sshd", false},
		{"!!!", false},
		{`"!"`, false},
		// Boolean structure.
		{"failed user.name:admin", true},
		{"failed AND user.name:root", false},
		{"failed OR user.name:root", true},
		{"-failed OR user.name:root", false},
		{"NOT (failed user.name:root)", true},
		{"user.name:(root OR admin) source.ip:10.0.0.0/8 NOT event.outcome:success", true},
		{"event.dataset:sshd \"Failed password\" | stats count() by source.ip", true},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			if got := Matches(q, ev); got != tt.want {
				t.Errorf("Matches(%q) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestFullTextSources(t *testing.T) {
	tests := []struct {
		name string
		ev   func() *event.Event
		q    string
		want bool
	}{
		{"message wins over raw", func() *event.Event {
			ev := &event.Event{Raw: "raw text alpha"}
			ev.Set("message", event.String("message beta"))
			return ev
		}, "alpha", false},
		{"message searched", func() *event.Event {
			ev := &event.Event{Raw: "raw text alpha"}
			ev.Set("message", event.String("message beta"))
			return ev
		}, "beta", true},
		{"raw when no message", func() *event.Event {
			return &event.Event{Raw: "raw text alpha"}
		}, "alpha", true},
		{"raw when message null", func() *event.Event {
			ev := &event.Event{Raw: "raw text alpha"}
			ev.Set("message", event.Null())
			return ev
		}, "alpha", true},
		{"any message value", func() *event.Event {
			ev := &event.Event{}
			ev.Set("message", event.String("one"))
			ev.Set("message", event.String("two three"))
			return ev
		}, `"two three"`, true},
		{"phrase does not span values", func() *event.Event {
			ev := &event.Event{}
			ev.Set("message", event.String("one"))
			ev.Set("message", event.String("two"))
			return ev
		}, "one.two", false},
		{"no text", func() *event.Event { return &event.Event{} }, "x", false},
		{"no text NOT", func() *event.Event { return &event.Event{} }, "-x", true},
		{"reserved name in fields ignored", func() *event.Event {
			ev := &event.Event{}
			ev.Set("tags", event.String("fake"))
			ev.Set("log.original", event.String("fake"))
			return ev
		}, "tags:fake OR log.original:fake OR fake", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			if got := Matches(q, tt.ev()); got != tt.want {
				t.Errorf("Matches(%q) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ...  ", nil},
		{"Failed password for invalid_user from 10.0.0.1 port 22", []string{"failed", "password", "for", "invalid", "user", "from", "10", "0", "0", "1", "port", "22"}},
		{"sshd[1234]: web-01.example.com", []string{"sshd", "1234", "web", "01", "example", "com"}},
		{"C:\\Windows\\System32", []string{"c", "windows", "system32"}},
		{"Ünïcode Straße", []string{"Ünïcode", "straße"}},
		{"a\x00b\xffc", []string{"a", "b\xffc"}},
		{"MiXeD", []string{"mixed"}},
	}
	for _, tt := range tests {
		var got []string
		Tokens(tt.in, func(tok string) { got = append(got, tok) })
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Tokens(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMatchWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"?", "", false},
		{"?", "é", true},
		{"??", "é", false},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"*a*a*a*b", strings.Repeat("a", 200), false},
		{`a\*c`, "a*c", true},
		{`a\*c`, "abc", false},
		{`a\?c`, "a?c", true},
		{`a\\c`, `a\c`, true},
		{"ABC*", "abcdef", true},
		{"*é", "café", true},
		{"caf?", "café", true},
		{"*?", "é", true},
		{"*??", "é", false},
	}
	for _, tt := range tests {
		if got := MatchWildcard(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchWildcard(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestFieldValues(t *testing.T) {
	ev := sampleEvent()
	tests := []struct {
		name string
		want []string
	}{
		{"event.category", []string{"authentication", "session"}},
		{"tags", []string{"prod", "dmz"}},
		{"@timestamp", []string{"2026-11-22T10:30:00Z"}},
		{"event.ingested", []string{"2026-11-22T10:30:01Z"}},
		{"logsource.product", []string{"linux"}},
		{"logsource.category", nil},
		{"nosuch.field.never.interned", nil},
	}
	for _, tt := range tests {
		var got []string
		FieldValues(ev, tt.name, func(v event.Value) bool {
			got = append(got, v.Str)
			return true
		})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FieldValues(%q) mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	n := 0
	FieldValues(ev, "tags", func(event.Value) bool { n++; return false })
	if n != 1 {
		t.Errorf("FieldValues with fn returning false: got %d calls, want 1", n)
	}
}

func TestTermMatcher(t *testing.T) {
	cidr := CompileTerm(&Term{Field: "ip", Op: OpCIDR, Prefix: netip.MustParsePrefix("10.0.0.0/8")})
	if !cidr.MatchValue(event.String("10.9.9.9")) || cidr.MatchValue(event.String("11.0.0.1")) {
		t.Errorf("CIDR term matcher: wrong answers")
	}
	if cidr.MatchText("10.9.9.9") || cidr.IsText() {
		t.Errorf("field term matched as text")
	}
	w := CompileTerm(&Term{Op: OpWord, Value: "Failed.Password"})
	if !w.IsText() || !w.MatchText("x failed password y") || w.MatchText("failed to read password") {
		t.Errorf("word term matcher: wrong answers")
	}
	if w.MatchValue(event.String("failed password")) {
		t.Errorf("text term matched a value")
	}
	bad := CompileTerm(&Term{Field: "f", Op: Op(200)})
	if bad.MatchValue(event.String("x")) {
		t.Errorf("invalid op matched")
	}
	if m := CompileExpr(&Term{Op: OpEq, Value: "x"}); m.Match(sampleEvent()) {
		t.Errorf("full-text OpEq (invalid) matched")
	}
}

func BenchmarkParse(b *testing.B) {
	const s = `event.dataset:sshd "Failed password" NOT user.name:(root OR admin) source.ip:10.0.0.0/8 | stats count() by source.ip | sort -count | limit 10`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	ev := sampleEvent()
	for _, bc := range []struct{ name, q string }{
		{"field", "user.name:admin"},
		{"typical", `event.dataset:sshd "Failed password" NOT user.name:(root OR guest) source.ip:10.0.0.0/8`},
		{"words", "invalid user admin"},
		{"wildcard", "process.command_line:*powershell* OR path:*\\cmd.exe"},
		{"miss", "event.dataset:nginx"},
	} {
		q, err := Parse(bc.q)
		if err != nil {
			b.Fatal(err)
		}
		m := Compile(q)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(ev)
			}
		})
	}
}

func TestMatcherConcurrent(t *testing.T) {
	const name = "query.test.concurrent.field"
	q, err := Parse(name + ":x* failed source.ip:10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	m := Compile(q)
	ev := sampleEvent()
	ev.Set(name, event.String("xyz"))
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && m.Match(ev)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Errorf("concurrent Match = false, want true")
		}
	}
}

func BenchmarkTokens(b *testing.B) {
	const s = "Failed password for invalid user Admin from 10.1.2.3 port 52344 ssh2 [preauth] sshd[4242]"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		n := 0
		Tokens(s, func(string) { n++ })
		if n != 17 {
			b.Fatalf("got %d tokens, want 17", n)
		}
	}
}
