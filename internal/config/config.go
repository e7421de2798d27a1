// Package config holds the typed configuration of `vigil serve`: defaults,
// loading from a YAML file and VIGIL_* environment variables (flags are
// applied on top by the command), and validation.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/anomaly"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/bytesize"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/ingest/httpin"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/meta/postgres"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store/vlstore"
	"github.com/vigilsec/vigil/internal/vuln/findings"
)

// Config is the whole server configuration.
type Config struct {
	// Data is the data directory (database files, offsets, rules).
	Data string `koanf:"data"`
	// HTTP is the main listener address: API, ingest endpoints, console.
	HTTP string `koanf:"http"`
	// BootstrapToken, when set, idempotently creates an admin API token
	// with this value at start-up (for automation). Never logged.
	BootstrapToken string `koanf:"bootstrap_token"`
	// Postgres, when set, is the DSN of the PostgreSQL database that
	// holds the metadata (alerts, incidents, users, tokens, sessions,
	// audit, notification and response state) instead of DATA/meta.db;
	// events stay in the data directory (docs/storage.md). Logged only
	// with its password redacted.
	Postgres string `koanf:"postgres"`
	// Events, when set, is the URL of a VictoriaLogs server (single node,
	// or a cluster's front) that holds the events instead of the data
	// directory; its own retention applies (docs/scale-out.md). The
	// metadata stays in DATA/meta.db or PostgreSQL.
	Events string `koanf:"events"`
	// Role is what this server does in a cluster (docs/scale-out.md):
	// all (default: everything, on one machine), ingest (inputs and
	// parsers, publishing to the NATS bus), or detect (the whole server,
	// consuming the bus).
	Role string `koanf:"role"`
	// NATS is the NATS server (nats://host:4222, or a comma-separated
	// list) of the ingest and detect roles' bus.
	NATS string `koanf:"nats"`
	// NATSReplicas is the bus streams' replica count: 1 on one NATS
	// server, 3 on a three-server cluster (at most 5). Every node of a
	// cluster must agree on it.
	NATSReplicas int `koanf:"nats_replicas"`
	// Demo replays a built-in attack scenario after start-up, so a first
	// run has detections, incidents and ATT&CK hits to show.
	Demo bool `koanf:"demo"`
	// Rules are extra rule directories; the bundled rules and DATA/rules
	// are always loaded.
	Rules []string `koanf:"rules"`
	// ShutdownTimeout bounds a shutdown (SIGTERM, SIGINT), from the signal
	// to the exit: inputs drain what their connections already delivered,
	// the pipeline stores what it holds, and what it could not store in
	// time is spooled to DATA/spool and stored at the next start.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// MemoryLimit is the soft limit of the server's Go heap (Go's
	// GOMEMLIMIT), raised by each running search's memory budget
	// (internal/memlimit). 0 sets none. The environment variable
	// GOMEMLIMIT, when set, takes precedence.
	MemoryLimit ByteSize `koanf:"memory_limit"`

	Syslog    syslog.Config   `koanf:"syslog"`
	Files     []File          `koanf:"files"`
	Pipeline  pipeline.Config `koanf:"pipeline"`
	Retention Retention       `koanf:"retention"`
	Store     Store           `koanf:"store"`
	Ingest    httpin.Config   `koanf:"ingest"`
	Respond   respond.Config  `koanf:"respond"`
	Intel     Intel           `koanf:"intel"`
	// Egress is the policy of Vigil's outbound connections (http_request,
	// notification routes, intel feeds, rule downloads).
	Egress    egress.Config      `koanf:"egress"`
	Alerts    alert.Config       `koanf:"alerts"`
	Incidents incident.Config    `koanf:"incidents"`
	Search    searchlimit.Config `koanf:"search"`
	Log       Log                `koanf:"log"`

	// HTTPServer hardens the HTTP listener: TLS, timeouts and connection
	// caps.
	HTTPServer HTTPServer `koanf:"http_server"`

	// Anomaly runs the anomaly baseline rules (docs/anomaly.md).
	Anomaly anomaly.Config `koanf:"anomaly"`

	// Login limits console sign-in: password hashing, throttling and the
	// audit of failures (docs/security.md).
	Login auth.LoginConfig `koanf:"login"`
	// OIDC is single sign-on through an OpenID Connect provider (off
	// unless oidc.issuer is set; docs/security.md, "Single sign-on").
	OIDC oidc.Config `koanf:"oidc"`
	// TrustProxy lists the reverse proxies (CIDR prefixes or addresses)
	// whose X-Forwarded-For and X-Forwarded-Proto are believed; from any
	// other peer they are ignored (default none).
	TrustProxy []string `koanf:"trust_proxy"`
	// Agents is the host agents' listener (docs/agent.md).
	Agents Agents `koanf:"agents"`
	// Vulnerabilities is the findings' lifecycle: the advisory database
	// the server matches with, SLA due dates by priority, how often
	// breaches are looked for (docs/vulnerabilities.md).
	Vulnerabilities findings.Config `koanf:"vulnerabilities"`

	// UnknownEnv lists VIGIL_* variables that name no setting. They are
	// not errors (the command-line tools read VIGIL_TOKEN and others from
	// the same environment), but serve logs them so a typo is noticed.
	UnknownEnv []string `koanf:"-"`
}

