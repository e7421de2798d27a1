package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/query"
)

func FuzzSplitEvents(f *testing.F) {
	for _, s := range []string{
		`[{"message":"Failed password for root from 203.0.113.7 port 22 ssh2","host.name":"web01"}]`,
		`{"EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami"}` + "\n" + `{"EventID":4688}`,
		"<38>Nov 22 05:24:05 web01 sshd[1000]: Failed password for root from 203.0.113.7 port 40000 ssh2\r\n\r\n",
		"[", "[1, \"x\", null]", "", "\n\n", strings.Repeat("a\n", 1200),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		raws, err := splitEvents(text)
		if err != nil {
			if raws != nil {
				t.Fatalf("got %d events with error %v, want none", len(raws), err)
			}
			return
		}
		if len(raws) == 0 || len(raws) > maxTestEvents {
			t.Fatalf("got %d events, want 1 to %d", len(raws), maxTestEvents)
		}
		for _, r := range raws {
			if len(r.Data) == 0 {
				t.Fatalf("got an empty event from %q", text)
			}
		}
	})
}

func FuzzAddFilter(f *testing.F) {
	for _, s := range [][3]string{
		{"", "source.ip", "203.0.113.7"},
		{`event.dataset:sshd "Failed password" | stats count() by source.ip`, "user.name", `ro"ot\`},
		{"a OR b", "host.name", "web 01"},
		{"NOT x:1", "process.command_line", `cmd.exe /c "whoami" | more`},
		{"(((", "f", "*?"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, q, field, value string) {
		if _, err := query.Parse(field + ":*"); err != nil || strings.ContainsAny(field, " \t\r\n()\"|:*?<>=!") || field == "" {
			return // not a field name the sidebar could offer
		}
		out := addFilter(q, field, value)
		pq, err := query.Parse(out)
		if err != nil {
			t.Fatalf("addFilter(%q, %q, %q) = %q does not parse: %v", q, field, value, out, err)
		}
		if pq.IsAggregate() || len(pq.Pipes) > 0 {
			t.Fatalf("addFilter(%q, %q, %q) = %q kept pipes", q, field, value, out)
		}
	})
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/alerts?x=1", "//evil.example", "/\\evil", "https://evil.example", "/login?next=/x", "/a\r\nSet-Cookie: x=1", "",
		"/\t/evil.example", "/%09/evil.example", "/%2F/evil.example", "/\\\\evil", "/.//evil.example", "/..//evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "/" {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n\x00 ") {
			t.Fatalf("safeNext(%q) = %q: not a local path", next, got)
		}
		if host := browserHost(got); host != "vigil.example" {
			t.Fatalf("safeNext(%q) = %q: a browser goes to %q", next, got, host)
		}
		if again := safeNext(got); again != got {
			t.Fatalf("safeNext(%q) = %q, but safeNext(%q) = %q", next, got, got, again)
		}
	})
}

func TestSearchWithout(t *testing.T) {
	for _, tc := range []struct{ q, field, want string }{
		{"", "url.path", "NOT url.path:*"},
		{"Failed", "url.path", "Failed AND NOT url.path:*"},
		{"a OR b", "user.name", "(a OR b) AND NOT user.name:*"},
	} {
		p := searchParams{Q: tc.q, Range: "24h"}
		v, _ := url.ParseQuery(p.Without(tc.field))
		if got := v.Get("q"); got != tc.want {
			t.Errorf("Without(%q, %q): got q %q, want %q", tc.q, tc.field, got, tc.want)
		}
		if _, err := query.Parse(v.Get("q")); err != nil {
			t.Errorf("Without(%q, %q) does not parse: %v", tc.q, tc.field, err)
		}
	}
}
