// Package inventory collects what a host has: its OS packages (dpkg,
// apk, rpm), OS and kernel, network interfaces, listening ports with
// their process, local users and groups, and running processes, as
// agentwire inventory items. It reads files (and runs rpm with fixed
// arguments on RPM systems); it changes nothing. Linux first: elsewhere
// it sends the OS, the interfaces, and the users and groups of
// /etc/passwd and /etc/group where they exist.
package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ospkg"
)

// Bounds of what is collected.
const (
	// MaxPackages bounds the packages of one database.
	MaxPackages = agentwire.MaxSectionItems
	// MaxProcesses bounds the processes listed (and those whose open
	// files are searched for sockets).
	MaxProcesses = 10_000
	// MaxFDs bounds the open files looked at over all processes, when
	// the listening sockets' processes are searched.
	MaxFDs = 1_000_000
	// MaxCmdline bounds a process's command line as sent.
	MaxCmdline = 1024
	// MaxFileBytes bounds a file read (a package database, /etc/passwd).
	MaxFileBytes = 64 << 20
	// MaxEntries bounds the users, groups, ports and interfaces.
	MaxEntries = agentwire.MaxSectionItems
	// rpmTimeout bounds the rpm query.
	rpmTimeout = 2 * time.Minute
)

// The bounds as used; tests lower them.
var (
	maxProcesses = MaxProcesses
	maxFDs       = MaxFDs
	maxRPMOutput = MaxFileBytes
	maxFileBytes = MaxFileBytes
)

// Options say where to look (tests point them at testdata).
type Options struct {
	// Root is the root filesystem of the package databases and
	// /etc/{passwd,group,os-release} ("/" when empty).
	Root string
	// Proc is procfs ("/proc" when empty).
	Proc string
	// RPM is the rpm program, run as RPM -qa --queryformat F on a
	// system of the RPM family (empty: /usr/bin/rpm or /bin/rpm, when
	// Root is "/"; "-": never).
	RPM string
}

