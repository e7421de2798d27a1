package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sigma"
)

// ruleRow is one rule in the rules list.
type ruleRow struct {
	*sigma.Rule
	State    string // loaded, skipped, disabled
	Reason   string
	Disabled bool
}

type rulesData struct {
	Q      string
	Rules  []ruleRow
	Total  int
	Errors []string
}

const maxRuleRows = 500

func (c *Console) ruleRows() ([]ruleRow, []string) {
	l := c.o.Rules()
	if l == nil || l.Set == nil {
		return nil, nil
	}
	skipped := map[*sigma.Rule]error{}
	for _, s := range l.Skipped {
		skipped[s.Rule] = s.Reason
	}
	out := make([]ruleRow, 0, len(l.Set.Rules))
	for _, r := range l.Set.Rules {
		row := ruleRow{Rule: r, State: "loaded"}
		if err := skipped[r]; err != nil {
			row.State, row.Reason = "skipped", err.Error()
		}
		if c.o.RuleState != nil && c.o.RuleState.IsDisabled(r.ID) {
			row.State, row.Disabled = "disabled", true
		}
		out = append(out, row)
	}
	errs := make([]string, len(l.Errors))
	for i, e := range l.Errors {
		errs[i] = e.Error()
	}
	return out, errs
}

func (r ruleRow) matches(q string) bool {
	if q == "" {
		return true
	}
	hay := strings.ToLower(strings.Join([]string{r.ID, r.Title, r.Name, r.Level, r.Status, r.Source, r.Description,
		r.Logsource.Product, r.Logsource.Category, r.Logsource.Service, strings.Join(r.Tags, " "), r.State}, " "))
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

func (c *Console) rules(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	q := r.URL.Query().Get("q")
	all, errs := c.ruleRows()
	d := rulesData{Q: q, Errors: errs}
	for _, row := range all {
		if row.matches(q) {
			d.Total++
			if len(d.Rules) < maxRuleRows {
				d.Rules = append(d.Rules, row)
			}
		}
	}
	sort.SliceStable(d.Rules, func(i, j int) bool {
		if a, b := sigma.LevelOf(d.Rules[i].Level), sigma.LevelOf(d.Rules[j].Level); a != b {
			return a > b
		}
		return d.Rules[i].Title < d.Rules[j].Title
	})
	c.show(w, r, s, "rules", "Rules", d, start)
}

type ruleData struct {
	Row      ruleRow
	YAML     string
	Rendered bool
	Lint     []sigma.Issue
	Events   string
	Tested   bool
	Matches  []testMatch
	Parsed   int
	TestErr  string
}

type testMatch struct {
	N     int
	Rule  string
	Event string
}

func (c *Console) findRule(id string) (ruleRow, bool) {
	all, _ := c.ruleRows()
	for _, row := range all {
		if row.ID == id || (row.ID == "" && row.Title == id) {
			return row, true
		}
	}
	return ruleRow{}, false
}

func (c *Console) rulePage(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	row, ok := c.findRule(r.URL.Query().Get("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	d := ruleData{Row: row, Lint: sigma.Lint(row.Rule)}
	d.YAML, d.Rendered = ruleYAML(row.Rule)
	c.show(w, r, s, "rule", row.Title, d, start)
}

// ruleYAML returns the rule's YAML: its file's text when it came from a
// file, else (rules bundled in the binary) a rendering of the parsed rule.
func ruleYAML(r *sigma.Rule) (string, bool) {
	if r.Source != "" && !strings.HasPrefix(r.Source, "builtin:") {
		if f, err := os.Open(r.Source); err == nil {
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, 512<<10))
			if err == nil {
				return string(b), false
			}
		}
	}
	y, err := sigmaYAML(r)
	if err != nil {
		return "# cannot render this rule: " + err.Error(), true
	}
	return y, true
}

func dropKeys(v any, keys ...string) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range keys {
			delete(x, k)
		}
		for k, e := range x {
			x[k] = dropKeys(e, keys...)
		}
	case []any:
		for i, e := range x {
			x[i] = dropKeys(e, keys...)
		}
	}
	return v
}

