package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

func TestReadPasswordLine(t *testing.T) {
	const max = auth.MaxPasswordLength
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "line", in: "a long passphrase\n", want: "a long passphrase"},
		{name: "CRLF", in: "a long passphrase\r\n", want: "a long passphrase"},
		{name: "no newline", in: "a long passphrase", want: "a long passphrase"},
		{name: "first line only", in: "first line here\nsecond line\n", want: "first line here"},
		{name: "spaces kept", in: "  spaced out pass  \n", want: "  spaced out pass  "},
		{name: "empty input", in: "", want: ""},
		{name: "empty line", in: "\n", want: ""},
		{name: "longest", in: strings.Repeat("x", max) + "\n", want: strings.Repeat("x", max)},
		{name: "longest with CRLF", in: strings.Repeat("x", max) + "\r\n", want: strings.Repeat("x", max)},
		{name: "longest at EOF", in: strings.Repeat("x", max), want: strings.Repeat("x", max)},
		{name: "one byte too long", in: strings.Repeat("x", max+1) + "\n", wantErr: "longer than 1024 bytes"},
		{name: "endless", in: strings.Repeat("x", 1<<20), wantErr: "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPasswordLine(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzReadPasswordLine(f *testing.F) {
	for _, s := range []string{"a long passphrase\n", "pw\r\n", "", "\n", "a\nb", strings.Repeat("x", 1025)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := readPasswordLine(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(got) > auth.MaxPasswordLength || strings.Contains(got, "\n") || !strings.HasPrefix(in, got) {
			t.Fatalf("input %q: got %q, want at most one line, a prefix of the input", in, got)
		}
	})
}