// Intel lists the threat-intelligence feeds matched against every event.
type Intel struct {
	Feeds []intel.FeedConfig `koanf:"feeds"`
}

// File is one file-tailing input.
type File struct {
	// Paths are files or globs.
	Paths []string `koanf:"paths"`
	// Format is auto, json or text.
	Format string `koanf:"format"`
	// FromBeginning reads new files from the start instead of the end.
	FromBeginning bool     `koanf:"from_beginning"`
	Tags          []string `koanf:"tags"`
}

// Retention drops whole daily partitions by age and by total size.
type Retention struct {
	// MaxAge keeps partitions younger than this (0: forever).
	MaxAge time.Duration `koanf:"max_age"`
	// MaxSize bounds the total size of event partitions (0: no bound).
	MaxSize ByteSize `koanf:"max_size"`
}

// Store chooses the event store's engine.
type Store struct {
	// Engine is sqlite (default: the SQLite store) or victorialogs
	// (VictoriaLogs' engine, embedded; docs/storage.md). The metadata
	// stays in DATA/meta.db (or PostgreSQL) either way.
	Engine string `koanf:"engine"`
}

// Roles (Config.Role).
const (
	RoleAll    = "all"
	RoleIngest = "ingest"
	RoleDetect = "detect"
	RoleAPI    = "api"
)

// Store engines.
const (
	EngineSQLite       = "sqlite"
	EngineVictoriaLogs = "victorialogs"
)

// HTTPServer configures the HTTP listener (API, ingest, console).
type HTTPServer struct {
	// TLSCert and TLSKey are PEM files: when both are set the listener
	// speaks HTTPS only (TLS 1.2 or later).
	TLSCert string `koanf:"tls_cert"`
	TLSKey  string `koanf:"tls_key"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included (default
	// 30s); the ingest endpoints use ingest.read_timeout instead.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout bounds each write of a response to the socket (default
	// 60s): a client that stops reading is cut off, a long export that
	// keeps moving is not.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long (default 2m).
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers (default 64KiB).
	MaxHeaderBytes ByteSize `koanf:"max_header_bytes"`
	// MaxConnections bounds concurrent connections (default 4096);
	// MaxConnectionsPerSource those of one source address, an IPv4
	// address or an IPv6 /64 (default 256; a browser opens 6, a shipper a
	// few). The proxies of trust_proxy are bound by MaxConnections only:
	// they carry every client's connections. Connections past either are
	// closed at once.
	MaxConnections          int `koanf:"max_connections"`
	MaxConnectionsPerSource int `koanf:"max_connections_per_source"`
}

// Agents configures the host agents (docs/agent.md).
type Agents struct {
	// Listen is the address of the agents' mutual-TLS listener; empty
	// (the default) disables it, and enrollment with it.
	Listen string `koanf:"listen"`
	// Advertise is the host:port agents are told to connect to at
	// enrollment; empty: the host they enrolled through, with the
	// listener's port.
	Advertise string `koanf:"advertise"`
	// CertValidity is the life of an agent's certificate (0: 30 days; an
	// agent enrolls again to renew).
	CertValidity time.Duration `koanf:"cert_validity"`
}

// Log configures Vigil's own logs.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
	// Format is text or json.
	Format string `koanf:"format"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Data:            "./vigil-data",
		Role:            RoleAll,
		HTTP:            "127.0.0.1:8080",
		ShutdownTimeout: 10 * time.Second,
		MemoryLimit:     320 << 20,
		Syslog:          syslog.DefaultConfig(),
		Pipeline:        pipeline.DefaultConfig(),
		Retention:       Retention{MaxAge: 30 * 24 * time.Hour},
		Store:           Store{Engine: EngineSQLite},
		Alerts:          alert.DefaultConfig(),
		Incidents:       incident.DefaultConfig(),
		Ingest:          httpin.DefaultConfig(),
		Log:             Log{Level: "info", Format: "text"},

		HTTPServer: HTTPServer{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, MaxConnections: 4096, MaxConnectionsPerSource: 256},
		Login: auth.DefaultLoginConfig(),

		Search: searchlimit.DefaultConfig(),

		Anomaly: anomaly.DefaultConfig(),

		Vulnerabilities: findings.DefaultConfig(),
	}
}

