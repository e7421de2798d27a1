package metatest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vigilsec/vigil/internal/meta/postgres"
)

// Cluster is a private PostgreSQL server for tests: initdb into a
// temporary directory, listening on a unix socket there and on a free
// 127.0.0.1 port, with durability off (fsync, synchronous commit) since
// its data dies with it. Local (socket) connections are trusted; TCP ones
// need a password (scram-sha-256), as a deployment's would.
type Cluster struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server has exited
	// admin is a superuser connection to the database "vigil".
	admin *sql.DB
}

// PostgresBin returns the directory of PostgreSQL's server programs
// (initdb, postgres): $VIGIL_PG_BIN, or the newest
// /usr/lib/postgresql/*/bin (Debian installs them there, off PATH), or ""
// when PostgreSQL is not installed.
func PostgresBin() string {
	if d := os.Getenv("VIGIL_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

var (
	sharedMu      sync.Mutex
	shared        *Cluster
	sharedErr     error
	sharedStopped bool
)

// PostgresCluster returns the test binary's cluster, started at the first call
// and stopped by Main. Where PostgreSQL is not installed the test skips,
// or fails when the CI environment variable is set (CI installs it).
func PostgresCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin := PostgresBin()
	if bin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, VIGIL_PG_BIN unset); CI must install it (.ci/run)")
		}
		tb.Skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): skipping the PostgreSQL engine")
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedStopped {
		tb.Fatal("the test PostgreSQL cluster was already stopped")
	}
	if shared == nil && sharedErr == nil {
		shared, sharedErr = StartCluster(bin)
	}
	if sharedErr != nil {
		tb.Fatalf("starting PostgreSQL: %v", sharedErr)
	}
	return shared
}

// Main runs the tests of m and then stops the cluster, if one started. A
// package whose tests use the PostgreSQL engine calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(metatest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	sharedStopped = true
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test PostgreSQL cluster:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

const dirPrefix = "vigil-pgtest-"

// StartCluster initialises and starts a cluster with the programs in bin.
// When the process runs as root, the server runs as the postgres user
// (PostgreSQL refuses to run as root).
func StartCluster(bin string) (*Cluster, error) {
	removeStale()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, done: make(chan struct{})}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running PostgreSQL as root is refused, and there is no postgres user to run it as: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(c.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Pdeathsig stops the server if this process dies without Main
	// (a test binary killed at its timeout); it is delivered when the
	// thread that started the child exits, so that thread stays locked to
	// the goroutine that waits for the server.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := c.cmd.Start()
		started <- err
		if err == nil {
			c.cmd.Wait()
		}
		close(c.done)
	}()
	if err := <-started; err != nil {
		return fail(fmt.Errorf("starting postgres: %w", err))
	}
	c.admin = sql.OpenDB(stdlib.GetConnector(*mustConfig(c.DSN("postgres"))))
	// Waits for a real external process: the server accepts connections
	// once it has recovered and started, typically in a few hundred
	// milliseconds.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = c.admin.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return fail(fmt.Errorf("postgres exited: %s", log))
		default:
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("postgres did not accept connections within 60s: %w", err))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.admin.Exec(`CREATE DATABASE vigil`); err != nil {
		return fail(err)
	}
	c.admin.Close()
	c.admin = sql.OpenDB(stdlib.GetConnector(*mustConfig(c.DSN("vigil"))))
	return c, nil
}

// Stop stops the server (fast shutdown) and removes its directory.
func (c *Cluster) Stop() error {
	var errs []error
	if c.admin != nil {
		c.admin.Close()
	}
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, errors.New("postgres did not stop within 30s of SIGINT: killed"))
		}
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// removeStale removes the directories of clusters whose test process
// died without stopping them.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), dirPrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// DSN returns the key=value DSN of database db as the superuser postgres
// over the unix socket, with extra key=value pairs appended.
func (c *Cluster) DSN(db string, extra ...string) string {
	return strings.Join(append([]string{"host=" + c.dir, "port=" + strconv.Itoa(c.port), "user=postgres", "dbname=" + db, "sslmode=disable"}, extra...), " ")
}

// Addr is the server's TCP address (127.0.0.1:port).
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Admin is a superuser connection to the database "vigil", through pgx
// without this repository's driver.
func (c *Cluster) Admin() *sql.DB { return c.admin }

// Schema creates an empty schema named name (a fresh one when name is
// "") in the database "vigil" and returns its name and a DSN whose
// connections use it; it is dropped when the test ends.
func (c *Cluster) Schema(tb testing.TB, name string) (string, string) {
	tb.Helper()
	if name == "" {
		name = "t_" + randomHex(8)
	}
	if _, err := c.admin.Exec(`CREATE SCHEMA IF NOT EXISTS ` + name); err != nil {
		tb.Fatalf("creating schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if _, err := c.admin.Exec(`DROP SCHEMA IF EXISTS ` + name + ` CASCADE`); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name, c.DSN("vigil", "search_path="+name)
}

// openPostgres returns the metadata database of the test's schema for
// key (a fresh schema when key is ""), migrated, closed when the test
// ends.
func openPostgres(tb testing.TB, key string) *sql.DB {
	tb.Helper()
	c := PostgresCluster(tb)
	name := ""
	if key != "" {
		h := fnv.New64a()
		h.Write([]byte(key))
		name = fmt.Sprintf("p_%016x", h.Sum64())
	}
	_, dsn := c.Schema(tb, name)
	db, err := postgres.OpenDB(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, _, err := postgres.Schema.Migrate(context.Background(), db); err != nil {
		tb.Fatalf("migrating PostgreSQL schema %s: %v", name, err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mustConfig(dsn string) *pgx.ConnConfig {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		panic(err)
	}
	return cfg
}

// OpenPostgres returns a migrated PostgreSQL metadata database in a fresh
// schema, whatever the test's engine; closed and dropped when the test
// ends.
func OpenPostgres(tb testing.TB) *sql.DB {
	tb.Helper()
	return openPostgres(tb, "")
}

// OpenPostgresAt is OpenPostgres for the test's schema named key: each
// call with one key opens another handle on the same schema, as another
// process would.
func OpenPostgresAt(tb testing.TB, key string) *sql.DB {
	tb.Helper()
	return openPostgres(tb, tb.Name()+"\x00"+key)
}