// Collect collects the inventory. A part that cannot be read is left out
// and said in the warnings; Collect fails only when ctx ends.
func Collect(ctx context.Context, o Options) (map[string][]agentwire.Item, []string, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	if o.RPM == "" && o.Root == "/" {
		for _, p := range []string{"/usr/bin/rpm", "/bin/rpm"} {
			if _, err := os.Stat(p); err == nil {
				o.RPM = p
				break
			}
		}
	}
	var warn []string
	warnf := func(format string, a ...any) { warn = append(warn, fmt.Sprintf(format, a...)) }
	out := map[string][]agentwire.Item{}

	rel := ospkg.OSRelease{}
	if b, err := readFirst(o.Root, "etc/os-release", "usr/lib/os-release"); err == nil {
		rel = ospkg.ParseOSRelease(b)
	} else if runtime.GOOS == "linux" {
		warnf("os-release: %v", err)
	}
	eco := rel.Ecosystem()
	osItem := agentwire.Item{"name": rel.PrettyName, "id": rel.ID, "version": rel.Version, "version_id": rel.VersionID,
		"ecosystem": eco, "kernel": kernel(), "arch": runtime.GOARCH}
	if rel.PrettyName == "" {
		osItem["name"] = runtime.GOOS
	}
	if h, err := os.Hostname(); err == nil {
		osItem["hostname"] = h
	}
	out[agentwire.SectionOS] = []agentwire.Item{clean(osItem)}

	pkgs, w := packages(ctx, o, rel)
	warn = append(warn, w...)
	for _, p := range pkgs {
		out[agentwire.SectionPackages] = append(out[agentwire.SectionPackages], clean(agentwire.Item{"name": p.Name, "arch": p.Arch,
			"version": p.Version, "ecosystem": eco, "source": p.Source, "source_version": p.SourceVersion, "kind": p.Kind, "state": p.State}))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	ifs, err := interfaces()
	if err != nil {
		warnf("interfaces: %v", err)
	}
	out[agentwire.SectionInterfaces] = ifs

	users := map[string]string{} // uid → name, for processes
	if b, err := readFile(filepath.Join(o.Root, "etc/passwd")); err == nil {
		us, err := ParsePasswd(b)
		if err != nil {
			warnf("%v", err)
		}
		for _, u := range us {
			users[u["uid"]] = u["name"]
		}
		out[agentwire.SectionUsers] = us
	} else if !errors.Is(err, os.ErrNotExist) {
		warnf("%v", err)
	}
	if b, err := readFile(filepath.Join(o.Root, "etc/group")); err == nil {
		gs, err := ParseGroup(b)
		if err != nil {
			warnf("%v", err)
		}
		out[agentwire.SectionGroups] = gs
	} else if !errors.Is(err, os.ErrNotExist) {
		warnf("%v", err)
	}

	if _, err := os.Stat(filepath.Join(o.Proc, "self")); err == nil {
		procs, byInode, w := processes(ctx, o.Proc, users)
		warn = append(warn, w...)
		out[agentwire.SectionProcesses] = procs
		ports, w := listening(o.Proc, byInode)
		warn = append(warn, w...)
		out[agentwire.SectionPorts] = ports
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return out, warn, nil
}

// clean makes every value valid (agentwire.CleanValue) and drops the
// empty ones.
func clean(it agentwire.Item) agentwire.Item {
	for k, v := range it {
		if v == "" {
			delete(it, k)
			continue
		}
		it[k] = agentwire.CleanValue(v)
	}
	return it
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(maxFileBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s: more than %d bytes", path, maxFileBytes)
	}
	return b, nil
}

func readFirst(root string, paths ...string) ([]byte, error) {
	var err error
	for _, p := range paths {
		var b []byte
		if b, err = readFile(filepath.Join(root, p)); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// packages reads the package databases present: dpkg's, apk's, and on a
// system of the RPM family rpm's through rpm itself.
func packages(ctx context.Context, o Options, rel ospkg.OSRelease) ([]ospkg.Package, []string) {
	var pkgs []ospkg.Package
	var warn []string
	dbs := []struct {
		path  string
		parse func([]byte, string, int) ([]ospkg.Package, error)
	}{
		{"var/lib/dpkg/status", ospkg.ParseDpkgStatus},
		{"lib/apk/db/installed", ospkg.ParseAPKInstalled},
	}
	for _, db := range dbs {
		p := filepath.Join(o.Root, db.path)
		b, err := readFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			var ps []ospkg.Package
			ps, err = db.parse(b, p, MaxPackages)
			pkgs = append(pkgs, ps...)
		}
		if err != nil {
			warn = append(warn, err.Error())
		}
	}
	if o.RPM != "" && o.RPM != "-" && rel.RPMFamily() {
		ps, err := queryRPM(ctx, o.RPM)
		if err != nil {
			warn = append(warn, err.Error())
		}
		pkgs = append(pkgs, ps...)
	}
	return pkgs, warn
}

// queryRPM runs rpm -qa with a fixed query format: nothing of the host's
// reaches its arguments. (The rpm database is SQLite or Berkeley DB
// files, whose readers would make the agent link a database.)
func queryRPM(ctx context.Context, rpm string) ([]ospkg.Package, error) {
	ctx, cancel := context.WithTimeout(ctx, rpmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rpm, "-qa", "--queryformat", ospkg.RPMQueryFormat)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	var stdout limitedBuffer
	stdout.max = maxRPMOutput
	var stderr limitedBuffer
	stderr.max = 4 << 10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("rpm -qa: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if stdout.over {
		return nil, fmt.Errorf("rpm -qa: more than %d bytes of output", maxRPMOutput)
	}
	return ospkg.ParseRPMQuery(stdout.Bytes(), MaxPackages)
}

// limitedBuffer keeps the first max bytes written to it. (It does not
// embed bytes.Buffer, whose ReadFrom io.Copy would call instead.)
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }

// interfaces lists the network interfaces with their addresses.
func interfaces() ([]agentwire.Item, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []agentwire.Item
	for _, ifc := range ifs {
		if len(out) >= MaxEntries {
			break
		}
		var addrs []string
		if as, err := ifc.Addrs(); err == nil {
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
		}
		slices.Sort(addrs)
		out = append(out, clean(agentwire.Item{"name": ifc.Name, "mac": ifc.HardwareAddr.String(), "mtu": strconv.Itoa(ifc.MTU),
			"flags": ifc.Flags.String(), "addresses": strings.Join(addrs, " ")}))
	}
	return out, nil
}

// ParsePasswd reads /etc/passwd: name:password:uid:gid:gecos:home:shell
// lines (the password and gecos fields are not kept). Malformed lines
// are skipped and counted in the error, which comes with the users read.
func ParsePasswd(data []byte) ([]agentwire.Item, error) {
	var out []agentwire.Item
	bad := 0
	err := lines(data, func(line string) bool {
		f := strings.Split(line, ":")
		if len(f) != 7 || f[0] == "" || !numeric(f[2]) || !numeric(f[3]) {
			bad++
			return true
		}
		out = append(out, clean(agentwire.Item{"name": f[0], "uid": f[2], "gid": f[3], "home": f[5], "shell": f[6]}))
		return len(out) < MaxEntries
	})
	return out, badLines("/etc/passwd", bad, len(out), err)
}

// ParseGroup reads /etc/group: name:password:gid:members lines.
func ParseGroup(data []byte) ([]agentwire.Item, error) {
	var out []agentwire.Item
	bad := 0
	err := lines(data, func(line string) bool {
		f := strings.Split(line, ":")
		if len(f) != 4 || f[0] == "" || !numeric(f[2]) {
			bad++
			return true
		}
		out = append(out, clean(agentwire.Item{"name": f[0], "gid": f[2], "members": strings.ReplaceAll(f[3], ",", " ")}))
		return len(out) < MaxEntries
	})
	return out, badLines("/etc/group", bad, len(out), err)
}

func badLines(file string, bad, n int, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", file, err)
	case n >= MaxEntries:
		return fmt.Errorf("%s: more than %d entries: the rest is left out", file, MaxEntries)
	case bad > 0:
		return fmt.Errorf("%s: %d malformed lines skipped", file, bad)
	}
	return nil
}

// lines calls f with each line that is neither blank nor a comment,
// until f returns false.
func lines(data []byte, f func(string) bool) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !f(line) {
			return nil
		}
	}
	return sc.Err()
}

func numeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// Socket is a socket of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Addr  netip.AddrPort
	State int
	Inode uint64
}

// TCP and UDP states of /proc/net: a listening TCP socket, an unconnected
// UDP one.
const (
	tcpListen = 0x0A
	udpClose  = 0x07
)

// ParseProcNet reads /proc/net/tcp (or tcp6, udp, udp6): a header line,
// then one socket a line with the local address in hexadecimal words of
// the host's byte order, the state and the inode. At most MaxEntries
// sockets.
func ParseProcNet(data []byte) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return out, fmt.Errorf("line %d: want at least 10 fields, got %d", line, len(f))
		}
		ap, err := parseHexAddr(f[1])
		if err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return out, fmt.Errorf("line %d: state %q: %w", line, f[3], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return out, fmt.Errorf("line %d: inode %q: %w", line, f[9], err)
		}
		if len(out) >= MaxEntries {
			return out, fmt.Errorf("more than %d sockets", MaxEntries)
		}
		out = append(out, Socket{Addr: ap, State: int(st), Inode: inode})
	}
	return out, sc.Err()
}

func parseHexAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: want HEX:PORT", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, fmt.Errorf("address %q: want 8 or 32 hex digits", s)
	}
	// Each 32-bit word is printed as a number in the host's byte order.
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// proc is a process's name and pid, for the sockets it holds.
type proc struct{ pid, name string }