// EnvPrefix prefixes every environment variable Vigil reads.
const EnvPrefix = "VIGIL_"

// Load returns the defaults overlaid with the YAML file at path (if path is
// not empty), then with VIGIL_* environment variables, then with each of
// overrides in turn (the command's flags: dotted keys, "syslog.tcp", to
// values). The variable for a key is VIGIL_ followed by the key in upper
// case with dots as underscores: VIGIL_SYSLOG_TCP for syslog.tcp,
// VIGIL_BOOTSTRAP_TOKEN for bootstrap_token. Every layer goes through the
// same decoder: unknown keys in the file or an override are errors;
// unknown VIGIL_* variables are listed in UnknownEnv.
func Load(path string, environ []string, overrides ...map[string]any) (Config, error) {
	cfg := Default()
	k := koanf.New(".")
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return cfg, fmt.Errorf("reading config file %q: %w", path, err)
		}
	}
	byEnv := envKeys()
	var unknown []string
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, v string) (string, any) {
			key, ok := byEnv[name]
			if !ok {
				unknown = append(unknown, name)
				return "", nil
			}
			if key.list {
				return key.path, splitList(v)
			}
			return key.path, v
		},
	}), nil)
	if err != nil {
		return cfg, fmt.Errorf("reading environment: %w", err)
	}
	for _, o := range overrides {
		if err := k.Load(layer(o), nil); err != nil {
			return cfg, fmt.Errorf("reading flags: %w", err)
		}
	}
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.TextUnmarshallerHookFunc(),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		TagName:          "koanf",
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		where := "configuration"
		if path != "" {
			where = fmt.Sprintf("config file %q", path)
		}
		return cfg, fmt.Errorf("%s: %w", where, err)
	}
	sort.Strings(unknown)
	cfg.UnknownEnv = unknown
	return cfg, nil
}

// layer is a koanf provider of dotted keys and their values (Load's
// overrides).
type layer map[string]any

