package incident

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestMarkdownEscape(t *testing.T) {
	for _, tc := range []struct {
		name, in, block, inline string
	}{
		{"plain", "Scanner from 192.0.2.1 at 10:02", "Scanner from 192.0.2.1 at 10:02", "Scanner from 192.0.2.1 at 10:02"},
		{"raw html", `<img src=x onerror="alert(1)">`, `&lt;img src=x onerror="alert\(1\)"&gt;`, `&lt;img src=x onerror="alert\(1\)"&gt;`},
		{"image", "![pixel](https://evil.example/p.png)", `\!\[pixel\]\(https://evil.example/p.png\)`, `\!\[pixel\]\(https://evil.example/p.png\)`},
		{"link", "[click](javascript:alert(1))", `\[click\]\(javascript:alert\(1\)\)`, `\[click\]\(javascript:alert\(1\)\)`},
		{"autolink", "<https://evil.example>", "&lt;https://evil.example&gt;", "&lt;https://evil.example&gt;"},
		{"reference", "[x]: https://evil.example", `\[x\]: https://evil.example`, `\[x\]: https://evil.example`},
		{"entity", "&lt;script&gt; &#60;", "&amp;lt;script&amp;gt; &amp;#60;", "&amp;lt;script&amp;gt; &amp;#60;"},
		{"emphasis and code", "*a* _b_ `c` ~~d~~ $e$", "\\*a\\* \\_b\\_ \\`c\\` \\~\\~d\\~\\~ \\$e\\$", "\\*a\\* \\_b\\_ \\`c\\` \\~\\~d\\~\\~ \\$e\\$"},
		{"table row", "| a | b |", `\| a \| b \|`, `\| a \| b \|`},
		{"backslash", `C:\temp\*`, `C:\\temp\\\*`, `C:\\temp\\\*`},
		{"block starts", "# h\n  - item\n+ item\n1. one\n2) two\n===\n---\n> quote",
			"\\# h\n  \\- item\n\\+ item\n1\\. one\n2\\) two\n\\===\n\\---\n&gt; quote",
			"\\# h   - item + item 1. one 2\\) two === --- &gt; quote"},
		{"mid-line dashes stay", "a-b 2026-01-01 x = y", "a-b 2026-01-01 x = y", "a-b 2026-01-01 x = y"},
		{"line breaks", "a\r\nb\rc\n", "a\nb\nc\n", "a b c "},
		{"html block", "<div>\n<script>alert(1)</script>\n</div>", "&lt;div&gt;\n&lt;script&gt;alert\\(1\\)&lt;/script&gt;\n&lt;/div&gt;", "&lt;div&gt; &lt;script&gt;alert\\(1\\)&lt;/script&gt; &lt;/div&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mdBlock(tc.in); got != tc.block {
				t.Errorf("mdBlock(%q):\n got %q\nwant %q", tc.in, got, tc.block)
			}
			if got := mdInline(tc.in); got != tc.inline {
				t.Errorf("mdInline(%q):\n got %q\nwant %q", tc.in, got, tc.inline)
			}
		})
	}
}

// hostileMarkdown is analyst and log text that would be links, images,
// HTML or structure in a Markdown renderer.
var hostileMarkdown = []string{
	`<img src=x onerror=alert(1)>`,
	"![tracker](https://evil.example/pixel.png)",
	"[click me](javascript:alert(1))",
	"<https://evil.example/auto>",
	"[ref]: https://evil.example/ref",
	"<script>alert(document.cookie)</script>",
	"line one\n# Injected heading\n| forged | row |\n```\ncode\n```",
}

// activeMarkdown finds Markdown and HTML syntax that only the template may
// write: a tag, an image or a link, unescaped.
var activeMarkdown = regexp.MustCompile(`<[A-Za-z/!?]|(^|[^\\])!\[|(^|[^\\])\]\(|(^|[^\\])\]:`)

func TestReportHostileMarkdown(t *testing.T) { metatest.Engines(t, testReportHostileMarkdown) }

