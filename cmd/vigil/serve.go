package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/server"
	"github.com/vigilsec/vigil/internal/store/vlstore"
)

func newServeCmd() *cobra.Command {
	var (
		cfgFile     string
		checkConfig bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: inputs, pipeline, API",
		Long: `Run the Vigil server with the embedded store in --data (events, and the
metadata in DATA/meta.db unless --postgres names a PostgreSQL database).

Configuration is layered: built-in defaults, then the YAML file given with
--config, then VIGIL_* environment variables (VIGIL_HTTP, VIGIL_SYSLOG_TCP,
VIGIL_BOOTSTRAP_TOKEN, ...), then these flags. See docs/configuration.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Ingest allocates about 2 KB per event and keeps ~120 MB
			// live (queues, correlation state): collecting at 2.5x the
			// live heap instead of 2x saves about 7 % of the CPU per event
			// for ~65 MiB more peak RSS (~395 MiB under vigil bench
			// ingest); 3x saved 3 % more for 70 MiB more
			// (docs/configuration.md).
			defaultGCPercent(150)
			cfg, err := config.Load(cfgFile, os.Environ(), flagLayer(cmd.Flags()))
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			if checkConfig {
				fmt.Fprintln(cmd.OutOrStdout(), "configuration OK")
				return nil
			}
			log := newLogger(cfg.Log)
			commit, _, _ := buildInfo()
			log.Info("starting vigil", "version", version, "commit", commit)
			for _, name := range cfg.UnknownEnv {
				if name != "VIGIL_TOKEN" && name != "VIGIL_RULES_URL" {
					log.Warn("environment variable names no setting; ignored", "name", name)
				}
			}
			if addr, _ := cmd.Flags().GetString("pprof"); addr != "" {
				if err := startPprof(addr, log); err != nil {
					return err
				}
			}
			srv := server.New(cfg, log)
			srv.CheckStore = func(ctx context.Context, dir string, scan bool) ([]vlstore.Quarantined, error) {
				exe, err := os.Executable()
				if err != nil {
					return nil, fmt.Errorf("checking the store: %w", err)
				}
				return vlstore.CheckInChild(ctx, exe, dir, scan)
			}
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	d := config.Default()
	f.StringVar(&cfgFile, "config", "", "YAML configuration file")
	f.String("data", d.Data, "data directory")
	f.String("http", d.HTTP, "HTTP listen address (API, ingest endpoints)")
	f.String("syslog-udp", d.Syslog.UDP, "syslog UDP listen address (empty disables)")
	f.String("syslog-tcp", d.Syslog.TCP, "syslog TCP listen address (empty disables)")
	f.String("syslog-tls", "", "syslog over TLS (RFC 5425) listen address (needs --tls-cert and --tls-key)")
	f.String("tls-cert", "", "PEM certificate for --syslog-tls")
	f.String("tls-key", "", "PEM private key for --syslog-tls")
	f.String("http-tls-cert", "", "PEM certificate: serve --http over HTTPS only, TLS 1.2 or later (needs --http-tls-key)")
	f.String("http-tls-key", "", "PEM private key for --http-tls-cert")
	f.StringArray("rules", nil, "extra Sigma rule directory (repeatable)")
	f.StringSlice("trust-proxy", nil, "reverse proxies (CIDR[,CIDR]) whose X-Forwarded-For and X-Forwarded-Proto are believed (env VIGIL_TRUST_PROXY; default none)")
	f.String("bootstrap-token", "", "create an admin API token with this value if it does not exist (env VIGIL_BOOTSTRAP_TOKEN)")
	f.String("postgres", "", "keep the metadata (alerts, incidents, users, audit, ...) in this PostgreSQL database (a DSN: postgres://user:password@host/db) instead of DATA/meta.db (env VIGIL_POSTGRES)")
	f.String("events", "", "keep the events in this VictoriaLogs server (http://host:9428, a single node or a cluster's front) instead of DATA; its retention applies (env VIGIL_EVENTS)")
	f.String("role", d.Role, "what this server does in a cluster: all, ingest (inputs and parsers, publishing to --nats) or detect (the whole server, consuming --nats) (env VIGIL_ROLE)")
	f.String("nats", "", "NATS server of the ingest and detect roles' bus (nats://host:4222, or a comma-separated list) (env VIGIL_NATS)")
	f.Int("nats-replicas", 1, "replicas of the bus's streams: 1 on one NATS server, 3 on a three-server cluster (env VIGIL_NATS_REPLICAS)")
	f.String("agents-listen", "", "host agents' mutual-TLS listen address, e.g. 0.0.0.0:8443 (empty disables agents; env VIGIL_AGENTS_LISTEN; docs/agent.md)")
	f.String("log-level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", d.Log.Format, "log format: text or json")
	f.Duration("shutdown-timeout", d.ShutdownTimeout, "bound on a shutdown, from SIGTERM to exit; what cannot be stored in time is spooled to DATA/spool (env VIGIL_SHUTDOWN_TIMEOUT)")
	f.Bool("demo", false, "replay a built-in attack scenario so a first run has something to show")
	f.BoolVar(&checkConfig, "check-config", false, "validate the configuration and exit")
	f.String("pprof", "", "serve Go's profiling endpoints (/debug/pprof/) on this loopback address, for diagnosing CPU and memory use")
	return cmd
}

// serveFlags maps each configuration flag of serve to its configuration
// key: the flags set on the command line are the last layer of
// config.Load, after the file and the environment.
var serveFlags = map[string]string{
	"data": "data", "http": "http", "postgres": "postgres", "events": "events", "role": "role", "nats": "nats", "nats-replicas": "nats_replicas", "bootstrap-token": "bootstrap_token",
	"syslog-udp": "syslog.udp", "syslog-tcp": "syslog.tcp", "syslog-tls": "syslog.tls",
	"tls-cert": "syslog.tls_cert", "tls-key": "syslog.tls_key",
	"http-tls-cert": "http_server.tls_cert", "http-tls-key": "http_server.tls_key",
	"log-level": "log.level", "log-format": "log.format", "demo": "demo", "rules": "rules",
	"trust-proxy": "trust_proxy", "shutdown-timeout": "shutdown_timeout",
	"agents-listen": "agents.listen",
}

// flagLayer returns the configuration flags set on the command line, by
// configuration key.
func flagLayer(f *pflag.FlagSet) map[string]any {
	out := map[string]any{}
	f.Visit(func(fl *pflag.Flag) {
		key, ok := serveFlags[fl.Name]
		if !ok {
			return
		}
		switch fl.Value.Type() {
		case "stringArray", "stringSlice":
			out[key] = fl.Value.(pflag.SliceValue).GetSlice()
		default:
			// The decoder converts the text like the file's and the
			// environment's values (durations, booleans).
			out[key] = fl.Value.String()
		}
	})
	return out
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// startPprof serves net/http/pprof on addr, which must be a loopback
// address: profiles reveal memory contents and cost CPU to take.
func startPprof(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener stopped", "err", err)
		}
	}()
	log.Warn("profiling endpoints enabled", "addr", ln.Addr().String())
	return nil
}