func (l layer) ReadBytes() ([]byte, error) {
	return nil, errors.New("flag layer: ReadBytes is not supported")
}
func (l layer) Read() (map[string]any, error) {
	return maps.Unflatten(map[string]any(l), "."), nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

type envKey struct {
	path string
	list bool
}

// envKeys maps every scalar (or string list) key of Config to its
// environment variable name.
func envKeys() map[string]envKey {
	out := map[string]envKey{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			if tag == ",squash" {
				// An embedded struct whose fields are the section's own
				// (login's throttle limits).
				walk(f.Type, prefix)
				continue
			}
			path := prefix + tag
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)):
				walk(ft, path+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct, ft.Kind() == reflect.Map:
				// Lists of structs (files) and maps (commands) come from
				// the file only.
			default:
				name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
				out[name] = envKey{path: path, list: ft.Kind() == reflect.Slice}
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	// section adds a package's own validation of its section, each of
	// its errors prefixed with the section's key.
	section := func(key string, err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add("%s.%w", key, e)
			}
			return
		}
		add("%s.%w", key, err)
	}
	if c.Data == "" {
		add("data: must not be empty")
	}
	if c.Postgres != "" {
		if err := postgres.Check(c.Postgres); err != nil {
			add("postgres: %w", err)
		}
	}
	switch c.Role {
	case "", RoleAll:
		if c.NATS != "" {
			add("nats: set with role all, which uses no bus (choose role ingest or detect)")
		}
	case RoleIngest, RoleDetect:
		if c.NATS == "" {
			add("role %s: needs nats (--nats nats://host:4222)", c.Role)
		}
		if c.NATSReplicas < 0 || c.NATSReplicas > 5 {
			add("nats_replicas: want 1 to 5 (0: 1), got %d", c.NATSReplicas)
		}
	case RoleAPI:
		// An API node reads what the detect nodes write: the cluster's
		// events server and metadata database.
		if c.Events == "" || c.Postgres == "" {
			add("role api: needs events and postgres (--events URL --postgres DSN), the stores the detect nodes write")
		}
		if c.NATS != "" {
			add("nats: set with role api, which uses no bus")
		}
	default:
		add("role: %q is not all, ingest, detect or api", c.Role)
	}
	if c.Events != "" {
		if err := vlstore.CheckURL(c.Events); err != nil {
			add("events: %w", err)
		}
	}
	if c.HTTP == "" {
		add("http: must not be empty")
	} else if err := checkAddr(c.HTTP); err != nil {
		add("http: %w", err)
	}
	section("syslog", c.Syslog.Validate())
	if c.Agents.Listen != "" {
		if err := checkAddr(c.Agents.Listen); err != nil {
			add("agents.listen: %w", err)
		}
	}
	if c.Agents.Advertise != "" {
		if _, port, err := net.SplitHostPort(c.Agents.Advertise); err != nil || port == "" {
			add("agents.advertise: want host:port, got %q", c.Agents.Advertise)
		}
	}
	if c.Agents.CertValidity < 0 || c.Agents.CertValidity > 366*24*time.Hour {
		add("agents.cert_validity: want 0 (30 days) up to 366 days, got %s", c.Agents.CertValidity)
	}
	for i, f := range c.Files {
		if len(f.Paths) == 0 {
			add("files[%d].paths: must not be empty", i)
		}
		switch f.Format {
		case "", "auto", "json", "text":
		default:
			add("files[%d].format: %q is not auto, json or text", i, f.Format)
		}
	}
	section("pipeline", c.Pipeline.Validate())
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout: must be positive")
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 64<<20 {
		add("memory_limit: %d bytes is below 64MiB (0 sets no limit)", c.MemoryLimit)
	}
	if c.Retention.MaxAge < 0 {
		add("retention.max_age: must not be negative")
	}
	switch c.Store.Engine {
	case EngineSQLite:
	case EngineVictoriaLogs:
		if c.Retention.MaxAge > 0 && c.Retention.MaxAge < 24*time.Hour {
			add("retention.max_age: %v is under one day, the least the victorialogs engine keeps (0 keeps events for ever)", c.Retention.MaxAge)
		}
	default:
		add("store.engine: %q is not an engine (want %s or %s)", c.Store.Engine, EngineSQLite, EngineVictoriaLogs)
	}
	section("alerts", c.Alerts.Validate())
	section("incidents", c.Incidents.Validate())
	section("anomaly", c.Anomaly.Validate())
	section("vulnerabilities", c.Vulnerabilities.Validate())
	policy, err := egress.New(c.Egress.Allow)
	if err != nil {
		add("%w", err)
	}
	section("respond", c.Respond.Validate(policy))
	names := map[string]bool{}
	for i, f := range c.Intel.Feeds {
		if err := f.Validate(); err != nil {
			add("intel.feeds[%d]: %w", i, err)
		}
		if names[f.Name] {
			add("intel.feeds[%d]: duplicate feed name %q", i, f.Name)
		}
		names[f.Name] = true
	}
	section("login", c.Login.Validate())
	if err := c.OIDC.Validate(); err != nil {
		errs = append(errs, err)
	} else if c.OIDC.Enabled() && policy != nil {
		if u, err := url.Parse(c.OIDC.Issuer); err == nil {
			if err := policy.CheckHost(u.Hostname()); err != nil {
				add("oidc.issuer: %s, which the egress policy refuses; add it to egress.allow", egress.Detail(err))
			}
		}
	}
	for i, p := range c.TrustProxy {
		if _, err := clientip.ParsePrefix(p); err != nil {
			add("trust_proxy[%d]: %w", i, err)
		}
	}
	section("search", c.Search.Validate())
	section("ingest", c.Ingest.Validate())
	c.HTTPServer.validate(add)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q is not text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// validate checks the HTTP listener's settings.
func (h *HTTPServer) validate(add func(format string, a ...any)) {
	if (h.TLSCert == "") != (h.TLSKey == "") {
		add("http_server: tls_cert and tls_key go together (--http-tls-cert, --http-tls-key)")
	}
	for name, p := range map[string]string{"http_server.tls_cert": h.TLSCert, "http_server.tls_key": h.TLSKey} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			add("%s: %w", name, err)
		}
	}
	for name, d := range map[string]time.Duration{"read_header_timeout": h.ReadHeaderTimeout, "read_timeout": h.ReadTimeout,
		"write_timeout": h.WriteTimeout, "idle_timeout": h.IdleTimeout} {
		if d < time.Second {
			add("http_server.%s: must be at least 1s", name)
		}
	}
	if h.ReadHeaderTimeout > h.ReadTimeout {
		add("http_server.read_header_timeout: %v is longer than read_timeout %v", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	if h.MaxHeaderBytes < 4<<10 || h.MaxHeaderBytes > 1<<20 {
		add("http_server.max_header_bytes: %d is outside 4KiB..1MiB", h.MaxHeaderBytes)
	}
	if h.MaxConnections < 1 {
		add("http_server.max_connections: must be at least 1")
	}
	if h.MaxConnectionsPerSource < 1 {
		add("http_server.max_connections_per_source: must be at least 1")
	}
}

func checkAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", a, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", a)
	}
	return nil
}

// ByteSize is a size in bytes that reads "512MB", "10GiB", "1024" and so on.
type ByteSize = bytesize.Size