func testReportHostileMarkdown(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.detect(rule("r-x", "Rule <b>X</b> [see](https://evil.example)", "high"), ev(f.now, "source.ip", "192.0.2.7", "user.name", "![u](https://evil.example/u.png)"))
	f.rec.Flush()
	incs, err := f.inc.List(ctx, ListFilter{})
	if err != nil || len(incs) != 1 {
		t.Fatalf("got %d incidents (%v), want 1", len(incs), err)
	}
	id := incs[0].ID
	all := strings.Join(hostileMarkdown, "\n")
	title := hostileMarkdown[0]
	if _, _, err := f.inc.Update(ctx, id, "alice", Patch{Title: &title, Summary: &all, RootCause: &all, Impact: &all, LessonsLearned: &all}); err != nil {
		t.Fatal(err)
	}
	for _, h := range hostileMarkdown {
		if _, err := f.inc.Comment(ctx, id, "alice", h); err != nil {
			t.Fatal(err)
		}
		if _, err := f.inc.AddTask(ctx, id, "alice", h, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.inc.RecordAction(ctx, id, &Action{Name: "http_request", Target: "[t](https://evil.example)", Status: "ok",
		Result: "POST https://h.example/x?api_key=k-0123456789: 200 OK <b>", Actor: "playbook", Playbook: "p"}); err != nil {
		t.Fatal(err)
	}
	full, err := f.inc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Report(full, "md", f.now)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for i, line := range strings.Split(md, "\n") {
		if m := activeMarkdown.FindString(line); m != "" {
			t.Errorf("line %d: %q holds active syntax %q", i+1, line, m)
		}
		if strings.HasPrefix(line, "# ") && i != 0 || strings.HasPrefix(line, "```") {
			t.Errorf("line %d: %q: a heading or fence from the data", i+1, line)
		}
		if strings.HasPrefix(line, "| forged") {
			t.Errorf("line %d: %q: a table row from the data", i+1, line)
		}
	}
	if strings.Contains(md, "k-0123456789") {
		t.Error("report holds the action's api_key")
	}
	// The text is all there, escaped.
	for _, want := range []string{`&lt;img src=x onerror=alert\(1\)&gt;`, `\!\[tracker\]\(https://evil.example/pixel.png\)`, `\# Injected heading`} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestActionResultMasked: a result that quotes a URL with its key is
// stored and shown masked, in the actions and in the timeline.
func TestActionResultMasked(t *testing.T) { metatest.Engines(t, testActionResultMasked) }

func testActionResultMasked(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	inc, err := f.inc.Create(ctx, "alice", "manual", "medium", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Action{Name: "http_request", Status: "failed", Result: "POST https://u:pw-secret@h.example/x?token=t-0123456789: 500", Actor: "alice", Time: f.now.Add(time.Second)}
	if err := f.inc.RecordAction(ctx, inc.ID, a); err != nil {
		t.Fatal(err)
	}
	full, err := f.inc.Get(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "POST https://u:***@h.example/x?token=***: 500"
	if len(full.Actions) != 1 || full.Actions[0].Result != want {
		t.Fatalf("actions: got %+v, want one with result %q", full.Actions, want)
	}
	for _, e := range full.Timeline {
		if strings.Contains(e.Text, "pw-secret") || strings.Contains(e.Text, "t-0123456789") {
			t.Errorf("timeline entry %q holds the secret", e.Text)
		}
	}

	// Rows recorded before results were masked are masked when read.
	old := "POST https://h.example/x?api_key=old-key-0123: 200"
	if _, err := f.inc.db.ExecContext(ctx, `INSERT INTO incident_actions (id, incident_id, time, name, target, status, result, actor, playbook) VALUES ('old', ?, ?, 'http_request', '', 'ok', ?, 'p', 'p')`,
		inc.ID, f.now.UnixNano(), old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inc.db.ExecContext(ctx, `INSERT INTO incident_timeline (id, incident_id, time, kind, actor, text) VALUES ('old', ?, ?, 'action', 'p', ?)`,
		inc.ID, f.now.UnixNano(), "http_request ok ("+old+")"); err != nil {
		t.Fatal(err)
	}
	full, err = f.inc.Get(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range full.Actions {
		if strings.Contains(a.Result, "old-key-0123") {
			t.Errorf("old action's result %q holds its key", a.Result)
		}
	}
	for _, e := range full.Timeline {
		if strings.Contains(e.Text, "old-key-0123") {
			t.Errorf("old timeline entry %q holds its key", e.Text)
		}
	}
}

// FuzzMarkdown checks that mdBlock leaves no character active: every
// character Markdown or HTML could read as syntax is escaped, and the
// escaped text reads back as the input.
func FuzzMarkdown(f *testing.F) {
	for _, s := range hostileMarkdown {
		f.Add(s)
	}
	f.Add("1. a\n- b\n_c_ d_e *f*")
	f.Fuzz(func(t *testing.T, s string) {
		got := mdBlock(s)
		rs := []rune(got)
		var back strings.Builder
		for i := 0; i < len(rs); i++ {
			r := rs[i]
			switch {
			case r == '\\' && i+1 < len(rs):
				i++
				back.WriteRune(rs[i])
				continue
			case r == '&':
				ent := ""
				for _, e := range []string{"&amp;", "&lt;", "&gt;"} {
					if strings.HasPrefix(string(rs[i:min(i+5, len(rs))]), e) {
						ent = e
					}
				}
				if ent == "" {
					t.Fatalf("mdBlock(%q) = %q: a bare & at %d", s, got, i)
				}
				back.WriteString(map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">"}[ent])
				i += len(ent) - 1
				continue
			case strings.ContainsRune("<>`*[]()!|~$\\{}^", r):
				t.Fatalf("mdBlock(%q) = %q: %q at %d is not escaped", s, got, r, i)
			case r == '_' && (i == 0 || i == len(rs)-1 || !alnum(rs[i-1]) || !alnum(rs[i+1])):
				t.Fatalf("mdBlock(%q) = %q: _ at %d can open emphasis", s, got, i)
			}
			back.WriteRune(r)
		}
		want := string([]rune(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s))) // invalid bytes read as U+FFFD each
		if back.String() != want {
			t.Fatalf("mdBlock(%q) = %q reads back as %q, want %q", s, got, back.String(), want)
		}
	})
}
