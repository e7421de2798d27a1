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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/incident"
)

// Playbook is one response procedure.
type Playbook struct {
	Name        string  `yaml:"name" json:"name"`
	Description string  `yaml:"description" json:"description"`
	Trigger     Trigger `yaml:"trigger" json:"trigger"`
	Steps       []Step  `yaml:"steps" json:"steps"`
	// Disabled playbooks are listed but never run.
	Disabled bool   `yaml:"disabled" json:"disabled"`
	Source   string `yaml:"-" json:"source"`
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
	// Action is block_ip, unblock_ip, disable_user, http_request,
	// create_task, comment, notify or approval.
	Action string `yaml:"action" json:"action"`
	// Target names the entity kind the action applies to (source.ip,
	// destination.ip, user, host); the action runs once per value.
	Target string `yaml:"target" json:"target,omitempty"`
	// TTL is how long a block lasts before Vigil lifts it (block_ip).
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
	// With holds the action's parameters (url, method, body, title, text,
	// route), which may use templates: {{.Target}}, {{.Rule}}, {{.Level}},
	// {{.Incident}}.
	With map[string]string `yaml:"with" json:"with,omitempty"`
	// If is a condition: "level >= high" (levels compare by severity).
	If string `yaml:"if" json:"if,omitempty"`
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

var actions = map[string]bool{"block_ip": true, "unblock_ip": true, "disable_user": true, "http_request": true,
	"create_task": true, "comment": true, "notify": true, "approval": true, "enrich_geoip": true, "intel_lookup": true}

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
	if p.Trigger.MinLevel != "" && alert.LevelRank(p.Trigger.MinLevel) < 0 {
		errs = append(errs, fmt.Errorf("trigger.min_level %q is not a level", p.Trigger.MinLevel))
	}
	if len(p.Steps) == 0 {
		errs = append(errs, errors.New("no steps"))
	}
	for i, s := range p.Steps {
		if !actions[s.Action] {
			errs = append(errs, fmt.Errorf("step %d: unknown action %q", i+1, s.Action))
		}
		if (s.Action == "block_ip" || s.Action == "unblock_ip" || s.Action == "disable_user" || s.Action == "enrich_geoip" || s.Action == "intel_lookup") && s.Target == "" {
			errs = append(errs, fmt.Errorf("step %d: %s needs a target entity (source.ip, user, ...)", i+1, s.Action))
		}
		if s.If != "" {
			if _, err := parseCond(s.If); err != nil {
				errs = append(errs, fmt.Errorf("step %d: if: %w", i+1, err))
			}
		}
		for k, v := range s.With {
			if _, err := template.New(k).Option("missingkey=error").Parse(v); err != nil {
				errs = append(errs, fmt.Errorf("step %d: with.%s: %w", i+1, k, err))
			}
		}
	}
	return errors.Join(errs...)
}

// cond is a parsed "level >= high".
type cond struct {
	op   string
	rank int
}

func parseCond(s string) (cond, error) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "level" {
		return cond{}, fmt.Errorf("%q: want \"level <op> <level>\"", s)
	}
	r := alert.LevelRank(f[2])
	if r < 0 {
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
	r := alert.LevelRank(level)
	switch c.op {
	case ">=":
		return r >= c.rank
	case ">":
		return r > c.rank
	case "<=":
		return r <= c.rank
	case "<":
		return r < c.rank
	case "==":
		return r == c.rank
	}
	return r != c.rank
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
	// HTTPClient for http_request (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GeoIP, if set, describes an address (country, city, AS) for the
	// enrich_geoip action.
	GeoIP func(ip netip.Addr) (string, error)
	// IntelLookup, if set, returns the threat-intel entries that list a
	// value ("feed: description"), for the intel_lookup action.
	IntelLookup func(value string) []string
	// Audit, if set, records every action taken in the audit log.
	Audit func(ctx context.Context, actor, action, target string, after any)
	// Notify, if set, queues a notification for the notify action (text
	// from with.text) through every route whose filters match.
	Notify func(ctx context.Context, text string, inc *incident.Incident) error
}

// Runner runs playbooks against alerts and incidents.
type Runner struct {
	o      Options
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
}

