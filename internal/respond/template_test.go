package respond

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hostileUser and hostileQuery are the red team's entity values (issue 10,
// finding 7): one rewrote a JSON body, the other a query string.
const (
	hostileUser  = `bob", "approved": true, "role": "admin`
	hostileQuery = `carol&action=delete_all#`
)

func TestTemplateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ctx        tmplContext
		want       string // in the error
	}{
		{"range over a number (the bomb)", `{{range 50000000}}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{{end}}`, ctxLine, "range (a loop) is not allowed"},
		{"range over a field", `{{range .Target}}x{{end}}`, ctxLine, "range"},
		{"range nested in if", `{{if .Target}}{{range 9}}x{{end}}{{end}}`, ctxLine, "range"},
		{"range in a pipe argument", `{{if (len .Target)}}{{else}}{{range 3}}{{end}}{{end}}`, ctxLine, "range"},
		{"with", `{{with .Target}}{{.}}{{end}}`, ctxLine, "with is not allowed"},
		{"define", `{{define "a"}}x{{end}}{{.Target}}`, ctxLine, "define and block"},
		{"block", `{{block "a" .}}x{{end}}`, ctxLine, "not allowed"},
		{"template call", `{{template "x"}}`, ctxLine, "not allowed"},
		{"variable declaration", `{{$x := .Target}}{{$x}}`, ctxLine, "variables are not allowed"},
		{"variable in if", `{{if $x := .Target}}y{{end}}`, ctxLine, "variables are not allowed"},
		{"root variable", `{{$.Target}}`, ctxLine, "not allowed"},
		{"printf (widths are unbounded)", `{{printf "%099999999d" 1}}`, ctxLine, `function "printf" is not allowed`},
		{"print", `{{print .Target}}`, ctxLine, `function "print" is not allowed`},
		{"index", `{{index .Target 0}}`, ctxLine, `function "index" is not allowed`},
		{"call", `{{call .Target}}`, ctxLine, `function "call" is not allowed`},
		{"slice", `{{slice .Target 1}}`, ctxLine, `function "slice" is not allowed`},
		{"urlquery", `{{urlquery .Target}}`, ctxLine, `function "urlquery" is not allowed`},
		{"an escaper by name", `{{_vigil_line .Target}}`, ctxLine, ""}, // not even defined for parsing? it is: refused by the checker
		{"unknown field", `{{.Secret}}`, ctxLine, "unknown field .Secret"},
		{"field of a field", `{{.Target.Len}}`, ctxLine, "unknown field"},
		{"chained field", `{{(.Target).X}}`, ctxLine, "not allowed"},
		{"too large", strings.Repeat("a", maxTemplateSize+1), ctxLine, "larger than 16 KiB"},
		{"JSON after a backslash", `{"a": "\{{.Target}}"}`, ctxJSON, "after a backslash"},
		{"JSON branches differ", `{"a": {{if .Target}}"{{end}}x"}`, ctxJSON, "branches of if"},
		{"JSON string not closed", `{"a": "{{.Target}}`, ctxJSON, "not closed"},
		{"URL host", `https://{{.Target}}/x`, ctxURL, "not its scheme or host"},
		{"URL scheme", `{{.Target}}://x/`, ctxURL, "not its scheme or host"},
		{"URL whole", `{{.Target}}`, ctxURL, "not its scheme or host"},
		{"URL after the host, no slash", `https://h.example{{.Target}}`, ctxURL, "not its scheme or host"},
		{"URL without //", `https:h.example/{{.Target}}`, ctxURL, "want an http or https URL"},
		{"URL no path", `https://h.example`, ctxURL, "want an http or https URL"},
		{"URL branches differ", `https://h.example/{{if .Target}}?{{end}}{{.Target}}`, ctxURL, "branches of if"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := parseTemplate("with.text", tc.text, tc.ctx)
			if err == nil {
				t.Fatalf("parseTemplate(%q) = nil error, want it refused", tc.text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("refusing took %v, want well under 100ms", d)
			}
		})
	}
}

func TestTemplateSizeBound(t *testing.T) {
	at := strings.Repeat("a", maxTemplateSize-len("{{.Target}}")) + "{{.Target}}"
	if _, err := parseTemplate("t", at, ctxLine); err != nil {
		t.Errorf("a template of exactly %d bytes: %v", len(at), err)
	}
	if _, err := parseTemplate("t", at+"a", ctxLine); !errors.Is(err, ErrTemplate) {
		t.Errorf("a template of %d bytes: got %v, want ErrTemplate", len(at)+1, err)
	}
}

