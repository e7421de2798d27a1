// Package respond runs response playbooks: YAML files that say, for alerts
// or incidents matching a trigger, which steps to take — block an address
// for a while, disable a user, call a URL, add a task, notify, wait for a
// person's approval. Actions that touch systems run command templates
// configured by the operator, without a shell, on targets that are
// validated first; every action and its result is recorded on the incident.
package respond

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/shellsafe"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Playbook is one response procedure.
type Playbook struct {
	Name        string  `yaml:"name" json:"name"`
	Description string  `yaml:"description" json:"description"`
	Trigger     Trigger `yaml:"trigger" json:"trigger"`
	Steps       []Step  `yaml:"steps" json:"steps"`
	// Disabled playbooks are listed but never run.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// RateLimit bounds the commands the playbook runs per minute (default
	// 600); past it the runner waits. A batch of addresses is one command.
	RateLimit int    `yaml:"rate_limit" json:"rate_limit,omitempty"`
	Source    string `yaml:"-" json:"source"`
}

// Trigger says when a playbook runs.
type Trigger struct {
	// On is "alert" (a new alert), "incident" (an incident opened) or
	// "manual" (only when a person runs it).
	On string `yaml:"on" json:"on"`
	// Rules are rule ids or names; empty means any rule.
	Rules []string `yaml:"rules" json:"rules,omitempty"`
	// MinLevel is the lowest alert level (or incident severity).
	MinLevel string `yaml:"min_level" json:"min_level,omitempty"`
	// Tags: any of these rule tags (prefix match: "attack.t1110" matches
	// "attack.t1110.001").
	Tags []string `yaml:"tags" json:"tags,omitempty"`
}

// Step is one action of a playbook.
type Step struct {
	Name string `yaml:"name" json:"name"`
	// Action is a registered action (see Actions): block_ip, unblock_ip,
	// disable_user, http_request, create_task, comment, notify, approval,
	// enrich_geoip or intel_lookup.
	Action Action `yaml:"action" json:"action"`
	// Target names the entity kind the action applies to (source.ip,
	// destination.ip, user, host); the action runs once per value.
	Target string `yaml:"target" json:"target,omitempty"`
	// TTL is how long a block lasts before Vigil lifts it (block_ip).
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
	// With holds the action's parameters (destination and body for
	// http_request, title for create_task, text for comment and notify),
	// which may use templates: {{.Target}}, {{.Rule}}, {{.Level}},
	// {{.Incident}}, if/else and a few functions, but no loops (see
	// template.go); values are escaped for where they land. A step without
	// a target that follows a step with one speaks of what that step did:
	// {{.Target}} lists the targets it acted on successfully and {{.Count}}
	// counts them, and the step is skipped (and recorded so) when there
	// were none.
	With map[string]string `yaml:"with" json:"with,omitempty"`
	// If is a condition: "level >= high" (levels compare by severity).
	If string `yaml:"if" json:"if,omitempty"`
	// Secret names parameters of With that the API and the console show
	// as "***"; parameters named like secrets (token, api_key, password,
	// header.Authorization, ...) are masked without being named here.
	Secret []string `yaml:"secret" json:"secret,omitempty"`
}

// Duration reads "1h", "30m" from YAML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Validate checks a playbook.
func (p *Playbook) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name is missing"))
	}
	switch p.Trigger.On {
	case "alert", "incident", "manual":
	default:
		errs = append(errs, fmt.Errorf("trigger.on %q: want alert, incident or manual", p.Trigger.On))
	}
	if p.Trigger.MinLevel != "" && !sigma.LevelOf(p.Trigger.MinLevel).Valid() {
		errs = append(errs, fmt.Errorf("trigger.min_level %q is not a level", p.Trigger.MinLevel))
	}
	if len(p.Steps) == 0 {
		errs = append(errs, errors.New("no steps"))
	}
	for i, s := range p.Steps {
		spec := actions[s.Action]
		if spec == nil {
			errs = append(errs, fmt.Errorf("step %d: unknown action %q", i+1, s.Action))
		}
		if spec != nil && spec.target && s.Target == "" {
			errs = append(errs, fmt.Errorf("step %d: %s needs a target entity (source.ip, user, ...)", i+1, s.Action))
		}
		if s.If != "" {
			if _, err := parseCond(s.If); err != nil {
				errs = append(errs, fmt.Errorf("step %d: if: %w", i+1, err))
			}
		}
		if err := checkWith(string(s.Action), s.With, false); err != nil {
			errs = append(errs, fmt.Errorf("step %d: %w", i+1, err))
		}
		for _, k := range s.Secret {
			if _, ok := s.With[k]; !ok {
				errs = append(errs, fmt.Errorf("step %d: secret %q names no parameter of with", i+1, k))
			}
		}
	}
	return errors.Join(errs...)
}

// checkWith checks an action's parameters: there are at most maxWith,
// each parses as an allowed template for where it goes, and they pass the
// action's own check (http_request names a destination instead of a URL).
// manual is for a person's one-off action.
func checkWith(action string, with map[string]string, manual bool) error {
	if len(with) > maxWith {
		return fmt.Errorf("%d parameters, more than %d", len(with), maxWith)
	}
	var errs []error
	if spec := actions[Action(action)]; spec != nil && spec.check != nil {
		errs = append(errs, spec.check(with, manual)...)
	}
	for k, v := range with {
		if k == "destination" || k == "assignee" {
			continue // plain values, not templates
		}
		if _, err := parseTemplate("with."+k, v, withContext(k)); err != nil {
			errs = append(errs, err) // it names with.<key> and the position
		}
	}
	return errors.Join(errs...)
}

// cond is a parsed "level >= high".
type cond struct {
	op    string
	level sigma.Level
}

func parseCond(s string) (cond, error) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "level" {
		return cond{}, fmt.Errorf("%q: want \"level <op> <level>\"", s)
	}
	r := sigma.LevelOf(f[2])
	if !r.Valid() {
		return cond{}, fmt.Errorf("%q: %q is not a level", s, f[2])
	}
	switch f[1] {
	case ">=", ">", "<=", "<", "==", "!=":
	default:
		return cond{}, fmt.Errorf("%q: unknown operator %q", s, f[1])
	}
	return cond{f[1], r}, nil
}

func (c cond) holds(level string) bool {
	r := sigma.LevelOf(level)
	switch c.op {
	case ">=":
		return r >= c.level
	case ">":
		return r > c.level
	case "<=":
		return r <= c.level
	case "<":
		return r < c.level
	case "==":
		return r == c.level
	}
	return r != c.level
}

