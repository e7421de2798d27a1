package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// The tests in this file run the command line in process, through run, as
// main does: arguments in, standard output, standard error and an exit
// status out.

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cliResult is one run of the command line.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// golden compares got with testdata/name, or with -update writes it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got; go test -update rewrites it after review):\n%s", path, diff)
	}
}

// testdataDir is the absolute path of testdata: the hunt tests change
// the working directory.
var testdataDir = func() string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return d
}()

// huntTime is the modification time given to the hunt test logs: hunt
// takes it as the records' event.ingested (and the year of a syslog line
// without one), so that the output is the same on every checkout.
var huntTime = time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC)

// huntSetup copies testdata/hunt/logs into logs/ of a new working
// directory and returns the rule folder. Paths in the output are then the
// relative logs/sys.log and logs/win.jsonl.
func huntSetup(t *testing.T) (rules string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.CopyFS("logs", os.DirFS(filepath.Join(testdataDir, "hunt", "logs"))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"logs/sys.log", "logs/win.jsonl"} {
		if err := os.Chtimes(name, huntTime, huntTime); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(testdataDir, "hunt", "rules")
}

// timings are the parts of hunt's standard error that change from run
// to run: the time taken and the rate.
var timings = regexp.MustCompile(` in [0-9.]+[nµm]?s\b|: [0-9]+ events/s;`)

func TestCLIHunt(t *testing.T) {
	rules := huntSetup(t)
	base := []string{"hunt", "--no-builtin", "--rules", rules}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // golden file, under testdata/hunt/golden
		stderr string // golden file; "" wants no standard error
	}{
		{name: "jsonl", args: []string{"--format", "jsonl", "--quiet", "logs"}, stdout: "findings.jsonl"},
		{name: "csv", args: []string{"--format", "csv", "--quiet", "logs"}, stdout: "findings.csv"},
		{name: "table", args: []string{"--quiet", "logs"}, stdout: "findings.table"},
		{name: "summary", args: []string{"--format", "jsonl", "logs"}, stdout: "findings.jsonl", stderr: "summary.txt"},
		{name: "min-level", args: []string{"--format", "jsonl", "--quiet", "--min-level", "medium", "logs/win.jsonl", "logs/sys.log"}, stdout: "min-medium.jsonl"},
		{name: "fail-on a level found", args: []string{"--format", "jsonl", "--quiet", "--fail-on", "high", "logs"}, code: 1, stdout: "findings.jsonl"},
		{name: "fail-on a level not found", args: []string{"--format", "jsonl", "--quiet", "--fail-on", "critical", "logs"}, stdout: "findings.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append(base, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit status %d, want %d\nstderr:\n%s", r.code, tt.code, r.stderr)
			}
			golden(t, filepath.Join("hunt", "golden", tt.stdout), r.stdout)
			if tt.stderr == "" {
				if r.stderr != "" {
					t.Errorf("stderr: got %q, want nothing", r.stderr)
				}
				return
			}
			golden(t, filepath.Join("hunt", "golden", tt.stderr), timings.ReplaceAllStringFunc(r.stderr, func(s string) string {
				if strings.HasPrefix(s, " in ") {
					return " in TIME"
				}
				return ": RATE events/s;"
			}))
		})
	}

	t.Run("output file", func(t *testing.T) {
		r := runCLI(t, append(base, "--format", "jsonl", "--quiet", "--output", "out.jsonl", "logs")...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Fatalf("got %+v, want status 0 and no output", r)
		}
		got, err := os.ReadFile("out.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("hunt", "golden", "findings.jsonl"), string(got))
	})

	t.Run("hostile file name in a warning", func(t *testing.T) {
		name := "logs2/bad\x1b[2J\x1b]0;pwned\x07.jsonl"
		if err := os.MkdirAll("logs2", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("{\"a\":1}\n{not json\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, append(base, "--format", "jsonl", "--quiet", "logs2")...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0 (a warning does not stop the scan)\nstderr:\n%s", r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "warning: ") || !strings.Contains(r.stderr, "logs2/bad?[2J?]0;pwned?.jsonl") {
			t.Errorf("stderr: got %q, want a warning naming the file with its control characters as ?", r.stderr)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name           string
			args           []string
			code           int
			stdout, stderr string
		}{
			// The unreadable path is a warning as in a scan of many, and the
			// run's error when nothing could be read.
			{"no input", []string{"nowhere"}, 1, "TIME  LEVEL  RULE  HOST  FILE\n",
				"warning: stat nowhere: no such file or directory\nvigil: stat nowhere: no such file or directory\n"},
			{"output not writable", []string{"--output", "nodir/out.jsonl", "logs"}, 1, "", "vigil: open nodir/out.jsonl: no such file or directory\n"},
			{"no path", nil, 2, "", "vigil: requires at least 1 arg(s), only received 0\n"},
			{"unknown format", []string{"--format", "xml", "logs"}, 2, "", "vigil: --format: \"xml\" is not table, jsonl or csv\n"},
			{"unknown level", []string{"--min-level", "severe", "logs"}, 2, "", "vigil: --min-level: unknown level \"severe\" (want informational, low, medium, high or critical)\n"},
			{"unknown flag", []string{"--colour", "logs"}, 2, "", "vigil: unknown flag: --colour\n"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := runCLI(t, append(append(base, "--quiet"), tt.args...)...)
				if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
					t.Errorf("got status %d, stdout %q, stderr %q; want status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
				}
			})
		}
	})
}

