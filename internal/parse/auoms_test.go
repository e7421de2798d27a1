package parse

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// values returns the texts of every value of name in ev.
func values(ev *event.Event, name string) []string {
	var out []string
	for _, f := range ev.Fields {
		if f.Key.Name() == name {
			out = append(out, f.Value.Str)
		}
	}
	return out
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ls   -la  ", []string{"ls", "-la"}},
		{`bash -c "echo \"hi\" \$HOME \\ \n"`, []string{"bash", "-c", `echo "hi" $HOME \ \n`}},
		{`sh -c 'a "b" \c'`, []string{"sh", "-c", `a "b" \c`}},
		{`printf $'a\tb\x41\101\'\\\q'`, []string{"printf", "a\tbAA'\\q"}},
		{`a\ b c''d "" ''`, []string{"a b", "cd", "", ""}},
		{`$'\xZZ' $'\e\a\b\f\v\r\n\E'`, []string{`\xZZ`, "\x1b\a\b\f\v\r\n\x1b"}},
		// Unterminated quotes run to the end.
		{`echo "abc def`, []string{"echo", "abc def"}},
		{`echo 'abc def`, []string{"echo", "abc def"}},
		{`echo $'abc`, []string{"echo", "abc"}},
		{`echo \`, []string{"echo", `\`}},
	}
	for _, tt := range tests {
		if got := shellWords(tt.in, maxExecArgs); !slices.Equal(got, tt.want) {
			t.Errorf("shellWords(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellWordsBound(t *testing.T) {
	in := strings.Repeat("x ", maxExecArgs+10)
	if got := len(shellWords(in, maxExecArgs)); got != maxExecArgs {
		t.Errorf("got %d words, want %d", got, maxExecArgs)
	}
}

func TestAuomsCmdline(t *testing.T) {
	tests := []struct {
		name, in           string
		before, cmd, after string
		ok                 bool
	}{
		{"containerid follows", `pid=1 cmdline="a "b" c" containerid=x`, `pid=1`, `a "b" c`, ` containerid=x`, true},
		{"redactors follows", `pid=1 cmdline="a" redactors=r containerid=`, `pid=1`, `a`, ` redactors=r containerid=`, true},
		{"earliest key wins", `pid=1 cmdline="a" containerid=" redactors=`, `pid=1`, `a`, ` containerid=" redactors=`, true},
		{"last quote", `pid=1 cmdline="echo "x"" key=y`, `pid=1`, `echo "x"`, ` key=y`, true},
		{"cut short", `pid=1 cmdline="echo abc`, `pid=1`, `echo abc`, ``, true},
		{"none", `pid=1 exe="/bin/ls"`, ``, ``, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, cmd, after, ok := auomsCmdline(tt.in)
			if before != tt.before || cmd != tt.cmd || after != tt.after || ok != tt.ok {
				t.Errorf("got (%q, %q, %q, %v), want (%q, %q, %q, %v)", before, cmd, after, ok, tt.before, tt.cmd, tt.after, tt.ok)
			}
		})
	}
}

