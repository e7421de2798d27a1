// Command vigil-agent is Vigil's host agent: it enrolls with a Vigil
// server (a certificate from the server's own CA, for a key it generates
// and keeps) and holds one persistent mutual-TLS connection to it.
//
//	vigil-agent enroll --server URL --token T --data DIR [--server-ca FILE]
//	vigil-agent run --data DIR [--heartbeat 5s] [--file GLOB]... [--buffer-size BYTES] [--fim PATH]... [--fim-ignore GLOB]...
//	vigil-agent version
//
// It links no part of the server (a test checks its dependencies).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/vigilsec/vigil/internal/agent"
	fimpkg "github.com/vigilsec/vigil/internal/agent/fim"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage:
  vigil-agent enroll --server URL --token TOKEN --data DIR [--server-ca FILE]
  vigil-agent run --data DIR [--heartbeat 5s] [--file GLOB]... [--buffer-size 268435456] [--log-level info]
                  [--fim PATH]... [--fim-ignore GLOB]... [--fim-scan-interval 12h] [--fim-max-hash-size 67108864]
                  [--fim-max-files 1000000] [--fim-hash-rate 33554432] [--inventory-interval 1h]
  vigil-agent version

The enrollment token may also come from the environment (VIGIL_AGENT_TOKEN),
which keeps it out of the process list.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "vigil-agent:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "enroll":
		fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
		fs.SetOutput(stderr)
		server := fs.String("server", "", "the Vigil server's URL (https://vigil.example.com:8080)")
		token := fs.String("token", os.Getenv("VIGIL_AGENT_TOKEN"), "enrollment token (env VIGIL_AGENT_TOKEN)")
		dir := fs.String("data", defaultDir(), "the agent's data directory (key, certificate, state)")
		serverCA := fs.String("server-ca", "", "PEM CA of the server's HTTPS certificate (default: the system's roots)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("enroll: unexpected argument %q", fs.Arg(0))
		}
		st, err := agent.Enroll(ctx, agent.EnrollOptions{Server: *server, Token: *token, Dir: *dir, ServerCA: *serverCA, Version: version})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled as agent %s; it connects to %s\n", st.AgentID, st.Endpoint)
		return nil
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dir := fs.String("data", defaultDir(), "the agent's data directory (enroll first)")
		hb := fs.Duration("heartbeat", agent.DefaultHeartbeat, "interval of the heartbeats (1s to 10s)")
		level := fs.String("log-level", "info", "log level: debug, info, warn, error")
		bufSize := fs.Int64("buffer-size", agent.DefaultBufferSize, "bound of the disk buffer in bytes (oldest records dropped past it)")
		invInterval := fs.Duration("inventory-interval", agent.DefaultInventoryInterval, "time between two collections of the inventory (at least 1m)")
		var files []string
		fs.Func("file", "ship the lines of the files matching GLOB (repeatable)", func(s string) error {
			files = append(files, s)
			return nil
		})
		var fim agent.FIMOptions
		fs.Func("fim", "watch PATH (a file or a directory, recursively) for file changes (repeatable)", func(s string) error {
			fim.Paths = append(fim.Paths, s)
			return nil
		})
		fs.Func("fim-ignore", "leave out of --fim the paths matching GLOB: the base name, or the whole path when GLOB has a '/' (repeatable)", func(s string) error {
			fim.Ignore = append(fim.Ignore, s)
			return nil
		})
		fs.DurationVar(&fim.ScanInterval, "fim-scan-interval", fimpkg.DefaultScanInterval, "period of the full scans of the --fim paths (at least 1m)")
		fs.Int64Var(&fim.MaxHashSize, "fim-max-hash-size", fimpkg.DefaultMaxHashSize, "files larger than this many bytes are compared by size and mtime, not hashed")
		fs.IntVar(&fim.MaxFiles, "fim-max-files", fimpkg.DefaultMaxFiles, "bound of the files in the fim baseline")
		fs.Int64Var(&fim.HashRate, "fim-hash-rate", fimpkg.DefaultHashRate, "bytes hashed a second at most (at least 1048576)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
		}
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
		log.Info("vigil-agent starting", "version", version, "data", *dir)
		return agent.Run(ctx, agent.RunOptions{Dir: *dir, Version: version, Heartbeat: *hb, Files: files, BufferSize: *bufSize, FIM: fim, Log: log,
			InventoryInterval: *invInterval})
	case "version":
		fmt.Fprintf(stdout, "vigil-agent %s %s/%s\n", version, runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// defaultDir is the data directory of a packaged agent.
func defaultDir() string {
	if runtime.GOOS == "windows" {
		return `C:\ProgramData\Vigil\agent`
	}
	return "/var/lib/vigil-agent"
}