// ruleState enables or disables a rule through the rule-state service,
// which audits the change (the API changes it the same way).
func (c *Console) ruleState(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PostFormValue("id")
	row, ok := c.findRule(id)
	if !ok || row.ID == "" {
		back(w, r, "/rules", "", fmt.Errorf("no rule with id %q", id))
		return
	}
	if c.o.RuleState == nil {
		back(w, r, "/rules/view?id="+row.ID, "", errors.New("rule state is not available"))
		return
	}
	disable := r.PostFormValue("state") == "disabled"
	change, verb := c.o.RuleState.Enable, "enabled"
	if disable {
		change, verb = c.o.RuleState.Disable, "disabled"
	}
	if err := change(r.Context(), row.ID, s.Username); err != nil {
		back(w, r, "/rules/view?id="+row.ID, "", err)
		return
	}
	ret := r.PostFormValue("return")
	if ret != "" {
		ret = safeNext(ret)
	} else {
		ret = "/rules/view?id=" + row.ID
	}
	back(w, r, ret, "Rule "+verb+".", nil)
}

// Rule tests are bounded: pasted text, events and the YAML of an edited rule.
const (
	maxTestEvents = 1000
	maxTestBytes  = 1 << 20
)

// ruleTest runs the rule (or an edited copy of its YAML) against pasted
// events: a JSON array, JSON lines, or log lines, parsed as the pipeline
// parses them. Nothing is stored.
func (c *Console) ruleTest(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	row, ok := c.findRule(r.PostFormValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	d := ruleData{Row: row, Tested: true, Events: r.PostFormValue("events")}
	d.YAML, d.Rendered = ruleYAML(row.Rule)
	rule := row.Rule
	if y := r.PostFormValue("yaml"); strings.TrimSpace(y) != "" && y != d.YAML {
		d.YAML, d.Rendered = y, false
		rs, err := sigma.Parse([]byte(y), "edited")
		if err != nil || len(rs) == 0 {
			d.TestErr = "rule: " + errString(err)
			if err == nil {
				d.TestErr = "rule: no rule in the YAML"
			}
			c.show(w, r, s, "rule", row.Title, d, start)
			return
		}
		rule = rs[0]
	}
	d.Lint = sigma.Lint(rule)
	matches, n, err := testRule(rule, c.o.Rules, d.Events)
	d.Matches, d.Parsed = matches, n
	if err != nil {
		d.TestErr = err.Error()
	}
	c.show(w, r, s, "rule", row.Title, d, start)
}

// testRule compiles rule on its own (a correlation with the rules it
// references) and matches it against the pasted events.
func testRule(rule *sigma.Rule, loaded func() *ruleset.Loaded, text string) ([]testMatch, int, error) {
	if len(text) > maxTestBytes {
		return nil, 0, fmt.Errorf("pasted events: at most %d bytes", maxTestBytes)
	}
	raws, err := splitEvents(text)
	if err != nil {
		return nil, 0, err
	}
	rules := []*sigma.Rule{rule}
	if rule.Kind == sigma.KindCorrelation {
		if l := loaded(); l != nil && l.Set != nil {
			for _, o := range l.Set.Rules {
				if o != rule && o.Kind != sigma.KindCorrelation {
					rules = append(rules, o)
				}
			}
		}
	}
	eng, skipped, err := detect.Compile(rules, detect.Options{})
	if err != nil {
		return nil, 0, fmt.Errorf("compiling rule: %w", err)
	}
	for _, sk := range skipped {
		if sk.Rule == rule {
			return nil, 0, fmt.Errorf("rule cannot run: %w", sk.Reason)
		}
	}
	p := parse.New(parse.Options{})
	var out []testMatch
	for i, raw := range raws {
		ev := &event.Event{}
		p.Parse(&raw, ev)
		eng.Match(ev, func(det detect.Detection) {
			if det.Rule == rule {
				out = append(out, testMatch{N: i + 1, Rule: det.Rule.Title, Event: prettyJSON(ev.AppendJSON(nil))})
			}
		})
	}
	return out, len(raws), nil
}

// splitEvents reads pasted text: a JSON array of objects, or one event per
// line (JSON objects or log lines).
func splitEvents(text string) ([]ingest.Raw, error) {
	now := time.Now()
	t := strings.TrimSpace(text)
	var out []ingest.Raw
	if strings.HasPrefix(t, "[") {
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(t), &arr); err != nil {
			return nil, fmt.Errorf("pasted JSON array: %w", err)
		}
		for _, e := range arr {
			out = append(out, ingest.Raw{Data: bytes.Clone(e), Format: ingest.FormatJSON, Input: "console", Received: now})
		}
	} else {
		for _, line := range strings.Split(t, "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			out = append(out, ingest.Raw{Data: []byte(line), Format: ingest.FormatAuto, Input: "console", Received: now})
		}
	}
	if len(out) > maxTestEvents {
		return nil, fmt.Errorf("pasted events: at most %d", maxTestEvents)
	}
	if len(out) == 0 {
		return nil, errors.New("paste at least one event")
	}
	return out, nil
}