// TestAuditExecve covers the EXECVE and AUOMS_EXECVE process fields.
func TestAuditExecve(t *testing.T) {
	p := New(Options{})
	hex := func(s string) string { return strings.ToUpper(fmt.Sprintf("%x", s)) }
	tests := []struct {
		name, line string
		want       map[string][]string
	}{
		{
			name: "plain arguments",
			line: `type=EXECVE msg=audit(1795255200.5:7): argc=3 a0="/usr/bin/curl" a1="-o" a2="/tmp/x"`,
			want: map[string][]string{
				"process.args":         {"/usr/bin/curl", "-o", "/tmp/x"},
				"process.args_count":   {"3"},
				"process.command_line": {"/usr/bin/curl -o /tmp/x"},
				"process.executable":   {"/usr/bin/curl"},
			},
		},
		{
			name: "relative argv0 is no executable",
			line: `type=EXECVE msg=audit(1795255200.5:7): argc=2 a0="ls" a1=2F746D702F612062`,
			want: map[string][]string{"process.args": {"ls", "/tmp/a b"}, "process.executable": nil},
		},
		{
			name: "split argument",
			line: "type=EXECVE msg=audit(1795255200.5:7): argc=2 a0=\"sh\" a1_len=10 a1[0]=" + hex("echo ") + ` a1[1]="hello"`,
			want: map[string][]string{
				"a1":                   {"echo hello"},
				"a1_len":               {"10"},
				"a1[0]":                nil,
				"process.args":         {"sh", "echo hello"},
				"process.command_line": {"sh echo hello"},
			},
		},
		{
			name: "pieces out of order are dropped",
			line: `type=EXECVE msg=audit(1795255200.5:7): argc=2 a0="sh" a1[1]="lo" a1[0]="hel" a1[1]="p"`,
			want: map[string][]string{"a1": {"help"}, "process.args": {"sh", "help"}},
		},
		{
			name: "AUOMS record",
			line: `type=AUOMS_EXECVE audit(1795255200.5:7): syscall=execve success=yes ppid=1 pid=2 audit_user=alice auid=1000 user=root uid=0 group=adm gid=4 effective_user=root euid=0 comm="python3" exe="/usr/bin/python3.11" cwd="/root" cmdline="python3 -c "import os; os.system('id')"" containerid=`,
			want: map[string][]string{
				"cmdline":              {`python3 -c "import os; os.system('id')"`},
				"process.command_line": {`python3 -c "import os; os.system('id')"`},
				"process.args":         {"python3", "-c", "import os; os.system('id')"},
				"process.executable":   {"/usr/bin/python3.11"},
				"user.name":            {"root"},
				"user.audit.name":      {"alice"},
				"user.effective.name":  {"root"},
				"group.name":           {"adm"},
				"containerid":          nil,
			},
		},
		{
			name: "AUOMS record without cmdline",
			line: `type=AUOMS_EXECVE audit(1795255200.5:7): syscall=execve success=no pid=2 user=root exe="/usr/bin/x"`,
			want: map[string][]string{"process.executable": {"/usr/bin/x"}, "process.command_line": nil, "user.name": {"root"}},
		},
		{
			name: "user outside AUOMS is no user.name",
			line: `type=USER_CMD msg=audit(1795255200.5:7): pid=1 uid=0 user=alice`,
			want: map[string][]string{"user.name": nil},
		},
		{
			name: "enriched auditd names",
			line: "type=SYSCALL msg=audit(1795255200.5:7): syscall=59 auid=1000 uid=0 euid=0 gid=0\x1dAUID=\"alice\" UID=\"root\" EUID=\"root\" GID=\"root\"",
			want: map[string][]string{"user.audit.name": {"alice"}, "user.name": {"root"}, "user.effective.name": {"root"}, "group.name": {"root"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, tt.line)
			if ev.HasTag(event.TagParseError) {
				t.Errorf("tagged parse_error")
			}
			if got, want := ev.Logsource, (event.Logsource{Product: "linux", Service: "auditd"}); got != want {
				t.Errorf("got logsource %+v, want %+v", got, want)
			}
			for name, want := range tt.want {
				if diff := cmp.Diff(want, values(ev, name)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestExecveArgBound: arguments past maxExecArgs are kept as a<N> fields
// but not gathered into process.args.
func TestExecveArgBound(t *testing.T) {
	p := New(Options{MaxFields: 4096})
	var b strings.Builder
	b.WriteString("type=EXECVE msg=audit(1795255200.5:7): argc=300")
	for i := range 300 {
		fmt.Fprintf(&b, ` a%d="x%d"`, i, i)
	}
	// A piece of an argument past the bound is dropped too.
	b.WriteString(` a400[0]="y"`)
	ev := parseLine(t, p, b.String())
	if got := len(values(ev, "process.args")); got != maxExecArgs {
		t.Errorf("got %d process.args, want %d", got, maxExecArgs)
	}
	if got, want := ev.Str("process.args_count"), fmt.Sprint(maxExecArgs); got != want {
		t.Errorf("got process.args_count %s, want %s", got, want)
	}
	if got, want := ev.Str("a299"), "x299"; got != want {
		t.Errorf("got a299 %q, want %q", got, want)
	}
	if _, ok := ev.GetName("a400"); ok {
		t.Error("got a400, want none")
	}
	if ev.HasTag(event.TagTruncated) {
		t.Error("tagged truncated below the field limit")
	}
}

// TestExecveFieldLimit: the field limit stops an EXECVE record's fields
// and marks the event truncated.
func TestExecveFieldLimit(t *testing.T) {
	p := New(Options{MaxFields: 32})
	var b strings.Builder
	b.WriteString("type=EXECVE msg=audit(1795255200.5:7): argc=100")
	for i := range 100 {
		fmt.Fprintf(&b, ` a%d="x"`, i)
	}
	ev := parseLine(t, p, b.String())
	if !ev.HasTag(event.TagTruncated) {
		t.Error("not tagged truncated")
	}
	if n := len(ev.Fields); n > 32+2 {
		t.Errorf("got %d fields, want at most %d", n, 32+2)
	}
}

func FuzzAuoms(f *testing.F) {
	f.Add([]byte(`type=AUOMS_EXECVE audit(1795255200.5:7): syscall=execve pid=2 user=root exe="/bin/x" cmdline="a "b" $'c\x41' 'd' \e" containerid=`))
	f.Add([]byte(`type=AUOMS_EXECVE audit(1.1:1): cmdline="`))
	f.Add([]byte(`type=AUOMS_EXECVE audit(1.1:1): cmdline="x" redactors=" cmdline="y`))
	f.Add([]byte(`type=EXECVE msg=audit(1.1:1): argc=2 a0="sh" a1_len=4 a1[0]=6869 a1[1]="!!" a9999[0]=41`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatText) })
}