// New returns a Runner. rules resolves a rule reference (id or name) to
// the rule's id and name, so triggers can name either.
func New(ctx context.Context, db *sql.DB, inc *incident.Manager, log *slog.Logger, o Options, rules func(ref string) (id, name string, ok bool)) (*Runner, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{o: o, db: db, inc: inc, log: log, rules: rules, work: make(chan func(context.Context), 1024), stop: make(chan struct{})}
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
			if _, err := template.New("").Option("missingkey=error").Parse(a); err != nil {
				return nil, fmt.Errorf("command for %s, argument %d: %w", name, i, err)
			}
		}
	}
	r.wg.Add(2)
	go r.worker()
	go r.unblocker()
	return r, nil
}

// SetPlaybooks replaces the playbooks (built-in and loaded).
func (r *Runner) SetPlaybooks(ps []*Playbook) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	r.mu.Lock()
	r.books = ps
	r.mu.Unlock()
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
}

func (r *Runner) matches(p *Playbook, on string, t trigger, tags []string) bool {
	if p.Disabled || p.Trigger.On != on {
		return false
	}
	if p.Trigger.MinLevel != "" && alert.LevelRank(t.Level) < alert.LevelRank(p.Trigger.MinLevel) {
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
		if !c.New || c.Alert.IncidentID == "" {
			continue // actions are recorded on incidents
		}
		t := trigger{IncidentID: c.Alert.IncidentID, RuleID: c.Alert.RuleID, Rule: c.Alert.RuleTitle, Level: c.Alert.Level, Entities: c.Alert.Entities}
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

func (r *Runner) enqueue(p *Playbook, t trigger, from int) {
	select {
	case r.work <- func(ctx context.Context) { r.run(ctx, p, t, from) }:
	case <-r.stop:
	}
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

// run executes steps of p from step from.
func (r *Runner) run(ctx context.Context, p *Playbook, t trigger, from int) {
	for i := from; i < len(p.Steps); i++ {
		s := p.Steps[i]
		if s.If != "" {
			c, _ := parseCond(s.If)
			if !c.holds(t.Level) {
				continue
			}
		}
		if s.Action == "approval" {
			a := &incident.Action{Name: "approval", Target: s.Name, Status: "pending_approval", Actor: "playbook", Playbook: p.Name,
				Result: "waiting for a person to approve the next steps"}
			if err := r.inc.RecordAction(ctx, t.IncidentID, a); err != nil {
				r.log.Error("recording approval request", "err", err)
				return
			}
			if _, err := r.db.ExecContext(ctx, `INSERT INTO response_pending (action_id, incident_id, playbook, step, trigger) VALUES (?, ?, ?, ?, ?)`,
				a.ID, t.IncidentID, p.Name, i+1, mustJSON(t)); err != nil {
				r.log.Error("saving paused playbook", "err", err)
			}
			return
		}
		targets := []string{""}
		if s.Target != "" {
			targets = t.Entities[s.Target]
			if len(targets) == 0 {
				r.record(ctx, t, p, s.Action, "(none)", "skipped", "no "+s.Target+" in the alert", "playbook")
				continue
			}
		}
		for _, target := range targets {
			status, result := r.do(ctx, p, s, t, target)
			r.record(ctx, t, p, s.Action, target, status, result, "playbook")
		}
	}
}

func (r *Runner) record(ctx context.Context, t trigger, p *Playbook, name, target, status, result, actor string) {
	a := &incident.Action{Name: name, Target: target, Status: status, Result: result, Actor: actor}
	if p != nil {
		a.Playbook = p.Name
	}
	if err := r.inc.RecordAction(ctx, t.IncidentID, a); err != nil {
		r.log.Error("recording action", "action", name, "target", target, "err", err)
	}
	if r.o.Audit != nil {
		by := actor
		if p != nil && p.Name != "" {
			by = "playbook:" + p.Name
		}
		r.o.Audit(ctx, by, "action."+name, t.IncidentID, a)
	}
}

// Decide approves or rejects a paused playbook; approval runs its
// remaining steps.
func (r *Runner) Decide(ctx context.Context, incidentID, actionID, actor string, approve bool) error {
	var pb, trig string
	var step int
	err := r.db.QueryRowContext(ctx, `SELECT playbook, step, trigger FROM response_pending WHERE action_id = ? AND incident_id = ?`, actionID, incidentID).Scan(&pb, &step, &trig)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no approval %q waits on incident %q: %w", actionID, incidentID, incident.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM response_pending WHERE action_id = ?`, actionID); err != nil {
		return err
	}
	a, err := r.inc.Action(ctx, incidentID, actionID)
	if err != nil {
		return err
	}
	a.Actor, a.Time = actor, r.o.Now().UTC()
	if approve {
		a.Status, a.Result = "approved", "approved by "+actor
	} else {
		a.Status, a.Result = "rejected", "rejected by "+actor
	}
	if err := r.inc.RecordAction(ctx, incidentID, &a); err != nil {
		return err
	}
	if !approve {
		return nil
	}
	p := r.Playbook(pb)
	if p == nil {
		return fmt.Errorf("playbook %q is no longer loaded", pb)
	}
	var t trigger
	if err := jsonUnmarshal(trig, &t); err != nil {
		return err
	}
	r.enqueue(p, t, step)
	return nil
}

// tmplData is what templates see.
type tmplData struct {
	Target     string
	TTL        string
	TTLSeconds int64
	Incident   string
	Rule       string
	Level      string
}

func render(s string, d tmplData) (string, error) {
	t, err := template.New("").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

var userRe = regexp.MustCompile(`^[A-Za-z0-9._@\\$-]{1,128}$`)

// do performs one action on one target and returns its status and result.
func (r *Runner) do(ctx context.Context, p *Playbook, s Step, t trigger, target string) (string, string) {
	d := tmplData{Target: target, TTL: time.Duration(s.TTL).String(), TTLSeconds: int64(time.Duration(s.TTL) / time.Second),
		Incident: t.IncidentID, Rule: t.Rule, Level: t.Level}
	switch s.Action {
	case "block_ip", "unblock_ip":
		addr, err := netip.ParseAddr(target)
		if err != nil {
			return "failed", fmt.Sprintf("%q is not an IP address", target)
		}
		addr = addr.Unmap()
		for _, n := range r.never {
			if n.Contains(addr) {
				return "skipped", fmt.Sprintf("%s is in never_block %s", addr, n)
			}
		}
		d.Target = addr.String()
		status, res := r.command(ctx, s.Action, d)
		if s.Action == "block_ip" && status == "ok" && s.TTL > 0 {
			until := r.o.Now().Add(time.Duration(s.TTL))
			if _, err := r.db.ExecContext(ctx, `INSERT INTO response_blocks (ip, until, incident_id, playbook) VALUES (?, ?, ?, ?)
				ON CONFLICT(ip) DO UPDATE SET until = max(until, excluded.until), incident_id = excluded.incident_id`,
				d.Target, until.UnixNano(), t.IncidentID, p.Name); err != nil {
				res += "; could not schedule the unblock: " + err.Error()
			} else {
				res += "; unblock scheduled at " + until.UTC().Format(time.RFC3339)
			}
		}
		return status, res
	case "disable_user":
		if !userRe.MatchString(target) {
			return "failed", fmt.Sprintf("%q is not a plain user name", target)
		}
		return r.command(ctx, s.Action, d)
	case "create_task":
		title, err := render(s.With["title"], d)
		if err != nil || title == "" {
			return "failed", "with.title: " + errString(err, "empty")
		}
		if _, err := r.inc.AddTask(ctx, t.IncidentID, "playbook", title, s.With["assignee"]); err != nil {
			return "failed", err.Error()
		}
		return "ok", "task added: " + title
	case "comment":
		text, err := render(s.With["text"], d)
		if err != nil || text == "" {
			return "failed", "with.text: " + errString(err, "empty")
		}
		if _, err := r.inc.Comment(ctx, t.IncidentID, "playbook:"+p.Name, text); err != nil {
			return "failed", err.Error()
		}
		return "ok", ""
	case "notify":
		if r.o.Notify == nil {
			return "skipped", "notifications are not configured"
		}
		text, err := render(s.With["text"], d)
		if err != nil {
			return "failed", "with.text: " + err.Error()
		}
		inc, err := r.inc.Get(ctx, t.IncidentID)
		if err != nil {
			return "failed", err.Error()
		}
		if err := r.o.Notify(ctx, text, inc); err != nil {
			return "failed", err.Error()
		}
		return "ok", "queued for delivery"
	case "http_request":
		return r.httpRequest(ctx, s, d)
	case "enrich_geoip":
		addr, err := netip.ParseAddr(target)
		if err != nil {
			return "failed", fmt.Sprintf("%q is not an IP address", target)
		}
		if r.o.GeoIP == nil {
			return "skipped", "no GeoIP database configured (respond.geoip_db)"
		}
		info, err := r.o.GeoIP(addr)
		if err != nil {
			return "failed", err.Error()
		}
		return "ok", info
	case "intel_lookup":
		if r.o.IntelLookup == nil {
			return "skipped", "no threat-intel feed configured"
		}
		hits := r.o.IntelLookup(target)
		if len(hits) == 0 {
			return "ok", "not listed in any feed"
		}
		// A listed value is an indicator of compromise on this incident.
		if err := r.inc.FlagObservable(ctx, t.IncidentID, "playbook", s.Target, target, true); err != nil && !errors.Is(err, incident.ErrNotFound) {
			return "failed", err.Error()
		}
		if len(hits) > 5 {
			hits = append(hits[:5], fmt.Sprintf("and %d more", len(hits)-5))
		}
		return "ok", "listed: " + strings.Join(hits, "; ")
	}
	return "failed", "unknown action " + s.Action
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
		v, err := render(a, d)
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

func (r *Runner) httpRequest(ctx context.Context, s Step, d tmplData) (string, string) {
	u, err := render(s.With["url"], d)
	if err != nil || !(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
		return "failed", "with.url: want an http or https URL"
	}
	method := strings.ToUpper(s.With["method"])
	if method == "" {
		method = "POST"
	}
	body, err := render(s.With["body"], d)
	if err != nil {
		return "failed", "with.body: " + err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return "failed", err.Error()
	}
	if ct := s.With["content_type"]; ct != "" {
		req.Header.Set("Content-Type", ct)
	} else if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.o.HTTPClient.Do(req)
	if err != nil {
		return "failed", err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "failed", method + " " + u + ": " + resp.Status
	}
	return "ok", method + " " + u + ": " + resp.Status
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

func (r *Runner) unblockDue(ctx context.Context) {
	rows, err := r.db.QueryContext(ctx, `SELECT ip, incident_id, playbook FROM response_blocks WHERE until <= ?`, r.o.Now().UnixNano())
	if err != nil {
		r.log.Error("reading due unblocks", "err", err)
		return
	}
	type due struct{ ip, inc, pb string }
	var list []due
	for rows.Next() {
		var d due
		if rows.Scan(&d.ip, &d.inc, &d.pb) == nil {
			list = append(list, d)
		}
	}
	rows.Close()
	for _, d := range list {
		status, res := r.command(ctx, "unblock_ip", tmplData{Target: d.ip, Incident: d.inc})
		if status == "failed" {
			r.log.Warn("unblock failed; retrying", "ip", d.ip, "result", res)
			continue
		}
		r.db.ExecContext(ctx, `DELETE FROM response_blocks WHERE ip = ?`, d.ip)
		r.record(ctx, trigger{IncidentID: d.inc}, &Playbook{Name: d.pb}, "unblock_ip", d.ip, status, "block expired; "+res, "vigil")
	}
}

// Manual runs one action by hand on an incident (for analysts), recorded
// with the actor's name.
func (r *Runner) Manual(ctx context.Context, incidentID, actor, action, target string, ttl time.Duration, with map[string]string) (incident.Action, error) {
	if !actions[action] || action == "approval" {
		return incident.Action{}, fmt.Errorf("unknown action %q", action)
	}
	inc, err := r.inc.Get(ctx, incidentID)
	if err != nil {
		return incident.Action{}, err
	}
	p := &Playbook{Name: ""}
	s := Step{Action: action, TTL: Duration(ttl), With: with}
	t := trigger{IncidentID: inc.ID, Level: inc.Severity, Entities: inc.Entities, Rule: inc.Title}
	status, res := r.do(ctx, p, s, t, target)
	a := &incident.Action{Name: action, Target: target, Status: status, Result: res, Actor: actor}
	if err := r.inc.RecordAction(ctx, inc.ID, a); err != nil {
		return incident.Action{}, err
	}
	return *a, nil
}