// runUser runs a vigil command line with stdin and returns its output.
func runUser(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var prof profiles
	root := newRoot(&prof)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// userServer serves the real API over the meta.db of a fresh data
// directory and returns its URL, an admin token and a viewer token.
func userServer(t *testing.T) (dir, url, admin, viewer string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	db, err := sqlite.OpenMeta(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err = as.CreateToken(ctx, "cli-admin", auth.RoleAdmin, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err = as.CreateToken(ctx, "cli-viewer", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Options{Auth: as, Audit: al, Metrics: metrics.New()}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return dir, srv.URL, admin, viewer
}

// TestUserCommands runs every subcommand on a data directory and through
// a server, with the same expectations.
func TestUserCommands(t *testing.T) {
	dir, url, admin, viewer := userServer(t)
	t.Setenv("VIGIL_TOKEN", "")
	for _, target := range []struct {
		name  string
		flags []string
		actor string
	}{
		{"data", []string{"--data", dir}, "cli:"},
		{"server", []string{"--server", url, "--token", admin}, "cli-admin"},
	} {
		t.Run(target.name, func(t *testing.T) {
			name := "alice-" + target.name
			run := func(stdin string, args ...string) (string, error) {
				return runUser(t, stdin, append(args, target.flags...)...)
			}
			steps := []struct {
				stdin   string
				args    []string
				want    string // in the output or the error
				wantErr bool
			}{
				{"alice's first passphrase\n", []string{"user", "add", name, "--role", "analyst"}, "added user " + name + " (role analyst)", false},
				{"another passphrase\n", []string{"user", "add", name, "--role", "analyst"}, "already exists", true},
				{"alice's next passphrase\n", []string{"user", "passwd", name}, "changed the password of " + name + "; ended 0 console sessions", false},
				{"", []string{"user", "passwd", name}, "no password on standard input", true},
				{"short\n", []string{"user", "passwd", name}, "at least 12 characters, got 5", true},
				{"a long passphrase\n", []string{"user", "passwd", "nobody"}, `user "nobody": no such user`, true},
				{"", []string{"user", "disable", name}, "disabled " + name, false},
				{"", []string{"user", "disable", "nobody"}, "no such user", true},
			}
			for _, s := range steps {
				out, err := run(s.stdin, s.args...)
				got := out
				if err != nil {
					got += err.Error()
				}
				if (err != nil) != s.wantErr || !strings.Contains(got, s.want) {
					t.Errorf("%v: got %q, %v; want error %v and %q", s.args, out, err, s.wantErr, s.want)
				}
			}
			out, err := run("", "user", "list")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "NAME") || !strings.Contains(out, name) || !lineHas(out, name, "analyst", "yes", "*", "never") {
				t.Errorf("list: got\n%s\nwant %s, analyst, disabled yes, never signed in", out, name)
			}
			out, err = run("", "user", "list", "--format", "json")
			if err != nil {
				t.Fatal(err)
			}
			var list struct{ Users []auth.User }
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatalf("list --format json: %v\n%s", err, out)
			}
			found := false
			for _, u := range list.Users {
				if u.Username == name {
					found = u.Disabled && u.Role == auth.RoleAnalyst
				}
			}
			if !found {
				t.Errorf("list --format json: got %s, want %s disabled", out, name)
			}
			if out, err := run("", "user", "enable", name); err != nil || !strings.Contains(out, "enabled "+name) {
				t.Errorf("enable: got %q, %v", out, err)
			}
		})
	}
	// Who made the changes: the person at the command line with --data,
	// the token with --server; never a password.
	db, err := sqlite.OpenMeta(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, _ := audit.Open(context.Background(), db)
	es, err := l.List(context.Background(), audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]int{}
	for _, e := range es {
		b, _ := json.Marshal(e)
		for _, pw := range []string{"first passphrase", "next passphrase"} {
			if strings.Contains(string(b), pw) {
				t.Errorf("audit entry %s holds a password", b)
			}
		}
		if strings.HasPrefix(e.Actor, "cli:") {
			actors["cli"]++
		} else {
			actors[e.Actor]++
		}
	}
	// Each target: add, passwd, disable, enable.
	if actors["cli"] != 4 || actors["cli-admin"] != 4 {
		t.Errorf("audit actors: got %v, want 4 changes by cli:<user> and 4 by cli-admin", actors)
	}

	// Refusals with their reasons and exit statuses.
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
		usage bool // exit status 2
	}{
		{"unknown role", "a long passphrase\n", []string{"user", "add", "bob", "--role", "root", "--data", dir}, `--role: unknown role "root"`, true},
		{"ingest role", "a long passphrase\n", []string{"user", "add", "bob", "--role", "ingest", "--data", dir}, "role ingest is for tokens", true},
		{"no role", "a long passphrase\n", []string{"user", "add", "bob", "--data", dir}, "--role is required", true},
		{"no name", "", []string{"user", "disable", "--data", dir}, "accepts 1 arg", true},
		{"both targets", "", []string{"user", "list", "--data", dir, "--server", url}, "give --server or --data, not both", true},
		{"postgres and data", "", []string{"user", "list", "--data", dir, "--postgres", "postgres://vigil:s3cret@127.0.0.1:1/vigil"}, "give --postgres without --server and --data", true},
		{"postgres unreachable", "", []string{"user", "list", "--postgres", "postgres://vigil:s3cret@127.0.0.1:1/vigil?connect_timeout=5"}, "postgres://vigil:xxxxx@127.0.0.1:1/vigil", false},
		{"no token", "", []string{"user", "list", "--server", url}, "--server needs an admin's API token", true},
		{"viewer token", "", []string{"user", "list", "--server", url, "--token", viewer}, "403 Forbidden: role viewer may not do this", false},
		{"bad token", "", []string{"user", "list", "--server", url, "--token", "nope"}, "401 Unauthorized", false},
		{"bad format", "", []string{"user", "list", "--data", dir, "--format", "csv"}, `--format: "csv" is not table or json`, true},
		{"no data here", "", []string{"user", "list", "--data", t.TempDir()}, "no Vigil data here", false},
		{"missing password file", "", []string{"user", "passwd", "x", "--data", dir, "--password-file", filepath.Join(dir, "nope")}, "--password-file", false},
		{"last admin", "", []string{"user", "disable", "root", "--data", dir}, "last enabled admin", false},
		{"unknown subcommand", "", []string{"user", "remove", "x"}, `unknown command "remove"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "last admin" {
				if _, err := runUser(t, "the root passphrase\n", "user", "add", "root", "--role", "admin", "--data", dir); err != nil {
					t.Fatal(err)
				}
			}
			_, err := runUser(t, tc.stdin, tc.args...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &ue) != tc.usage {
				t.Errorf("got %v, want an error saying %q (usage error: %v)", err, tc.want, tc.usage)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("got %v: the DSN's password shows", err)
			}
		})
	}

	// VIGIL_TOKEN stands in for --token; --password-file for standard
	// input.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("carol's file passphrase\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_TOKEN", admin)
	if out, err := runUser(t, "", "user", "add", "carol", "--role", "viewer", "--server", url, "--password-file", pwFile); err != nil {
		t.Fatalf("add with VIGIL_TOKEN and --password-file: %q, %v", out, err)
	}
	as, _ := auth.Open(context.Background(), db)
	if _, err := as.Login(context.Background(), auth.Credentials{Username: "carol", Password: "carol's file passphrase"}); err != nil {
		t.Errorf("carol with the file's first line: %v", err)
	}
}

// TestUserAddCreatesDataDir: the first user can be added before the first
// vigil serve; the directory and its meta.db are made then.
func TestUserAddCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vigil-data")
	if _, err := runUser(t, "", "user", "list", "--data", dir); err == nil || !strings.Contains(err.Error(), "no Vigil data here") {
		t.Fatalf("list on a missing directory: got %v, want no Vigil data here", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("list made the directory: %v", err)
	}
	if out, err := runUser(t, "the first admin's passphrase\n", "user", "add", "admin", "--role", "admin", "--data", dir); err != nil {
		t.Fatalf("add: %q, %v", out, err)
	}
	if out, err := runUser(t, "", "user", "list", "--data", dir); err != nil || !lineHas(out, "admin", "admin", "no", "*", "never") {
		t.Errorf("list: got %q, %v; want the admin", out, err)
	}
}

// lineHas reports whether a line of out has words as its columns ("*"
// matches any column).
func lineHas(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		cols := strings.Fields(l)
		ok := len(cols) == len(words)
		for i := 0; ok && i < len(words); i++ {
			ok = words[i] == "*" || cols[i] == words[i]
		}
		if ok {
			return true
		}
	}
	return false
}