func TestTemplateErrorsSayWhere(t *testing.T) {
	_, err := parseTemplate("with.text", "ok {{.Target}}\n{{range 3}}x{{end}}", ctxLine)
	if !errors.Is(err, ErrTemplate) {
		t.Fatalf("got %v, want ErrTemplate", err)
	}
	if !strings.HasPrefix(err.Error(), "with.text:2:") {
		t.Errorf("error %q, want it to start with the parameter and line, with.text:2:", err)
	}
}

func TestTemplateRenders(t *testing.T) {
	d := tmplData{Target: "203.0.113.9", Count: 3, TTL: "1h0m0s", TTLSeconds: 3600, Incident: "inc-1", Rule: "SSH brute force", Level: "high"}
	for _, tc := range []struct {
		text string
		ctx  tmplContext
		want string
	}{
		{"Blocked {{.Target}} for 1h ({{.Rule}}).", ctxLine, "Blocked 203.0.113.9 for 1h (SSH brute force)."},
		{`{{if eq .Level "high"}}urgent{{else}}later{{end}} {{.Count}}`, ctxLine, "urgent 3"},
		{`{{if and (ge .Count 2) (ne .Incident "")}}many{{end}}`, ctxLine, "many"},
		{`{{upper .Level}} {{lower "ABC"}} {{len .Target}}`, ctxLine, "HIGH abc 11"},
		{"{{/* a comment */}}x", ctxLine, "x"},
		{"{ {{.Target}} timeout {{.TTLSeconds}}s }", ctxArg, "{ 203.0.113.9 timeout 3600s }"},
		{`{"ip": "{{.Target}}", "n": {{.Count}}, "ttl": {{.TTLSeconds}}, "rule": {{.Rule}}}`, ctxJSON,
			`{"ip": "203.0.113.9", "n": 3, "ttl": 3600, "rule": "SSH brute force"}`},
		{`{"s": "a\"b{{.Target}}\\"}`, ctxJSON, `{"s": "a\"b203.0.113.9\\"}`},
		{"https://h.example/block/{{.Target}}?incident={{.Incident}}#{{.Level}}", ctxURL, "https://h.example/block/203.0.113.9?incident=inc-1#high"},
		{"https://h.example/?q={{if .Target}}{{.Target}}{{else}}none{{end}}", ctxURL, "https://h.example/?q=203.0.113.9"},
		{"", ctxLine, ""},
	} {
		got, err := render(tc.text, tc.ctx, d)
		if err != nil || got != tc.want {
			t.Errorf("render(%q) = %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
}

// TestTemplateOutputCap hits the output bound exactly: a template without
// loops is still as large as its values times its substitutions.
func TestTemplateOutputCap(t *testing.T) {
	one, err := parseTemplate("t", "{{.Target}}", ctxArg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := one.render(tmplData{Target: strings.Repeat("a", maxOutput)}); err != nil || len(got) != maxOutput {
		t.Errorf("output of exactly %d bytes: got %d bytes, %v; want it whole", maxOutput, len(got), err)
	}
	if _, err := one.render(tmplData{Target: strings.Repeat("a", maxOutput+1)}); !errors.Is(err, ErrTemplateOutput) {
		t.Errorf("output of %d bytes: got %v, want ErrTemplateOutput", maxOutput+1, err)
	}
	many, err := parseTemplate("t", strings.Repeat("{{.Target}}", 1000), ctxLine)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := many.render(tmplData{Target: strings.Repeat("x", 10_000)}); !errors.Is(err, ErrTemplateOutput) {
		t.Errorf("1000 × 10 kB: got %v, want ErrTemplateOutput", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %v, want it to stop at the cap", d)
	}
}

func TestLineContextKeepsValuesOnOneLine(t *testing.T) {
	got, err := render("user {{.Target}} done\nnext line", ctxLine, tmplData{Target: "eve\r\nBcc: x@evil.example\n\u2028\x00end"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "user eve  Bcc: x@evil.example   end done\nnext line"; got != want {
		t.Errorf("got %q, want %q (the template's own line break stays, the value's go)", got, want)
	}
}

func TestJSONContextEscapesValues(t *testing.T) {
	for _, text := range []string{
		`{"user": "{{.Target}}", "action": "lock"}`,
		`{"user": {{.Target}}, "action": "lock"}`, // outside a string: a whole JSON string
	} {
		for _, v := range []string{hostileUser, `x"}, "y": {"z": 1`, "a\\", `\u0022`, "\x00\n\u2028", "\xff\xfe"} {
			got, err := render(text, ctxJSON, tmplData{Target: v})
			if err != nil {
				t.Fatalf("render(%q) with %q: %v", text, v, err)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(got), &m); err != nil {
				t.Fatalf("body %s with %q: %v", got, v, err)
			}
			want := map[string]any{"user": string([]rune(v)), "action": "lock"}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("template %s with %q: body %s (-want +got):\n%s", text, v, got, diff)
			}
		}
	}
}

func TestURLContextEscapesValues(t *testing.T) {
	tm, err := parseTemplate("url", "https://hr.example/api/users/{{.Target}}/lock?user={{.Target}}&from=vigil", ctxURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{hostileQuery, "a/../../admin", "..", ".", "x?y=1", "%2e%2e", "a b+c", "é"} {
		got, err := tm.render(tmplData{Target: v})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		if u.Host != "hr.example" || u.Fragment != "" {
			t.Errorf("%q: host %q, fragment %q; want hr.example and none", got, u.Host, u.Fragment)
		}
		want := url.Values{"user": {v}, "from": {"vigil"}}
		if diff := cmp.Diff(want, u.Query()); diff != "" {
			t.Errorf("value %q: URL %s: query (-want +got):\n%s", v, got, diff)
		}
		seg := strings.TrimSuffix(strings.TrimPrefix(u.EscapedPath(), "/api/users/"), "/lock")
		if strings.Contains(seg, "/") {
			t.Errorf("value %q: path %s: the value is more than one segment", v, u.EscapedPath())
		}
		if dec, _ := url.PathUnescape(seg); dec != v {
			t.Errorf("value %q: path segment %q decodes to %q", v, seg, dec)
		}
		if seg == "." || seg == ".." {
			t.Errorf("value %q: path segment %q would move up the path", v, seg)
		}
	}
}

func TestCheckWith(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action string
		with   map[string]string
		manual bool
		want   string // "" means accepted
	}{
		{"comment", "comment", map[string]string{"text": "seen {{.Target}}"}, true, ""},
		{"comment bomb", "comment", map[string]string{"text": "{{range 50000000}}A{{end}}"}, true, "range"},
		{"task bomb in title", "create_task", map[string]string{"title": "{{range .Target}}{{end}}"}, true, "range"},
		{"http_request by destination", "http_request", map[string]string{"destination": "hr"}, true, ""},
		{"http_request with url", "http_request", map[string]string{"destination": "hr", "url": "http://169.254.169.254/"}, true, "with.url"},
		{"http_request with method", "http_request", map[string]string{"destination": "hr", "method": "DELETE"}, false, "with.method"},
		{"http_request without destination", "http_request", map[string]string{"body": "{}"}, false, "with.destination"},
		{"manual http_request body", "http_request", map[string]string{"destination": "hr", "body": "{}"}, true, "with.body"},
		{"playbook http_request body", "http_request", map[string]string{"destination": "hr", "body": `{"u": "{{.Target}}"}`}, false, ""},
		{"too many parameters", "comment", func() map[string]string {
			m := map[string]string{}
			for i := range maxWith + 1 {
				m[strings.Repeat("k", i+1)] = "v"
			}
			return m
		}(), true, "more than 16"},
		{"exactly the maximum", "comment", func() map[string]string {
			m := map[string]string{}
			for i := range maxWith {
				m[strings.Repeat("k", i+1)] = "v"
			}
			return m
		}(), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkWith(tc.action, tc.with, tc.manual)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestCheckDestination(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Destination
		want string
	}{
		{"ok", Destination{URL: "https://hr.example/users/{{.Target}}", Method: "put", Headers: map[string]string{"Authorization": "Bearer x"}, Body: `{"u": "{{.Target}}"}`}, ""},
		{"metadata", Destination{URL: "http://169.254.169.254/latest/"}, "link-local"},
		{"decimal loopback", Destination{URL: "http://2130706433/"}, "loopback"},
		{"hex loopback", Destination{URL: "http://0x7f000001/"}, "loopback"},
		{"IPv6 loopback", Destination{URL: "http://[::1]:8080/"}, "loopback"},
		{"credentials in the URL", Destination{URL: "https://u:p@hr.example/"}, "no user:password"},
		{"ftp", Destination{URL: "ftp://hr.example/"}, "want http or https"},
		{"method", Destination{URL: "https://hr.example/", Method: "CONNECT"}, "method"},
		{"header break", Destination{URL: "https://hr.example/", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "control character"},
		{"header name", Destination{URL: "https://hr.example/", Headers: map[string]string{"X A": "a"}}, "not a token"},
		{"host chosen by if", Destination{URL: `https://{{if eq .Level "high"}}169.254.169.254{{else}}hr.example{{end}}/x`}, "not its scheme or host"},
		{"body loop", Destination{URL: "https://hr.example/", Body: `{"a": "{{range 9}}{{end}}"}`}, "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkDestination("hr", tc.d, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	if _, err := checkDestination("bad name!", Destination{URL: "https://hr.example/"}, nil); err == nil {
		t.Error("a destination name with spaces and '!' was accepted")
	}
}

// FuzzTemplate parses arbitrary template text as a person could submit it
// and renders what is accepted with an arbitrary value: nothing panics,
// nothing loops, and a value never adds a line to text.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"Blocked {{.Target}} for 1h ({{.Rule}}).",
		"{{range 50000000}}A{{end}}",
		`{{if eq .Level "high"}}x{{else if .Target}}y{{end}}`,
		`{"ip": "{{.Target}}", "n": {{.Count}}}`,
		"https://h.example/u/{{.Target}}?q={{.Target}}",
		"{{define \"x\"}}{{template \"x\"}}{{end}}",
		"{{$x := 1}}{{$x}}",
		"{{with .Target}}{{.}}{{end}}",
		"{{printf \"%0999d\" 1}}",
	} {
		f.Add(s, hostileUser)
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		for _, ctx := range []tmplContext{ctxLine, ctxJSON, ctxURL} {
			tm, err := parseTemplate("t", text, ctx)
			if err != nil {
				continue
			}
			out, err := tm.render(tmplData{Target: value, Rule: value, Level: value, Incident: value})
			if err != nil {
				continue
			}
			// No loops: each piece of text is output at most once.
			if ctx == ctxLine && strings.Count(out, "\n") > strings.Count(text, "\n") {
				t.Fatalf("template %q with value %q: output %q has more lines than the template", text, value, out)
			}
		}
	})
}

// FuzzEscaping puts arbitrary values into JSON and URL templates: the
// body always decodes to the same keys with the value intact, and the
// query has only its own parameter.
func FuzzEscaping(f *testing.F) {
	for _, s := range []string{hostileUser, hostileQuery, "..", "\\", "\"", "\xff", "a\r\nb", "%00"} {
		f.Add(s)
	}
	body, err := parseTemplate("body", `{"user": "{{.Target}}", "raw": {{.Target}}, "n": {{.Count}}}`, ctxJSON)
	if err != nil {
		f.Fatal(err)
	}
	u, err := parseTemplate("url", "https://hr.example/users/{{.Target}}?user={{.Target}}#{{.Target}}", ctxURL)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := tmplData{Target: v, Count: 7}
		b, err := body.render(d)
		if err != nil {
			if errors.Is(err, ErrTemplateOutput) {
				return
			}
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("value %q: body %s: %v", v, b, err)
		}
		want := map[string]any{"user": string([]rune(v)), "raw": string([]rune(v)), "n": 7.0}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Fatalf("value %q: body %s (-want +got):\n%s", v, b, diff)
		}
		s, err := u.render(d)
		if err != nil {
			if errors.Is(err, ErrTemplateOutput) {
				return
			}
			t.Fatal(err)
		}
		pu, err := url.Parse(s)
		if err != nil {
			t.Fatalf("value %q: URL %q: %v", v, s, err)
		}
		if q := pu.Query(); len(q) != 1 || len(q["user"]) != 1 || q["user"][0] != v || pu.Host != "hr.example" {
			t.Fatalf("value %q: URL %s: host %q, query %v", v, s, pu.Host, q)
		}
	})
}