// LoadDir reads every .yml/.yaml playbook in dir (missing dir: none).
func LoadDir(dir string) ([]*Playbook, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading playbooks: %w", err)
	}
	var out []*Playbook
	var errs []error
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := Parse(data, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// Parse reads one playbook.
func Parse(data []byte, source string) (pb *Playbook, err error) {
	// The YAML library panics on some malformed documents (a nil node in
	// a tagged sequence, found by fuzzing); a bad playbook file must be an
	// error, not a crash of the server that reloads it.
	defer func() {
		if r := recover(); r != nil {
			pb, err = nil, fmt.Errorf("%s: malformed YAML (parser failure: %v)", source, r)
		}
	}()
	var p Playbook
	if err := yaml.UnmarshalWithOptions(data, &p, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	p.Source = source
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &p, nil
}

// BuiltinSSHBruteForce is the playbook that does what fail2ban does for
// SSH: block the source of a brute force for an hour.
const BuiltinSSHBruteForce = `name: ssh-brute-force-block
description: Block the source address of an SSH brute force for one hour, as fail2ban would, and record it on the incident.
trigger:
  on: alert
  rules: [vigil_ssh_brute_force]
steps:
  - name: block the source
    action: block_ip
    target: source.ip
    ttl: 1h
  - name: note it
    action: comment
    with:
      text: "Blocked {{.Target}} for 1h after SSH brute force ({{.Rule}})."
`

// Options configure a Runner.
type Options struct {
	// Commands maps an action (block_ip, unblock_ip, disable_user) to the
	// argv template it runs, such as
	// ["nft", "add", "element", "inet", "filter", "vigil_block", "{ {{.Target}} timeout {{.TTLSeconds}}s }"].
	// An action without a command is recorded as skipped.
	Commands map[string][]string
	// NeverBlock lists addresses and prefixes block_ip refuses (default:
	// loopback; add your own networks).
	NeverBlock []string
	// Destinations are the HTTP endpoints http_request may call, by name
	// (respond.http_destinations): playbooks and analysts choose one, they
	// never give a URL.
	Destinations map[string]Destination
	// Egress is the policy every http_request connection goes through
	// (nil: the default policy, which refuses internal addresses).
	Egress *egress.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GeoIP, if set, describes an address (country, city, AS) for the
	// enrich_geoip action.
	GeoIP func(ip netip.Addr) (string, error)
	// IntelLookup, if set, returns the threat-intel entries that list a
	// value ("feed: description"), for the intel_lookup action.
	IntelLookup func(value string) []string
	// BatchCommands maps an action (block_ip, unblock_ip) to a command
	// run once for a batch of targets, which it reads on its standard
	// input, one Line per target: a wave of thousands of addresses is a
	// few set updates, not thousands of processes. It takes precedence
	// over Commands.
	BatchCommands map[string]BatchCommand
	// Audit, if set, appends the audit entries of actions inside the
	// transaction that records them (audit.Log.RecordTx), so that no
	// action is recorded without its audit entry or the reverse.
	Audit func(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
	// BreakerFailures is how many consecutive failed commands open a
	// playbook's circuit breaker (default 5): its commands then stop,
	// each recorded as skipped, until BreakerCooldown (default 10m) has
	// passed or the playbooks are reloaded.
	BreakerFailures int
	BreakerCooldown time.Duration
	// WriteLock, if set, is held around each write transaction (see
	// alert.Options.WriteLock).
	WriteLock sync.Locker
	// QueueLock, if set, is held while a queued run is saved (the alert
	// path's side of the same lock: runs are queued from its hooks).
	QueueLock sync.Locker
	// OnBreakerOpen, if set, is told when a playbook's breaker opens (the
	// server raises an alert).
	OnBreakerOpen func(playbook, reason string)
	// Notify, if set, queues a notification for the notify action (text
	// from with.text) through every route whose filters match.
	Notify func(ctx context.Context, text string, inc *incident.Incident) error
}

// BatchCommand is a command for a batch of targets: Argv (templates of
// {{.Count}}, {{.TTL}}, {{.TTLSeconds}}, {{.Incident}}, {{.Rule}}) is run
// once, and its standard input gets Line (a template of {{.Target}},
// {{.TTL}}, {{.TTLSeconds}}; default "{{.Target}}") once per target,
// each on its own line. For nftables:
//
//	argv: ["nft", "-f", "-"]
//	line: "add element inet filter vigil_block { {{.Target}} timeout {{.TTLSeconds}}s }"
type BatchCommand struct {
	Argv []string `koanf:"argv"`
	Line string   `koanf:"line"`
}

// Destination is an HTTP endpoint that http_request may call, configured
// by an admin.
type Destination struct {
	// URL is http or https; a template whose values may go into its path,
	// query or fragment (escaped for each), never its scheme or host:
	// "https://hr.example/api/users/{{.Target}}/lock?incident={{.Incident}}".
	URL string `koanf:"url"`
	// Method is GET, POST, PUT, PATCH or DELETE (default POST).
	Method string `koanf:"method"`
	// Headers are sent as they are (credentials, for example).
	Headers map[string]string `koanf:"headers"`
	// Body is the JSON template sent when the step gives none (a manual
	// action always sends it): inside a JSON string a value is string
	// escaped, elsewhere it is a whole JSON value.
	Body string `koanf:"body"`
}

// destination is a checked Destination.
type destination struct {
	name    string
	method  string
	url     *tmpl
	body    *tmpl
	headers map[string]string
}

var destNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckDestination reports what is wrong with destination d (its name, URL
// template, method, headers and body template); a host written as an
// address the egress policy refuses is refused now, a name is checked
// when it is dialled. New runs it on every destination; --check-config
// too.
func CheckDestination(name string, d Destination, policy *egress.Policy) error {
	_, err := checkDestination(name, d, policy)
	return err
}

// checkDestination parses and checks d; a host written as an address is
// checked against the egress policy now, a name when it is dialled.
func checkDestination(name string, d Destination, policy *egress.Policy) (*destination, error) {
	if !destNameRe.MatchString(name) {
		return nil, fmt.Errorf("destination %q: names are 1 to 64 letters, digits, '_' or '-'", name)
	}
	out := &destination{name: name, method: strings.ToUpper(strings.TrimSpace(d.Method)), headers: map[string]string{}}
	switch out.method {
	case "":
		out.method = http.MethodPost
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, fmt.Errorf("destination %q: method %q is not GET, POST, PUT, PATCH or DELETE", name, d.Method)
	}
	u, err := parseTemplate("destination "+name+" url", d.URL, ctxURL)
	if err != nil {
		return nil, err
	}
	out.url = u
	// The scheme and host are fixed text: render with empty values to
	// read them.
	probe, err := u.render(tmplData{})
	if err != nil {
		return nil, fmt.Errorf("destination %q: url: %w", name, err)
	}
	pu, err := url.Parse(probe)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
		return nil, fmt.Errorf("destination %q: url %q: want http or https, a host, and no user:password (use headers)", name, d.URL)
	}
	if err := policy.CheckHost(pu.Hostname()); err != nil {
		return nil, fmt.Errorf("destination %q: host %s: %s; allow it with egress.allow", name, pu.Hostname(), egress.Detail(err))
	}
	if d.Body != "" {
		if out.body, err = parseTemplate("destination "+name+" body", d.Body, ctxJSON); err != nil {
			return nil, err
		}
	}
	for k, v := range d.Headers {
		if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
			return nil, fmt.Errorf("destination %q: header name %q is not a token", name, k)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return nil, fmt.Errorf("destination %q: header %s holds a control character", name, k)
		}
		out.headers[http.CanonicalHeaderKey(k)] = v
	}
	return out, nil
}

// batchSize bounds the targets of one batch command and of one
// recording transaction (which holds the metadata database's write lock
// for a few tens of milliseconds).
const batchSize = 500

// Runner runs playbooks against alerts and incidents.
type Runner struct {
	o      Options
	dests  map[string]*destination
	client *http.Client
	db     *sql.DB
	inc    *incident.Manager
	log    *slog.Logger
	never  []netip.Prefix
	mu     sync.RWMutex
	books  []*Playbook
	rules  func(ref string) (id, name string, ok bool)
	wg     sync.WaitGroup
	work   chan func(context.Context)
	stop   chan struct{}
	stopMu sync.Once

	// guards are the playbooks' rate limits and circuit breakers (worker
	// goroutine, and Manual under guardMu).
	guardMu sync.Mutex
	guards  map[string]*guard
}

// New returns a Runner. rules resolves a rule reference (id or name) to
// the rule's id and name, so triggers can name either.
func New(ctx context.Context, db *sql.DB, inc *incident.Manager, log *slog.Logger, o Options, rules func(ref string) (id, name string, ok bool)) (*Runner, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 10 * time.Minute
	}
	r := &Runner{o: o, db: db, inc: inc, log: log, rules: rules, work: make(chan func(context.Context), 1024), stop: make(chan struct{}), guards: map[string]*guard{},
		dests: map[string]*destination{},
		// Redirects are not followed: a destination answers for itself.
		client: o.Egress.Client(egress.ClientOptions{Timeout: 10 * time.Second})}
	for name, d := range o.Destinations {
		cd, err := checkDestination(name, d, o.Egress)
		if err != nil {
			return nil, fmt.Errorf("respond.http_destinations: %w", err)
		}
		r.dests[name] = cd
	}
	never := append([]string{"127.0.0.0/8", "::1/128"}, o.NeverBlock...)
	for _, s := range never {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("never_block %q: not an address or prefix", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		r.never = append(r.never, p.Masked())
	}
	for name, argv := range o.Commands {
		if len(argv) == 0 {
			return nil, fmt.Errorf("command for %s is empty", name)
		}
		for i, a := range argv {
			if _, err := parseTemplate(fmt.Sprintf("respond.commands.%s[%d]", name, i), a, ctxArg); err != nil {
				return nil, fmt.Errorf("command for %s, argument %d: %w", name, i, err)
			}
		}
		if err := shellsafe.CheckArgv("command for "+name, argv); err != nil {
			return nil, err
		}
	}
	for name, bc := range o.BatchCommands {
		if spec := actions[Action(name)]; spec == nil || !spec.batch {
			return nil, fmt.Errorf("batch command for %s: only %s take batches", name, ListActions(BatchActions(), "and"))
		}
		if len(bc.Argv) == 0 {
			return nil, fmt.Errorf("batch command for %s is empty", name)
		}
		for i, a := range bc.Argv {
			if _, err := parseTemplate(fmt.Sprintf("respond.batch_commands.%s.argv[%d]", name, i), a, ctxArg); err != nil {
				return nil, fmt.Errorf("batch command for %s, template %d: %w", name, i, err)
			}
		}
		if _, err := parseTemplate("respond.batch_commands."+name+".line", bc.Line, ctxLine); err != nil {
			return nil, fmt.Errorf("batch command for %s, line: %w", name, err)
		}
		if err := shellsafe.CheckArgv("batch command for "+name, bc.Argv); err != nil {
			return nil, err
		}
		if err := shellsafe.CheckLine("batch command for "+name, bc.Line); err != nil {
			return nil, err
		}
	}

	if err := r.finishInterrupted(ctx); err != nil {
		return nil, err
	}
	r.wg.Add(2)
	go r.worker()
	go r.unblocker()
	return r, nil
}

// Check reports what p needs that the runner lacks: an http_request
// step's destination that respond.http_destinations does not configure.
func (r *Runner) Check(p *Playbook) error {
	var errs []error
	for i, s := range p.Steps {
		if s.Action != ActionHTTPRequest {
			continue
		}
		if name := strings.TrimSpace(s.With["destination"]); r.dests[name] == nil {
			errs = append(errs, fmt.Errorf("%s: step %d: destination %q is not configured (respond.http_destinations)", p.Source, i+1, name))
		}
	}
	return errors.Join(errs...)
}

// Destinations returns the names of the configured http_request
// destinations (respond.http_destinations), sorted: what an analyst may
// choose from.
func (r *Runner) Destinations() []string {
	names := make([]string, 0, len(r.dests))
	for name := range r.dests {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// SetPlaybooks replaces the playbooks (built-in and loaded).
func (r *Runner) SetPlaybooks(ps []*Playbook) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	r.mu.Lock()
	r.books = ps
	r.mu.Unlock()
	r.guardMu.Lock()
	clear(r.guards) // a reload closes the breakers
	r.guardMu.Unlock()
}

// Playbooks returns the playbooks.
func (r *Runner) Playbooks() []*Playbook {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Playbook(nil), r.books...)
}

// Playbook returns one playbook by name.
func (r *Runner) Playbook(name string) *Playbook {
	for _, p := range r.Playbooks() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// trigger is what a run acts on.
type trigger struct {
	IncidentID string              `json:"incident_id"`
	RuleID     string              `json:"rule_id"`
	Rule       string              `json:"rule"`
	Level      string              `json:"level"`
	Entities   map[string][]string `json:"entities"`
	// PrevRan and PrevOK carry, into a run resumed at a later step (after
	// a restart, or an approval), what the last step with a target did:
	// whether one ran and the targets it acted on successfully.
	PrevRan bool     `json:"prev_ran,omitempty"`
	PrevOK  []string `json:"prev_ok,omitempty"`
}

func (r *Runner) matches(p *Playbook, on string, t trigger, tags []string) bool {
	if p.Disabled || p.Trigger.On != on {
		return false
	}
	if p.Trigger.MinLevel != "" && sigma.LevelOf(t.Level) < sigma.LevelOf(p.Trigger.MinLevel) {
		return false
	}
	if len(p.Trigger.Rules) > 0 {
		ok := false
		for _, ref := range p.Trigger.Rules {
			if ref == t.RuleID {
				ok = true
			} else if r.rules != nil {
				if id, _, found := r.rules(ref); found && id == t.RuleID {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if len(p.Trigger.Tags) > 0 {
		ok := false
		for _, want := range p.Trigger.Tags {
			for _, have := range tags {
				if strings.HasPrefix(strings.ToLower(have), strings.ToLower(want)) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// AlertsChanged implements alert.Hook: new alerts start "alert" playbooks.
// Runs happen on the runner's goroutine, so the alert writer never waits
// for a command.
func (r *Runner) AlertsChanged(ctx context.Context, changes []alert.Change) {
	for _, c := range changes {
		if c.Alert.IncidentID == "" {
			continue // actions are recorded on incidents
		}
		t := trigger{IncidentID: c.Alert.IncidentID, RuleID: c.Alert.RuleID, Rule: c.Alert.RuleTitle, Level: c.Alert.Level, Entities: c.Alert.Entities}
		if c.Alert.Campaign {
			// A campaign's playbooks act on each subject once, as it
			// joins: the change lists the new ones (all of them when the
			// campaign is new).
			if len(c.Members) == 0 {
				continue
			}
			t.Entities = map[string][]string{}
			for _, m := range c.Members {
				t.Entities[m.Kind] = append(t.Entities[m.Kind], m.Value)
			}
		} else if !c.New {
			continue
		}
		for _, p := range r.Playbooks() {
			if r.matches(p, "alert", t, c.Alert.Tags) {
				r.enqueue(p, t, 0)
			}
		}
	}
}

// IncidentOpened starts "incident" playbooks.
func (r *Runner) IncidentOpened(ctx context.Context, inc *incident.Incident, c *alert.Change) {
	t := trigger{IncidentID: inc.ID, Level: inc.Severity, Entities: inc.Entities, Rule: inc.Title}
	var tags []string
	if c != nil {
		t.RuleID, t.Rule, tags = c.Alert.RuleID, c.Alert.RuleTitle, c.Alert.Tags
	}
	for _, p := range r.Playbooks() {
		if r.matches(p, "incident", t, tags) {
			r.enqueue(p, t, 0)
		}
	}
}

// RunManual runs a playbook on an incident now (any trigger type).
func (r *Runner) RunManual(ctx context.Context, name, incidentID, actor string) error {
	p := r.Playbook(name)
	if p == nil {
		return fmt.Errorf("playbook %q: %w", name, incident.ErrNotFound)
	}
	inc, err := r.inc.Get(ctx, incidentID)
	if err != nil {
		return err
	}
	t := trigger{IncidentID: inc.ID, Level: inc.Severity, Entities: inc.Entities, Rule: inc.Title}
	r.enqueue(p, t, 0)
	return nil
}

// enqueue queues a run of p from step from. The run is saved first
// (response_queue) and deleted once it has run, so that a crash loses no
// queued run: Resume runs what the last process left.
func (r *Runner) enqueue(p *Playbook, t trigger, from int) {
	id := ids.New()
	if err := r.saveQueued(id, p.Name, t, from); err != nil {
		r.log.Error("saving a queued playbook run; it runs, but a crash before it would lose it", "playbook", p.Name, "err", err)
	}
	r.queue(id, p, t, from)
}

func (r *Runner) queue(id string, p *Playbook, t trigger, from int) {
	select {
	case r.work <- func(ctx context.Context) {
		advance := func(next int, t trigger) error { return r.advanceQueued(id, next, t) }
		if err := r.run(ctx, p, t, from, advance); err != nil {
			r.log.Error("playbook run stopped; it stays queued and runs again at the next start", "playbook", p.Name, "err", err)
			return
		}
		r.dropQueued(id)
	}:
	case <-r.stop:
	}
}

// saveQueued and dropQueued write the queue table by primary key.
func (r *Runner) saveQueued(id, playbook string, t trigger, from int) error {
	// The alert path's side of the lock: runs are queued from its hooks,
	// which must not wait behind the runner's own transactions.
	unlock := hold(r.o.QueueLock)
	defer unlock()
	_, err := r.db.Exec(`INSERT INTO response_queue (id, created, playbook, step, trigger) VALUES (?, ?, ?, ?, ?)`,
		id, time.Now().UnixNano(), playbook, from, mustJSON(t))
	return err
}

// advanceQueued moves a queued run on to step next: the steps before it
// are done, and a restart must not do them again.
func (r *Runner) advanceQueued(id string, next int, t trigger) error {
	unlock := hold(r.o.WriteLock)
	defer unlock()
	if _, err := r.db.Exec(`UPDATE response_queue SET step = ?, trigger = ? WHERE id = ?`, next, mustJSON(t), id); err != nil {
		return fmt.Errorf("saving the run's progress: %w", err)
	}
	return nil
}

func (r *Runner) dropQueued(id string) {
	unlock := hold(r.o.WriteLock)
	defer unlock()
	if _, err := r.db.Exec(`DELETE FROM response_queue WHERE id = ?`, id); err != nil {
		r.log.Error("removing a finished playbook run from the queue; it will run again at the next start", "err", err)
	}
}

// Resume queues the runs that the last process saved but did not finish
// (it died first). Call it once the playbooks are loaded. A run whose
// playbook is no longer loaded is recorded as skipped on its incident.
func (r *Runner) Resume(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT id, playbook, step, trigger FROM response_queue ORDER BY created`)
	if err != nil {
		return fmt.Errorf("reading queued playbook runs: %w", err)
	}
	type saved struct {
		id, pb, trig string
		step         int
	}
	var list []saved
	for rows.Next() {
		var q saved
		if err := rows.Scan(&q.id, &q.pb, &q.step, &q.trig); err != nil {
			rows.Close()
			return fmt.Errorf("reading queued playbook runs: %w", err)
		}
		list = append(list, q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading queued playbook runs: %w", err)
	}
	for _, q := range list {
		var t trigger
		if err := jsonUnmarshal(q.trig, &t); err != nil {
			r.log.Error("a queued playbook run is unreadable; dropped", "playbook", q.pb, "err", err)
			r.dropQueued(q.id)
			continue
		}
		p := r.Playbook(q.pb)
		if p == nil {
			r.recordOne(ctx, t, &Playbook{Name: q.pb}, "playbook", q.pb, "skipped", "queued before a restart, and no longer loaded", "vigil")
			r.dropQueued(q.id)
			continue
		}
		r.queue(q.id, p, t, q.step)
	}
	if len(list) > 0 {
		r.log.Warn("playbook runs queued before the last stop are running now", "runs", len(list))
	}
	return nil
}

func (r *Runner) worker() {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case f := <-r.work:
			f(ctx)
		case <-r.stop:
			// Finish what is queued, then stop.
			for {
				select {
				case f := <-r.work:
					f(ctx)
				default:
					return
				}
			}
		}
	}
}

// Flush waits until every run queued before the call has finished.
func (r *Runner) Flush() {
	done := make(chan struct{})
	select {
	case r.work <- func(context.Context) { close(done) }:
		<-done
	case <-r.stop:
	}
}

// Close finishes queued runs and stops.
func (r *Runner) Close() {
	r.stopMu.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// run executes the steps of p from step from; it returns an error when it
// could not record what it was about to do (a store error), so that the
// run stays queued and runs again at the next start rather than being
// lost. advance, if set, is told before each later step that the steps
// before it are done (with what the last targeted step did), so that a
// run resumed after a restart starts there and does none of them twice.
func (r *Runner) run(ctx context.Context, p *Playbook, t trigger, from int, advance func(next int, t trigger) error) error {
	var (
		prevRan = t.PrevRan // a step with a target ran before this one
		prevOK  = t.PrevOK  // the targets it acted on successfully
	)
	for i := from; i < len(p.Steps); i++ {
		t.PrevRan, t.PrevOK = prevRan, prevOK
		if i > from && advance != nil {
			if err := advance(i, t); err != nil {
				return err
			}
		}
		s := p.Steps[i]
		if s.If != "" {
			c, _ := parseCond(s.If)
			if !c.holds(t.Level) {
				continue
			}
		}
		if s.Action == ActionApproval {
			a := &incident.Action{Name: string(ActionApproval), Target: s.Name, Status: "pending_approval", Actor: "playbook", Playbook: p.Name,
				Result: "waiting for a person to approve the next steps"}
			pause := func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO response_pending (action_id, incident_id, playbook, step, trigger) VALUES (?, ?, ?, ?, ?)`,
					a.ID, t.IncidentID, p.Name, i+1, mustJSON(t))
				return err
			}
			if err := r.recordActions(ctx, t.IncidentID, "playbook:"+p.Name, []*incident.Action{a}, pause); err != nil {
				return fmt.Errorf("recording the approval request: %w", err)
			}
			return nil
		}
		if s.Target == "" {
			target, count := "", 0
			if prevRan {
				if len(prevOK) == 0 {
					r.recordOne(ctx, t, p, string(s.Action), "(none)", "skipped", "the step before it acted on no target", "playbook")
					continue
				}
				target, count = summarize(prevOK), len(prevOK)
			}
			if _, err := r.doTargets(ctx, p, s, t, []string{target}, count); err != nil {
				return fmt.Errorf("recording %s: %w", s.Action, err)
			}
			continue
		}
		targets := t.Entities[s.Target]
		prevRan, prevOK = true, nil
		if len(targets) == 0 {
			r.recordOne(ctx, t, p, string(s.Action), "(none)", "skipped", "no "+s.Target+" in the alert", "playbook")
			continue
		}
		for start := 0; start < len(targets); start += batchSize {
			ok, err := r.doTargets(ctx, p, s, t, targets[start:min(start+batchSize, len(targets))], 0)
			prevOK = append(prevOK, ok...)
			if err != nil {
				return fmt.Errorf("recording %s: %w", s.Action, err)
			}
		}
	}
	return nil
}

// summarize lists targets for a message: the first ten, then how many
// more.
func summarize(ts []string) string {
	if len(ts) <= 10 {
		return strings.Join(ts, ", ")
	}
	return strings.Join(ts[:10], ", ") + fmt.Sprintf(" and %d more", len(ts)-10)
}

// doTargets acts on a batch of targets: it records every action as
// running (its intent) before anything is done, performs them, and records
// each result with the block set and the audit entries in one
// transaction. It returns the targets acted on successfully.
//
// count is {{.Count}} for a step that follows a step with targets.
func (r *Runner) doTargets(ctx context.Context, p *Playbook, s Step, t trigger, targets []string, count int) ([]string, error) {
	acts, err := r.act(ctx, p, s, t, targets, count, "playbook", "playbook:"+p.Name)
	if err != nil {
		return nil, err
	}
	var ok []string
	for _, a := range acts {
		if a.Status == "ok" {
			ok = append(ok, a.Target)
		}
	}
	return ok, nil
}

// act records the actions of a step on targets as running (their
// intent), with their audit entry by by, before anything is done;
// performs them; and records each result with the block set and the
// audit entries in one transaction. actor is the actions' actor
// ("playbook", or the user who acted by hand).
func (r *Runner) act(ctx context.Context, p *Playbook, s Step, t trigger, targets []string, count int, actor, by string) ([]*incident.Action, error) {
	acts := make([]*incident.Action, len(targets))
	for i, tg := range targets {
		acts[i] = &incident.Action{Name: string(s.Action), Target: tg, Status: "running", Actor: actor, Playbook: p.Name}
	}
	if err := r.recordActions(ctx, t.IncidentID, by, acts, nil); err != nil {
		return nil, err
	}
	blocks := r.perform(ctx, p, s, t, acts, count)
	addBlocks := func(tx *sql.Tx) error { return addBlocks(ctx, tx, blocks, t.IncidentID, p.Name) }
	if err := r.recordActions(ctx, t.IncidentID, by, acts, addBlocks); err != nil {
		// The actions ran but their results are not recorded: they stay
		// "running" and become "unknown" at the next start.
		return nil, err
	}
	return acts, nil
}

// block is an entry of the block set, written with the result of the
// block_ip that made it.
type block struct {
	ip    string
	until time.Time
}

// perform does the actions (all of one step) and sets each one's status
// and result: together when the action performs them so (block_ip and
// unblock_ip, see performAll), else one by one. It returns the blocks to
// schedule (block_ip with a TTL).
func (r *Runner) perform(ctx context.Context, p *Playbook, s Step, t trigger, acts []*incident.Action, count int) []block {
	if spec := actions[s.Action]; spec != nil && spec.performAll != nil {
		return spec.performAll(ctx, r, &actionCall{p: p, s: s, t: t, d: newTmplData(s, t, "", count)}, acts)
	}
	for _, a := range acts {
		a.Status, a.Result = r.doCounted(ctx, p, s, t, a.Target, count)
	}
	return nil
}

// checkAddr validates a block_ip or unblock_ip target: an IP address
// without a zone (a zone is free text: "fe80::1%;touch x"), outside
// never_block. It returns the address in canonical form, or the status
// and result that refuse it.
func (r *Runner) checkAddr(target string) (ip, status, result string) {
	addr, err := netip.ParseAddr(target)
	if err != nil {
		return "", "failed", fmt.Sprintf("%q is not an IP address", target)
	}
	if addr.Zone() != "" {
		return "", "failed", fmt.Sprintf("%q has an IPv6 zone; only plain addresses are blocked", target)
	}
	addr = addr.Unmap()
	for _, n := range r.never {
		if n.Contains(addr) {
			return "", "skipped", fmt.Sprintf("%s is in never_block %s", addr, n)
		}
	}
	return addr.String(), "", ""
}

// recordActions writes actions (their intent or their result), what
// also writes (the block set's change) and their audit entry in one
// transaction.
func (r *Runner) recordActions(ctx context.Context, incID, by string, acts []*incident.Action, also func(*sql.Tx) error) error {
	unlock := hold(r.o.WriteLock)
	defer unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording actions: %w", err)
	}
	defer tx.Rollback()
	if err := r.inc.RecordActionsTx(ctx, tx, incID, acts); err != nil {
		return err
	}
	if also != nil {
		if err := also(tx); err != nil {
			return err
		}
	}
	if r.o.Audit != nil {
		if err := r.o.Audit(ctx, tx, actionsEntry(by, incID, acts)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording actions: %w", err)
	}
	return nil
}

// hold takes l, if any, and returns its release.
func hold(l sync.Locker) func() {
	if l == nil {
		return func() {}
	}
	l.Lock()
	return l.Unlock
}

// actionsEntry is the audit entry of actions recorded together (all of
// one step, on one incident): the action itself when there is one, else
// {"actions": [...]} listing each. A wave's 500-address batch is one entry
// rather than 500: the audit chain grows by what was decided, and hashing
// and inserting an entry per address cost the alert path more than the
// blocks themselves.
func actionsEntry(by, incID string, acts []*incident.Action) audit.Entry {
	var after []byte
	if len(acts) == 1 {
		after, _ = json.Marshal(acts[0])
	} else {
		after, _ = json.Marshal(map[string]any{"actions": acts})
	}
	return audit.Entry{Actor: by, Action: "action." + acts[0].Name, Target: incID, After: after}
}

// upsertBlocks returns the statement that adds n addresses to the block
// set, or extends their blocks.
func upsertBlocks(n int) string {
	return meta.InsertRows(`INSERT INTO response_blocks (ip, until, incident_id, playbook) VALUES `, n, 4,
		` ON CONFLICT(ip) DO UPDATE SET until = CASE WHEN excluded.until > response_blocks.until THEN excluded.until ELSE response_blocks.until END,
	incident_id = excluded.incident_id`)
}

// upsertBlocksFull is the statement for a whole chunk.
var upsertBlocksFull = upsertBlocks(meta.RowsPerStatement)

// addBlocks writes blocks into the block set in tx, a chunk of
// meta.RowsPerStatement per statement. An address twice in blocks (two
// spellings of one address) is written once, with the later expiry.
func addBlocks(ctx context.Context, tx *sql.Tx, blocks []block, incID, playbook string) error {
	seen := make(map[string]int, len(blocks))
	uniq := make([]block, 0, len(blocks))
	for _, b := range blocks {
		if i, ok := seen[b.ip]; ok {
			if b.until.After(uniq[i].until) {
				uniq[i].until = b.until
			}
			continue
		}
		seen[b.ip] = len(uniq)
		uniq = append(uniq, b)
	}
	args := make([]any, 0, 4*min(len(uniq), meta.RowsPerStatement))
	for start := 0; start < len(uniq); start += meta.RowsPerStatement {
		chunk := uniq[start:min(start+meta.RowsPerStatement, len(uniq))]
		args = args[:0]
		for _, b := range chunk {
			args = append(args, b.ip, b.until.UnixNano(), incID, playbook)
		}
		q := upsertBlocksFull
		if len(chunk) < meta.RowsPerStatement {
			q = upsertBlocks(len(chunk))
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("recording blocks: %w", err)
		}
	}
	return nil
}

// recordOne records one action, done, with its audit entry.
func (r *Runner) recordOne(ctx context.Context, t trigger, p *Playbook, name, target, status, result, actor string) {
	a := &incident.Action{Name: name, Target: target, Status: status, Result: result, Actor: actor}
	by := actor
	if p != nil {
		a.Playbook = p.Name
		if p.Name != "" {
			by = "playbook:" + p.Name
		}
	}
	if err := r.recordActions(ctx, t.IncidentID, by, []*incident.Action{a}, nil); err != nil {
		r.log.Error("recording action", "action", name, "target", target, "err", err)
	}
}

// finishInterrupted gives the actions a crash left running their result
// (unknown), with audit entries.
func (r *Runner) finishInterrupted(ctx context.Context) error {
	unlock := hold(r.o.WriteLock)
	defer unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finishing interrupted actions: %w", err)
	}
	defer tx.Rollback()
	acts, incs, err := r.inc.FinishRunning(ctx, tx)
	if err != nil {
		return err
	}
	if len(acts) == 0 {
		return nil
	}
	if r.o.Audit != nil {
		entries := make([]audit.Entry, len(acts))
		for i := range acts {
			after, _ := json.Marshal(acts[i])
			entries[i] = audit.Entry{Actor: "vigil", Action: "action." + acts[i].Name, Target: incs[i], After: after}
		}
		if err := r.o.Audit(ctx, tx, entries...); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finishing interrupted actions: %w", err)
	}
	r.log.Warn("actions interrupted by the last stop are recorded with an unknown result", "actions", len(acts))
	return nil
}

// Decide approves or rejects a paused playbook; approval runs its
// remaining steps.
func (r *Runner) Decide(ctx context.Context, incidentID, actionID, actor string, approve bool) error {
	a, err := r.inc.Action(ctx, incidentID, actionID)
	if err != nil {
		return err
	}
	verb := "reject"
	a.Actor, a.Time = actor, r.o.Now().UTC()
	if approve {
		verb = "approve"
		a.Status, a.Result = "approved", "approved by "+actor
	} else {
		a.Status, a.Result = "rejected", "rejected by "+actor
	}
	// One transaction claims the approval (a second decision finds none),
	// records the decision with its audit entry and, on approval, saves
	// the run's rest: a crash leaves the approval either waiting or
	// decided and queued, and two analysts deciding at once cannot both
	// continue the playbook.
	var (
		runID string
		p     *Playbook
		t     trigger
		step  int
	)
	err = func() error {
		unlock := hold(r.o.WriteLock)
		defer unlock()
		var err error
		runID, p, t, step, err = r.decideTx(ctx, incidentID, actionID, actor, verb, &a, approve)
		return err
	}()
	if err != nil {
		return err
	}
	if approve {
		// Outside the lock: the queue may be full, and its worker needs
		// the lock to record what it does.
		r.queue(runID, p, t, step)
	}
	return nil
}

// decideTx is Decide's transaction (WriteLock held): it returns, for an
// approval, the saved run's id, the playbook, the trigger and the step to
// go on from.
func (r *Runner) decideTx(ctx context.Context, incidentID, actionID, actor, verb string, a *incident.Action, approve bool) (runID string, p *Playbook, t trigger, step int, err error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return "", nil, t, 0, fmt.Errorf("deciding an approval: %w", err)
	}
	defer tx.Rollback()
	var pb, trig string
	err = tx.QueryRowContext(ctx, `SELECT playbook, step, trigger FROM response_pending WHERE action_id = ? AND incident_id = ?`, actionID, incidentID).Scan(&pb, &step, &trig)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, t, 0, fmt.Errorf("no approval %q waits on incident %q: %w", actionID, incidentID, incident.ErrNotFound)
	}
	if err != nil {
		return "", nil, t, 0, fmt.Errorf("deciding an approval: %w", err)
	}
	if approve {
		// Refused before anything is written: the approval keeps
		// waiting rather than being consumed by a run that cannot go on.
		if p = r.Playbook(pb); p == nil {
			return "", nil, t, 0, fmt.Errorf("playbook %q is no longer loaded", pb)
		}
		if err := jsonUnmarshal(trig, &t); err != nil {
			return "", nil, t, 0, err
		}
	}
	fail := func(err error) (string, *Playbook, trigger, int, error) {
		return "", nil, t, 0, fmt.Errorf("deciding an approval: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM response_pending WHERE action_id = ?`, actionID); err != nil {
		return fail(err)
	}
	if err := r.inc.RecordActionsTx(ctx, tx, incidentID, []*incident.Action{a}); err != nil {
		return fail(err)
	}
	if r.o.Audit != nil {
		after, _ := json.Marshal(map[string]string{"action": actionID})
		if err := r.o.Audit(ctx, tx, audit.Entry{Actor: actor, Action: "action." + verb, Target: incidentID, After: after}); err != nil {
			return fail(err)
		}
	}
	if approve {
		runID = ids.New()
		if _, err := tx.ExecContext(ctx, `INSERT INTO response_queue (id, created, playbook, step, trigger) VALUES (?, ?, ?, ?, ?)`,
			runID, time.Now().UnixNano(), pb, step, trig); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return runID, p, t, step, nil
}

// tmplData is what templates see.
type tmplData struct {
	Target     string
	Count      int
	TTL        string
	TTLSeconds int64
	Incident   string
	Rule       string
	Level      string
}

// doCounted performs one action on one target and returns its status and
// result; count is {{.Count}} (a step that follows a step with targets).
func (r *Runner) doCounted(ctx context.Context, p *Playbook, s Step, t trigger, target string, count int) (string, string) {
	spec := actions[s.Action]
	if spec == nil || spec.do == nil {
		return "failed", "unknown action " + string(s.Action)
	}
	return spec.do(ctx, r, &actionCall{p: p, s: s, t: t, target: target, d: newTmplData(s, t, target, count)})
}

// newTmplData returns what the templates of step s see.
func newTmplData(s Step, t trigger, target string, count int) tmplData {
	return tmplData{Target: target, Count: count, TTL: time.Duration(s.TTL).String(), TTLSeconds: int64(time.Duration(s.TTL) / time.Second),
		Incident: t.IncidentID, Rule: t.Rule, Level: t.Level}
}

func errString(err error, def string) string {
	if err != nil {
		return err.Error()
	}
	return def
}

// command runs the configured argv template of an action.
func (r *Runner) command(ctx context.Context, action string, d tmplData) (string, string) {
	argv := r.o.Commands[action]
	if len(argv) == 0 {
		return "skipped", "no command configured for " + action + " (respond.commands." + action + ")"
	}
	args := make([]string, len(argv))
	for i, a := range argv {
		v, err := render(a, ctxArg, d)
		if err != nil {
			return "failed", fmt.Sprintf("command argument %d: %v", i, err)
		}
		args[i] = v
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := strings.TrimSpace(out.String())
	if len(res) > 2000 {
		res = res[:2000] + "…"
	}
	if err != nil {
		return "failed", strings.TrimSpace(fmt.Sprintf("%s: %v %s", args[0], err, res))
	}
	if res == "" {
		res = args[0] + " succeeded"
	}
	return "ok", res
}

// batchCommand runs an action's batch command once for ips, which it
// gets on its standard input.
func (r *Runner) batchCommand(ctx context.Context, action string, bc BatchCommand, d tmplData, ips []string) (string, string) {
	d.Count = len(ips)
	args := make([]string, len(bc.Argv))
	for i, a := range bc.Argv {
		v, err := render(a, ctxArg, d)
		if err != nil {
			return "failed", fmt.Sprintf("batch command for %s, argument %d: %v", action, i, err)
		}
		args[i] = v
	}
	line := bc.Line
	if line == "" {
		line = "{{.Target}}"
	}
	tl, err := parseTemplate("line", line, ctxLine)
	if err != nil {
		return "failed", "batch command line: " + err.Error()
	}
	var in bytes.Buffer
	for _, ip := range ips {
		d.Target = ip
		l, err := tl.render(d)
		if err != nil {
			return "failed", "batch command line: " + err.Error()
		}
		in.WriteString(l)
		in.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin = &in
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	res := strings.TrimSpace(out.String())
	if len(res) > 2000 {
		res = res[:2000] + "…"
	}
	if err != nil {
		return "failed", strings.TrimSpace(fmt.Sprintf("%s (batch of %d): %v %s", args[0], len(ips), err, res))
	}
	if res == "" {
		res = fmt.Sprintf("%s succeeded (batch of %d)", args[0], len(ips))
	}
	return "ok", res
}

// guard is a playbook's rate limit (a token bucket of commands per
// minute) and circuit breaker (open after BreakerFailures consecutive
// failed commands, for BreakerCooldown).
type guard struct {
	tokens    float64
	last      time.Time
	perMinute float64
	failures  int
	openUntil time.Time
	name      string
}

func (r *Runner) guard(p *Playbook) *guard {
	r.guardMu.Lock()
	defer r.guardMu.Unlock()
	g := r.guards[p.Name]
	if g == nil {
		rate := p.RateLimit
		if rate <= 0 {
			rate = 600
		}
		g = &guard{tokens: max(float64(rate)/10, 1), perMinute: float64(rate), last: r.o.Now(), name: p.Name}
		r.guards[p.Name] = g
	}
	return g
}

// run runs one command under the guard: it waits for the rate limit,
// refuses while the breaker is open, and counts the outcome.
func (g *guard) run(ctx context.Context, r *Runner, cmd func() (string, string)) (string, string) {
	r.guardMu.Lock()
	now := r.o.Now()
	if now.Before(g.openUntil) {
		until := g.openUntil
		r.guardMu.Unlock()
		return "skipped", fmt.Sprintf("circuit breaker open after %d consecutive failures, until %s (or a playbook reload)",
			r.o.BreakerFailures, until.UTC().Format(time.RFC3339))
	}
	// The bucket holds a tenth of a minute's commands: bursts beyond that
	// are spread out.
	g.tokens = min(g.tokens+now.Sub(g.last).Minutes()*g.perMinute, max(g.perMinute/10, 1))
	g.last = now
	wait := time.Duration(0)
	if g.tokens < 1 {
		wait = time.Duration((1 - g.tokens) / g.perMinute * float64(time.Minute))
	}
	g.tokens--
	r.guardMu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "failed", "not run: waiting for the playbook's rate limit was cut short: " + ctx.Err().Error()
		case <-r.stop:
			return "skipped", "not run: vigil stopped while the command waited for the playbook's rate limit"
		}
	}
	status, result := cmd()
	r.guardMu.Lock()
	defer r.guardMu.Unlock()
	switch status {
	case "failed":
		g.failures++
		if g.failures >= r.o.BreakerFailures {
			g.openUntil = r.o.Now().Add(r.o.BreakerCooldown)
			g.failures = 0
			reason := fmt.Sprintf("%d consecutive commands failed; the last: %s", r.o.BreakerFailures, result)
			r.log.Error("playbook circuit breaker open: its commands stop", "playbook", g.name, "until", g.openUntil, "reason", reason)
			if r.o.OnBreakerOpen != nil {
				r.o.OnBreakerOpen(g.name, reason) // must not wait: the alert path may be waiting for this runner
			}
		}
	case "ok":
		g.failures = 0
	}
	return status, result
}

// httpRequest calls the step's destination. The caller learns the
// destination's answer (its status) or that the request failed, never
// why a connection failed: that would tell what is reachable inside the
// network. The server log has the detail.
func (r *Runner) httpRequest(ctx context.Context, s Step, d tmplData) (string, string) {
	name := strings.TrimSpace(s.With["destination"])
	dest := r.dests[name]
	if dest == nil {
		return "failed", fmt.Sprintf("unknown destination %q (respond.http_destinations)", name)
	}
	u, err := dest.url.render(d)
	if err != nil {
		return "failed", "destination " + name + " url: " + err.Error()
	}
	var body string
	if text, ok := s.With["body"]; ok && text != "" {
		if body, err = render(text, ctxJSON, d); err != nil {
			return "failed", "with.body: " + err.Error()
		}
	} else if dest.body != nil {
		if body, err = dest.body.render(d); err != nil {
			return "failed", "destination " + name + " body: " + err.Error()
		}
	}
	if body != "" && !json.Valid([]byte(body)) {
		return "failed", "the body is not valid JSON once rendered"
	}
	req, err := http.NewRequestWithContext(ctx, dest.method, u, strings.NewReader(body))
	if err != nil {
		return "failed", "destination " + name + ": " + err.Error()
	}
	for k, v := range dest.headers {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Vigil")
	what := dest.method + " " + name
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		detail := err
		if errors.As(err, &ue) {
			detail = ue.Err // the URL may carry the target and credentials
		}
		r.log.Warn("http_request failed", "destination", name, "err", egress.Detail(detail))
		if errors.Is(err, egress.ErrRefused) {
			return "failed", what + ": " + egress.ErrRefused.Error()
		}
		return "failed", what + ": request failed"
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode/100 == 3:
		return "failed", what + ": " + resp.Status + " (redirects are not followed)"
	case resp.StatusCode/100 != 2:
		return "failed", what + ": " + resp.Status
	}
	return "ok", what + ": " + resp.Status
}

// unblocker lifts blocks whose TTL has passed, also those set before a
// restart.
func (r *Runner) unblocker() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.unblockDue(context.Background())
		}
	}
}

// dueBlocksSQL lists blocks whose TTL has passed (by the until index).
const dueBlocksSQL = `SELECT ip, incident_id, playbook FROM response_blocks WHERE until <= ? ORDER BY until LIMIT ?`

// unblockDue lifts the blocks whose TTL has passed, in batches (a wave's
// blocks expire together): each incident's and playbook's due addresses
// are one batch command, or one command each when only a per-address
// command is configured. A failed unblock stays due and is tried again.
func (r *Runner) unblockDue(ctx context.Context) {
	rows, err := r.db.QueryContext(ctx, dueBlocksSQL, r.o.Now().UnixNano(), 10*batchSize)
	if err != nil {
		r.log.Error("reading due unblocks", "err", err)
		return
	}
	type key struct{ inc, pb string }
	due := map[key][]string{}
	var order []key
	for rows.Next() {
		var ip string
		var k key
		if rows.Scan(&ip, &k.inc, &k.pb) != nil {
			continue
		}
		if _, ok := due[k]; !ok {
			order = append(order, k)
		}
		due[k] = append(due[k], ip)
	}
	rows.Close()
	for _, k := range order {
		ips := due[k]
		for start := 0; start < len(ips); start += batchSize {
			r.unblock(ctx, k.inc, k.pb, ips[start:min(start+batchSize, len(ips))])
		}
	}
}

// unblock lifts one batch of expired blocks, recorded like any action:
// intent, then result with the block set change, in transactions with
// their audit entries.
func (r *Runner) unblock(ctx context.Context, incID, pb string, ips []string) {
	acts := make([]*incident.Action, len(ips))
	for i, ip := range ips {
		acts[i] = &incident.Action{Name: string(ActionUnblockIP), Target: ip, Status: "running", Actor: "vigil", Playbook: pb}
	}
	if err := r.recordActions(ctx, incID, "vigil", acts, nil); err != nil {
		r.log.Error("recording unblocks", "err", err)
		return
	}
	r.perform(ctx, &Playbook{Name: pb}, Step{Action: ActionUnblockIP}, trigger{IncidentID: incID}, acts, 0)
	var lifted, retry []string
	for _, a := range acts {
		if a.Status == "failed" {
			r.log.Warn("unblock failed; retrying in a minute", "ip", a.Target, "result", a.Result)
			retry = append(retry, a.Target)
			continue
		}
		a.Result = "block expired; " + a.Result
		lifted = append(lifted, a.Target)
	}
	// The block set follows: lifted blocks leave it, failed ones are
	// tried again in a minute.
	changeSet := func(tx *sql.Tx) error {
		for _, ip := range lifted {
			if _, err := tx.ExecContext(ctx, `DELETE FROM response_blocks WHERE ip = ?`, ip); err != nil {
				return err
			}
		}
		for _, ip := range retry {
			if _, err := tx.ExecContext(ctx, `UPDATE response_blocks SET until = ? WHERE ip = ?`, r.o.Now().Add(time.Minute).UnixNano(), ip); err != nil {
				return err
			}
		}
		return nil
	}
	if err := r.recordActions(ctx, incID, "vigil", acts, changeSet); err != nil {
		r.log.Error("recording unblocks", "err", err)
	}
}

// Manual runs one action by hand on an incident (for analysts), recorded
// with the actor's name: its intent and its result each with their audit
// entry (action.NAME, by the actor) in one transaction, as a playbook's.
func (r *Runner) Manual(ctx context.Context, incidentID, actor, action, target string, ttl time.Duration, with map[string]string) (incident.Action, error) {
	if spec := actions[Action(action)]; spec == nil || !spec.manual {
		return incident.Action{}, fmt.Errorf("unknown action %q", action)
	}
	// Parameters are checked before anything runs: a template with a loop
	// or too large is refused here, whatever the action.
	if err := checkWith(action, with, true); err != nil {
		return incident.Action{}, err
	}
	inc, err := r.inc.Get(ctx, incidentID)
	if err != nil {
		return incident.Action{}, err
	}
	p := &Playbook{Name: ""}
	s := Step{Action: Action(action), TTL: Duration(ttl), With: with}
	t := trigger{IncidentID: inc.ID, Level: inc.Severity, Entities: inc.Entities, Rule: inc.Title}
	// As a playbook's: the intent is recorded (and audited) before the
	// action runs, and its result with its audit entry after.
	acts, err := r.act(ctx, p, s, t, []string{target}, 0, actor, actor)
	if err != nil {
		return incident.Action{}, err
	}
	return *acts[0], nil
}