// listening lists the listening TCP sockets and unconnected UDP ones,
// with the process holding each where byInode knows it.
func listening(procDir string, byInode map[uint64]proc) ([]agentwire.Item, []string) {
	var out []agentwire.Item
	var warn []string
	for _, f := range []struct {
		file, proto string
		state       int
	}{{"tcp", "tcp", tcpListen}, {"tcp6", "tcp", tcpListen}, {"udp", "udp", udpClose}, {"udp6", "udp", udpClose}} {
		b, err := readFile(filepath.Join(procDir, "net", f.file))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				warn = append(warn, err.Error())
			}
			continue
		}
		socks, err := ParseProcNet(b)
		if err != nil {
			warn = append(warn, fmt.Sprintf("%s: %v", filepath.Join(procDir, "net", f.file), err))
		}
		for _, s := range socks {
			if s.State != f.state || s.Addr.Port() == 0 || len(out) >= MaxEntries {
				continue
			}
			it := agentwire.Item{"protocol": f.proto, "address": s.Addr.Addr().String(), "port": strconv.Itoa(int(s.Addr.Port()))}
			if p, ok := byInode[s.Inode]; ok && s.Inode != 0 {
				it["pid"], it["process"] = p.pid, p.name
			}
			out = append(out, clean(it))
		}
	}
	return out, warn
}

// processes lists the running processes (at most MaxProcesses) and maps
// the socket inodes they hold to them (at most MaxFDs open files looked
// at).
func processes(ctx context.Context, procDir string, users map[string]string) ([]agentwire.Item, map[uint64]proc, []string) {
	var warn []string
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	var out []agentwire.Item
	byInode := map[uint64]proc{}
	fds := 0
	for _, e := range ents {
		pid := e.Name()
		if !numeric(pid) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if len(out) >= maxProcesses {
			warn = append(warn, fmt.Sprintf("more than %d processes: the rest is left out", maxProcesses))
			break
		}
		dir := filepath.Join(procDir, pid)
		stat, err := readSmall(filepath.Join(dir, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		name, ppid, ok := ParseStat(stat)
		if !ok {
			continue
		}
		it := agentwire.Item{"pid": pid, "ppid": ppid, "name": name}
		if st, err := readSmall(filepath.Join(dir, "status")); err == nil {
			if uid, ok := statusUID(st); ok {
				it["user"] = uid
				if n := users[uid]; n != "" {
					it["user"] = n
				}
			}
		}
		if cl, err := readSmall(filepath.Join(dir, "cmdline")); err == nil {
			it["cmdline"] = Cmdline(cl)
		}
		out = append(out, clean(it))
		if fds < maxFDs {
			fds += socketsOf(filepath.Join(dir, "fd"), proc{pid: pid, name: name}, byInode, maxFDs-fds)
		}
	}
	if fds >= maxFDs {
		warn = append(warn, fmt.Sprintf("%d open files looked at, the bound: some listening sockets may have no process", maxFDs))
	}
	return out, byInode, warn
}

// readSmall reads at most 64 KiB of a procfs file.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// ParseStat reads /proc/PID/stat's command name (between the first '('
// and the last ')': the name may hold both) and parent pid.
func ParseStat(b []byte) (name, ppid string, ok bool) {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return "", "", false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 2 || !numeric(f[1]) {
		return "", "", false
	}
	return string(b[i+1 : j]), f[1], true
}

// statusUID is the real uid of /proc/PID/status.
func statusUID(b []byte) (string, bool) {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 && numeric(f[0]) {
				return f[0], true
			}
			return "", false
		}
	}
	return "", false
}

// Cmdline makes /proc/PID/cmdline (arguments ended by NUL bytes) one line
// of arguments separated by spaces, cut to MaxCmdline bytes.
func Cmdline(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	s := strings.ReplaceAll(string(b), "\x00", " ")
	s = agentwire.CleanValue(s)
	if len(s) > MaxCmdline {
		s = strings.ToValidUTF8(s[:MaxCmdline], "")
	}
	return s
}

// socketsOf maps the socket inodes among a process's open files (at most
// limit looked at) to it, and returns how many were looked at.
func socketsOf(fdDir string, p proc, byInode map[uint64]proc, limit int) int {
	d, err := os.Open(fdDir)
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(limit)
	for _, n := range names {
		l, err := os.Readlink(filepath.Join(fdDir, n))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				if _, seen := byInode[ino]; !seen {
					byInode[ino] = p
				}
			}
		}
	}
	return len(names)
}
