package inventory

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ospkg"
)

// fakeProc copies testdata/proc and adds processes: 812 sshd holding
// socket inode 1001, 900 "web (x)" holding 1002.
func fakeProc(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/proc")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "self"), 0o755)
	for _, p := range []struct{ pid, stat, uid, cmdline, sock string }{
		{"812", "812 (sshd) S 1 812 812 0 -1", "0", "sshd: /usr/sbin/sshd -D [listener]\x00", "1001"},
		{"900", "900 (web (x)) S 812 900 900 0 -1", "105", "/srv/web\x00--port\x008080\x00--token=\x1b[31m\x00", "1002"},
	} {
		d := filepath.Join(dir, p.pid)
		os.MkdirAll(filepath.Join(d, "fd"), 0o755)
		os.WriteFile(filepath.Join(d, "stat"), []byte(p.stat), 0o644)
		os.WriteFile(filepath.Join(d, "status"), []byte("Name:\tx\nUid:\t"+p.uid+"\t"+p.uid+"\t"+p.uid+"\t"+p.uid+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(p.cmdline), 0o644)
		os.Symlink("socket:["+p.sock+"]", filepath.Join(d, "fd", "3"))
		os.Symlink("/dev/null", filepath.Join(d, "fd", "0"))
	}
	return dir
}

func TestCollect(t *testing.T) {
	got, warn, err := Collect(context.Background(), Options{Root: "testdata/root", Proc: fakeProc(t), RPM: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/etc/passwd: 1 malformed lines skipped"}; !cmp.Equal(warn, want) {
		t.Errorf("warnings: got %q, want %q", warn, want)
	}
	os := got[agentwire.SectionOS][0]
	if os["name"] != "Debian GNU/Linux 12 (bookworm)" || os["ecosystem"] != "Debian:12" || os["version_id"] != "12" {
		t.Errorf("os: got %v", os)
	}
	wantPkgs := []agentwire.Item{
		{"name": "libssl3", "arch": "amd64", "version": "3.0.11-1~deb12u2", "ecosystem": "Debian:12", "source": "openssl", "kind": "dpkg", "state": "installed"},
		{"name": "libfoo1", "arch": "i386", "version": "1.0-1+b2", "ecosystem": "Debian:12", "source": "foo", "source_version": "1.0-1", "kind": "dpkg", "state": "installed"},
		{"name": "removed", "version": "2.0", "ecosystem": "Debian:12", "kind": "dpkg", "state": "config-files"},
	}
	if diff := cmp.Diff(wantPkgs, got[agentwire.SectionPackages]); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	wantUsers := []agentwire.Item{
		{"name": "root", "uid": "0", "gid": "0", "home": "/root", "shell": "/bin/bash"},
		{"name": "daemon", "uid": "1", "gid": "1", "home": "/usr/sbin", "shell": "/usr/sbin/nologin"},
		{"name": "sshd", "uid": "105", "gid": "65534", "home": "/run/sshd", "shell": "/usr/sbin/nologin"},
	}
	if diff := cmp.Diff(wantUsers, got[agentwire.SectionUsers]); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	wantGroups := []agentwire.Item{{"name": "root", "gid": "0"}, {"name": "adm", "gid": "4", "members": "syslog alice"}, {"name": "sudo", "gid": "27", "members": "alice"}}
	if diff := cmp.Diff(wantGroups, got[agentwire.SectionGroups]); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	wantProcs := []agentwire.Item{
		{"pid": "812", "ppid": "1", "name": "sshd", "user": "root", "cmdline": "sshd: /usr/sbin/sshd -D [listener]"},
		{"pid": "900", "ppid": "812", "name": "web (x)", "user": "sshd", "cmdline": "/srv/web --port 8080 --token=?[31m"},
	}
	if diff := cmp.Diff(wantProcs, got[agentwire.SectionProcesses]); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	wantPorts := []agentwire.Item{
		{"protocol": "tcp", "address": "0.0.0.0", "port": "22", "pid": "812", "process": "sshd"},
		{"protocol": "tcp", "address": "127.0.0.1", "port": "8080", "pid": "900", "process": "web (x)"},
		{"protocol": "tcp", "address": "::", "port": "22"},
		{"protocol": "tcp", "address": "::1", "port": "631"},
		{"protocol": "udp", "address": "127.0.0.53", "port": "53"},
	}
	if diff := cmp.Diff(wantPorts, got[agentwire.SectionPorts]); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	// Everything collected passes the server's checks.
	for sec, items := range got {
		for _, it := range items {
			if err := agentwire.CheckItem(sec, it); err != nil {
				t.Errorf("%s: %v: %v", sec, it, err)
			}
		}
	}
}

// TestCollectHost collects this machine's inventory: every item passes
// the server's checks and the dpkg packages are there where dpkg is.
func TestCollectHost(t *testing.T) {
	got, warn, err := Collect(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", warn)
	for sec, items := range got {
		for _, it := range items {
			if err := agentwire.CheckItem(sec, it); err != nil {
				t.Errorf("%s: %v: %v", sec, it, err)
			}
		}
	}
	if len(got[agentwire.SectionInterfaces]) == 0 {
		t.Error("no interfaces")
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err == nil && len(got[agentwire.SectionPackages]) == 0 {
		t.Error("dpkg is here but no packages were collected")
	}
	if _, err := os.Stat("/proc/self"); err == nil && len(got[agentwire.SectionProcesses]) == 0 {
		t.Error("procfs is here but no processes were collected")
	}
}

func TestParsePasswdGroup(t *testing.T) {
	tests := []struct {
		name, in string
		parse    func([]byte) ([]agentwire.Item, error)
		n        int
		err      string
	}{
		{"passwd", "a:x:1:1::/h:/bin/sh\n", ParsePasswd, 1, ""},
		{"passwd bad uid", "a:x:-1:1::/h:/bin/sh\n", ParsePasswd, 0, "1 malformed lines skipped"},
		{"passwd fields", "a:x:1:1\n", ParsePasswd, 0, "1 malformed lines skipped"},
		{"passwd control", "a\x1b:x:1:1::/h:/bin/sh\n", ParsePasswd, 1, ""},
		{"group", "g:x:5:a,b\n", ParseGroup, 1, ""},
		{"group bad gid", "g:x:five:a\n", ParseGroup, 0, "1 malformed lines skipped"},
		{"passwd bound", strings.Repeat("a:x:1:1::/h:/bin/sh\n", MaxEntries+1), ParsePasswd, MaxEntries, "more than 50000 entries"},
		{"long line", strings.Repeat("a", 2<<20), ParsePasswd, 0, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.in))
			if len(got) != tt.n {
				t.Errorf("got %d entries, want %d", len(got), tt.n)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got error %v, want %q", err, tt.err)
			}
			for _, it := range got {
				if err := agentwire.CheckItem(agentwire.SectionUsers, it); err != nil && strings.HasPrefix(tt.name, "passwd") {
					t.Error(err)
				}
			}
		})
	}
}

func TestParseProcNetErrors(t *testing.T) {
	hdr := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct{ name, line, want string }{
		{"short", "0: 00000000:0016 00000000:0000 0A\n", "want at least 10 fields"},
		{"address", "0: 0000000:0016 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "want 8 or 32 hex digits"},
		{"port", "0: 00000000:FFFFF 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "want HEX:PORT"},
		{"state", "0: 00000000:0016 00000000:0000 ZZ 0:0 0:0 0 0 0 1\n", `state "ZZ"`},
		{"inode", "0: 00000000:0016 00000000:0000 0A 0:0 0:0 0 0 0 -1\n", `inode "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProcNet([]byte(hdr + tt.line))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCmdline(t *testing.T) {
	long := strings.Repeat("é", MaxCmdline)
	tests := []struct{ in, want string }{
		{"a\x00b\x00", "a b"},
		{"", ""},
		{long, long[:MaxCmdline]},
		{"x" + long, "x" + long[:MaxCmdline-2]},
	}
	for _, tt := range tests {
		if got := Cmdline([]byte(tt.in)); got != tt.want {
			t.Errorf("Cmdline(%.20q): got %.20q (%d bytes), want %.20q (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	for _, n := range []string{"tcp", "tcp6", "udp"} {
		b, _ := os.ReadFile("testdata/proc/net/" + n)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, _ := ParseProcNet(data)
		if len(socks) > MaxEntries {
			t.Errorf("got %d sockets, want at most %d", len(socks), MaxEntries)
		}
	})
}

func FuzzParsePasswd(f *testing.F) {
	b, _ := os.ReadFile("testdata/root/etc/passwd")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		us, _ := ParsePasswd(data)
		for _, u := range us {
			if err := agentwire.CheckItem(agentwire.SectionUsers, u); err != nil {
				t.Errorf("%v: %v", u, err)
			}
		}
	})
}

func FuzzParseGroup(f *testing.F) {
	b, _ := os.ReadFile("testdata/root/etc/group")
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, _ := ParseGroup(data)
		for _, g := range gs {
			if err := agentwire.CheckItem(agentwire.SectionGroups, g); err != nil {
				t.Errorf("%v: %v", g, err)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("900 (web (x)) S 812 900 900 0 -1"))
	f.Add([]byte("1 (init) S 0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, ppid, ok := ParseStat(data)
		if ok && (!numeric(ppid) || len(name) > len(data)) {
			t.Errorf("got %q, %q", name, ppid)
		}
	})
}

// BenchmarkCollect collects this machine's inventory.
func BenchmarkCollect(b *testing.B) {
	for b.Loop() {
		got, _, err := Collect(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(got[agentwire.SectionPackages])), "packages")
		b.ReportMetric(float64(len(got[agentwire.SectionProcesses])), "processes")
		st := agentwire.NewInventoryState(got)
		parts, err := agentwire.EncodeInventory(1, agentwire.Snapshot(st, st.Digest(), 1))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, p := range parts {
			n += len(p.Data)
		}
		b.ReportMetric(float64(n), "compressed-bytes")
	}
}

// TestCollectBounds: past the bounds of processes and open files, the
// rest is left out and said.
func TestCollectBounds(t *testing.T) {
	defer func(p, f, b int) { maxProcesses, maxFDs, maxFileBytes = p, f, b }(maxProcesses, maxFDs, maxFileBytes)
	maxProcesses, maxFDs = 1, 2
	// /etc/group is 47 bytes, /etc/passwd more.
	maxFileBytes = 48
	got, warn, err := Collect(context.Background(), Options{Root: "testdata/root", Proc: fakeProc(t), RPM: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got[agentwire.SectionProcesses]); n != 1 {
		t.Errorf("got %d processes, want 1", n)
	}
	if len(got[agentwire.SectionUsers]) != 0 || len(got[agentwire.SectionGroups]) != 3 {
		t.Errorf("got %d users and %d groups, want 0 (past the file bound) and 3", len(got[agentwire.SectionUsers]), len(got[agentwire.SectionGroups]))
	}
	for _, w := range []string{"testdata/root/etc/passwd: more than 48 bytes", "more than 1 processes: the rest is left out", "2 open files looked at, the bound: some listening sockets may have no process"} {
		if !slices.Contains(warn, w) {
			t.Errorf("warnings %q lack %q", warn, w)
		}
	}
	for _, p := range got[agentwire.SectionPorts] {
		if p["port"] == "8080" && p["pid"] != "" {
			t.Errorf("port 8080 of a process past the bound: got pid %s, want none", p["pid"])
		}
	}
}

// TestCollectRPM runs a stand-in rpm (a shell script printing a query's
// output) on a system of the RPM family, and refuses output past the
// bound.
func TestCollectRPM(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no sh: CI runs on Linux")
		}
		t.Skip("no sh (not a Unix system)")
	}
	out, _ := filepath.Abs("../../ospkg/testdata/rpm-query")
	rpm := filepath.Join(t.TempDir(), "rpm")
	script := "#!" + sh + "\n" + `[ "$1 $2 $3" = "-qa --queryformat ` + ospkg.RPMQueryFormat + `" ] || { echo "bad arguments: $*" >&2; exit 2; }` + "\ncat " + out + "\n"
	if err := os.WriteFile(rpm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: "testdata/rhel", Proc: filepath.Join(t.TempDir(), "none"), RPM: rpm}
	got, warn, err := Collect(context.Background(), opts)
	if err != nil || len(warn) != 0 {
		t.Fatalf("got %v, warnings %q", err, warn)
	}
	pkgs := got[agentwire.SectionPackages]
	if len(pkgs) != 4 || pkgs[1]["name"] != "openssl-libs" || pkgs[1]["version"] != "1:3.0.7-24.el9" || pkgs[1]["ecosystem"] != "Red Hat" || pkgs[1]["source"] != "openssl" {
		t.Errorf("packages: got %v", pkgs)
	}
	defer func(n int) { maxRPMOutput = n }(maxRPMOutput)
	maxRPMOutput = 100
	got, warn, _ = Collect(context.Background(), opts)
	if len(got[agentwire.SectionPackages]) != 0 || len(warn) != 1 || warn[0] != "rpm -qa: more than 100 bytes of output" {
		t.Errorf("past the output bound: got %d packages, warnings %q", len(got[agentwire.SectionPackages]), warn)
	}
}