// searchServer serves the real REST API over the data directory dir and
// returns its URL and a viewer's token.
func searchServer(t *testing.T, dir string) (url, token string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	as, err := auth.Open(ctx, metatest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	token, _, err = as.CreateToken(ctx, "viewer", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Options{Store: st, Auth: as, Metrics: metrics.New()}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, token
}

func TestCLISearchServer(t *testing.T) {
	url, token := searchServer(t, searchDataDir(t))
	q := "user.name:(alice OR bob) | sort user.name | fields user.name, missing"
	tests := []struct {
		name   string
		env    string // VIGIL_TOKEN
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "ndjson", args: []string{"--server", url, "--token", token, "--format", "ndjson", q}, stdout: `{"user.name":"alice","missing":null}` + "\n" + `{"user.name":"bob","missing":null}` + "\n",
			stderr: "warning: no event has field \"missing\"\n"},
		{name: "table", args: []string{"--server", url, "--token", token, "--since", "1d", q}, stdout: "USER.NAME  MISSING\nalice      \nbob        \n2 of 2 matching events\n",
			stderr: "warning: no event has field \"missing\"\n"},
		{name: "token from the environment", env: token, args: []string{"--server", url, "--format", "csv", "user.name:carol | fields user.name"}, stdout: "\"user.name\"\n\"carol\"\n"},
		{name: "limit", args: []string{"--server", url, "--token", token, "--limit", "1", "--format", "ndjson", "* | sort user.name | fields user.name"}, stdout: `{"user.name":"alice"}` + "\n"},
		{name: "outside the range", args: []string{"--server", url, "--token", token, "--until", "2h", "--format", "ndjson", "*"}},
		{name: "no token", args: []string{"--server", url, q}, code: 1, stderr: "vigil: server answered 401 Unauthorized: invalid or missing token\n"},
		{name: "bad token", args: []string{"--server", url, "--token", "nope", q}, code: 1, stderr: "vigil: server answered 401 Unauthorized: invalid or missing token\n"},
		{name: "no server", args: []string{"--server", "http://127.0.0.1:1", q}, code: 1, stderr: "vigil: searching http://127.0.0.1:1: Get \"http://127.0.0.1:1/api/v1/search?limit=100&q=user.name%3A%28alice+OR+bob%29+%7C+sort+user.name+%7C+fields+user.name%2C+missing\": dial tcp 127.0.0.1:1: connect: connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VIGIL_TOKEN", tt.env)
			r := runCLI(t, append([]string{"search"}, tt.args...)...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("got status %d\nstdout %q\nstderr %q\nwant status %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestCLISearchUsage(t *testing.T) {
	dir := searchDataDir(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no query", []string{"--data", dir}, 2, "vigil: accepts 1 arg(s), received 0\n"},
		{"two queries", []string{"--data", dir, "a", "b"}, 2, "vigil: accepts 1 arg(s), received 2\n"},
		{"unknown format", []string{"--data", dir, "--format", "xml", "*"}, 2, "vigil: --format: \"xml\" is not table, json, ndjson, csv\n"},
		{"server and data", []string{"--data", dir, "--server", "http://127.0.0.1:1", "*"}, 2, "vigil: give --server or --data, not both\n"},
		{"bad since", []string{"--data", dir, "--since", "yesterday", "*"}, 2, "vigil: --since: "},
		{"bad until", []string{"--data", dir, "--until", "soon", "*"}, 2, "vigil: --until: "},
		{"unknown flag", []string{"--dta", dir, "*"}, 2, "vigil: unknown flag: --dta\n"},
		{"bad query", []string{"--data", dir, "user.name:(bob"}, 1, "vigil: query:1:"},
		{"no data directory", []string{"--data", filepath.Join(dir, "nope"), "*"}, 1, "vigil: --data: stat "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"search"}, tt.args...)...)
			if r.code != tt.code || r.stdout != "" || !strings.HasPrefix(r.stderr, tt.stderr) {
				t.Errorf("got status %d, stdout %q, stderr %q; want status %d, no stdout, stderr starting %q", r.code, r.stdout, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestCLIVersion(t *testing.T) {
	r := runCLI(t, "version")
	want := regexp.MustCompile(`^vigil dev\ncommit: .+\ngo: ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	if r.code != 0 || !want.MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("got status %d, stdout %q, stderr %q; want status 0 and stdout matching %s", r.code, r.stdout, r.stderr, want)
	}
	if r := runCLI(t, "version", "extra"); r.code != 2 || r.stderr != "vigil: unknown command \"extra\" for \"vigil version\"\n" {
		t.Errorf("version extra: got status %d, stderr %q; want status 2 and an unknown command error", r.code, r.stderr)
	}
}

func TestCLIUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring
		stderr string
	}{
		{"no command", nil, 0, "Available Commands:", ""},
		{"help", []string{"help"}, 0, "Available Commands:", ""},
		{"help flag", []string{"--help"}, 0, "Available Commands:", ""},
		{"help of a command", []string{"help", "hunt"}, 0, "vigil hunt PATH... [flags]", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "vigil: unknown command \"frobnicate\" for \"vigil\"\n"},
		{"misspelt command", []string{"serach", "x"}, 2, "", "vigil: unknown command \"serach\" for \"vigil\"\n\nDid you mean this?\n\tsearch\n\n"},
		{"unknown flag", []string{"--colour"}, 2, "", "vigil: unknown flag: --colour\n"},
		{"unknown flag of a command", []string{"version", "--short"}, 2, "", "vigil: unknown flag: --short\n"},
		{"flag without its value", []string{"hunt", "--format"}, 2, "", "vigil: flag needs an argument: --format\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || r.stderr != tt.stderr {
				t.Errorf("got status %d, stdout %q, stderr %q; want status %d, stdout with %q, stderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestCLIProfiles checks that --cpuprofile and --memprofile are written
// however the command ends: here with the exit status of --fail-on.
func TestCLIProfiles(t *testing.T) {
	rules := huntSetup(t)
	r := runCLI(t, "hunt", "--cpuprofile", "cpu.pprof", "--memprofile", "mem.pprof", "--no-builtin", "--rules", rules, "--quiet", "--fail-on", "low", "--format", "jsonl", "logs")
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"cpu.pprof", "mem.pprof"} {
		if st, err := os.Stat(name); err != nil || st.Size() == 0 {
			t.Errorf("%s: got %v, want a profile", name, err)
		}
	}
	if r := runCLI(t, "version", "--memprofile", "nodir/mem.pprof"); r.code != 0 || !strings.HasPrefix(r.stderr, "vigil: --memprofile: open nodir/mem.pprof: ") {
		t.Errorf("unwritable --memprofile: got status %d, stderr %q; want status 0 and the error on stderr", r.code, r.stderr)
	}
}
