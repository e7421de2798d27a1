package sigma

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Severity is how serious a lint Issue is.
type Severity uint8

// Severities.
const (
	// SeverityWarning is a departure from the specification's
	// recommendations or a likely mistake; the rule still works.
	SeverityWarning Severity = iota
	// SeverityError is a violation of the specification.
	SeverityError
)

// String returns "warning" or "error".
func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// Issue is one finding of Lint.
type Issue struct {
	Severity Severity
	Source   string
	Pos      Pos
	Msg      string
}

// String renders the issue as "source:line:col: severity: msg".
func (i Issue) String() string {
	e := Error{Source: i.Source, Pos: i.Pos, Msg: i.Severity.String() + ": " + i.Msg}
	return e.Error()
}

var (
	uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tagRe  = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_.-]+)+$`)
	lsRe   = regexp.MustCompile(`^[a-z0-9_.-]+$`)
)

var (
	statuses = map[string]bool{"stable": true, "test": true, "experimental": true, "deprecated": true, "unsupported": true}
	relTypes = map[string]bool{"derived": true, "obsolete": true, "merged": true, "renamed": true, "similar": true}
)

// Lint checks a loaded rule against the Sigma specification and returns
// its findings in a stable order. Rules that fail to load are reported by
// the loader instead; Lint covers what the loader accepts but the
// specification forbids or discourages: missing or overlong title, missing
// logsource, id that is not a UUID, unknown level, status or related type,
// dates not in YYYY-MM-DD form, malformed tags, "all" with a single value,
// search identifiers that the condition never uses or cannot spell,
// "all of them", base64offset without contains, questionable correlations
// (no group-by, duplicate rules, unused aliases), and, for rules built by hand, missing detections and
// conditions referring to unknown searches.
func Lint(r *Rule) []Issue {
	l := &linter{r: r}
	l.common()
	switch r.Kind {
	case KindDetection:
		if r.Logsource.Product == "" && r.Logsource.Category == "" && r.Logsource.Service == "" {
			l.add(SeverityError, "logsource", "missing logsource (product, category or service)")
		}
		if r.Detection == nil {
			l.add(SeverityError, "", "missing detection")
		} else {
			l.detection(r.Detection)
		}
	case KindCorrelation:
		if r.Correlation == nil {
			l.add(SeverityError, "", "missing correlation section")
		} else {
			l.correlation(r.Correlation)
		}
	case KindFilter:
		if r.Logsource.Product == "" && r.Logsource.Category == "" && r.Logsource.Service == "" {
			l.add(SeverityError, "logsource", "missing logsource (product, category or service)")
		}
		if r.Filter == nil || r.Filter.Detection == nil {
			l.add(SeverityError, "", "missing filter section")
		} else {
			l.detection(r.Filter.Detection)
		}
		if r.Level != "" || r.Status != "" {
			l.add(SeverityWarning, "level", "filters have no level or status")
		}
	}
	return l.issues
}

type linter struct {
	r      *Rule
	issues []Issue
}

func (l *linter) add(sev Severity, key string, format string, args ...any) {
	pos := l.r.Pos
	if key != "" {
		if p := l.r.keyPos[key]; p.IsValid() {
			pos = p
		}
	}
	l.addAt(sev, pos, format, args...)
}

func (l *linter) addAt(sev Severity, pos Pos, format string, args ...any) {
	l.issues = append(l.issues, Issue{Severity: sev, Source: l.r.Source, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

func (l *linter) common() {
	r := l.r
	switch {
	case strings.TrimSpace(r.Title) == "":
		l.add(SeverityError, "title", "missing title")
	case len(r.Title) > 256:
		l.add(SeverityError, "title", "title longer than 256 characters")
	}
	for _, k := range []struct{ key, val string }{{"name", r.Name}, {"taxonomy", r.Taxonomy}} {
		if len(k.val) > 256 {
			l.add(SeverityError, k.key, "%s longer than 256 characters", k.key)
		}
	}
	for _, k := range []struct {
		key  string
		vals []string
	}{{"references", r.References}, {"tags", r.Tags}, {"fields", r.Fields}, {"falsepositives", r.FalsePositives}} {
		seen := make(map[string]bool, len(k.vals))
		for _, v := range k.vals {
			if seen[v] {
				l.add(SeverityWarning, k.key, "%s lists %q twice", k.key, v)
			}
			seen[v] = true
		}
	}
	if r.ID != "" && !uuidRe.MatchString(r.ID) {
		sev := SeverityError
		if r.Kind != KindDetection {
			sev = SeverityWarning // recommended, not mandatory, for meta rules
		}
		l.add(sev, "id", "id %q is not a UUID", r.ID)
	}
	if r.Level != "" {
		if _, err := ParseLevel(r.Level); err != nil {
			l.add(SeverityError, "level", "%v", err)
		}
	}
	if r.Status != "" && !statuses[r.Status] {
		l.add(SeverityError, "status", "unknown status %q (want stable, test, experimental, deprecated or unsupported)", r.Status)
	}
	if len(r.Description) > 65535 {
		l.add(SeverityError, "description", "description longer than 65,535 characters")
	}
	for _, k := range []struct{ key, val string }{{"date", r.Date}, {"modified", r.Modified}} {
		if k.val != "" && !validDate(k.val) {
			l.add(SeverityError, k.key, "%s %q is not a YYYY-MM-DD date", k.key, k.val)
		}
	}
	if r.Date != "" && r.Modified != "" && validDate(r.Date) && validDate(r.Modified) && r.Modified < r.Date {
		l.add(SeverityWarning, "modified", "modified %s is before date %s", r.Modified, r.Date)
	}
	for _, rel := range r.Related {
		if !uuidRe.MatchString(rel.ID) {
			l.add(SeverityError, "related", "related id %q is not a UUID", rel.ID)
		}
		if !relTypes[rel.Type] {
			l.add(SeverityError, "related", "unknown related type %q (want derived, obsolete, merged, renamed or similar)", rel.Type)
		}
	}
	for _, t := range r.Tags {
		if !tagRe.MatchString(t) {
			l.add(SeverityWarning, "tags", "tag %q is not a lowercase namespaced tag such as attack.t1059", t)
		}
	}
	for _, v := range []struct{ name, val string }{{"product", r.Logsource.Product}, {"category", r.Logsource.Category}, {"service", r.Logsource.Service}} {
		if v.val != "" && !lsRe.MatchString(v.val) {
			l.addAt(SeverityWarning, r.Logsource.Pos, "logsource %s %q should be lowercase letters, digits, _, . and -", v.name, v.val)
		}
	}
}

func (l *linter) detection(d *Detection) {
	if len(d.Conditions) == 0 {
		l.addAt(SeverityError, d.Pos, "missing condition")
	}
	used := map[string]bool{}
	for _, c := range d.Conditions {
		if c.Expr == nil {
			l.addAt(SeverityError, c.Pos, "condition %q is not parsed", c.Text)
			continue
		}
		if _, err := ResolveCondition(c.Expr, d.Order); err != nil {
			l.addAt(SeverityError, c.Pos, "%v", err)
		}
		if c.Resolved != nil {
			walkRefs(c.Resolved, func(name string) { used[name] = true })
		}
		walkOf(c.Expr, func(o *Of) {
			if o.Them && o.Quantifier == QuantAll {
				l.addAt(SeverityWarning, c.Pos, "\"all of them\" is discouraged: it prevents generic filtering; use \"all of selection*\"")
			}
		})
	}
	for _, name := range d.Order {
		s := d.Searches[name]
		if !used[name] {
			l.addAt(SeverityWarning, s.Pos, "search %q is not used by the condition", name)
		}
		if checkIdent(name, false) != nil || isReserved(name) || strings.ContainsAny(name, " \t()|") {
			l.addAt(SeverityWarning, s.Pos, "search identifier %q cannot be written in a condition (only matched by patterns)", name)
		}
		for _, g := range s.Groups {
			for _, it := range g.Items {
				if it.All && len(it.Values) == 1 {
					l.addAt(SeverityWarning, it.Pos, "the all modifier needs more than one value")
				}
				if slices.Contains(it.transforms, "base64offset") && it.Method != MethodContains {
					l.addAt(SeverityWarning, it.Pos, "base64offset forms are fragments of encoded data: use it with contains")
				}
				if it.Expand && !hasPlaceholderValue(it) {
					l.addAt(SeverityWarning, it.Pos, "expand modifier without a %%placeholder%% in the values")
				}
			}
		}
	}
}

func (l *linter) correlation(c *Correlation) {
	if len(c.GroupBy) == 0 {
		l.addAt(SeverityWarning, c.Pos, "%s correlation without group-by counts all events together", c.Type)
	}
	if (c.Type == CorrTemporal || c.Type == CorrTemporalOrdered) && len(c.Rules) < 2 {
		l.addAt(SeverityWarning, c.Pos, "%s correlation of a single rule: use event_count", c.Type)
	}
	seen := map[string]bool{}
	for _, r := range c.Rules {
		if seen[r] {
			l.addAt(SeverityError, c.Pos, "rule %q referenced twice", r)
		}
		seen[r] = true
	}
	for alias := range c.Aliases {
		if !slices.Contains(c.GroupBy, alias) {
			l.addAt(SeverityWarning, c.Pos, "alias %q is not used in group-by", alias)
		}
	}
	if c.Condition != nil && len(c.Condition.Ops) > 1 {
		ops := map[CompareOp]bool{}
		for _, op := range c.Condition.Ops {
			if ops[op.Op] {
				l.addAt(SeverityError, c.Condition.Pos, "condition operator %s given twice", op.Op)
			}
			ops[op.Op] = true
		}
	}
}

func hasPlaceholderValue(it *FieldItem) bool {
	for _, v := range it.Values {
		for _, b := range v.bases {
			if b.HasPlaceholders() {
				return true
			}
		}
		for _, p := range v.Patterns {
			if p.HasPlaceholders() {
				return true
			}
		}
	}
	// Placeholders may have been expanded already.
	for _, v := range it.Values {
		if strings.Count(v.Raw, "%") >= 2 {
			return true
		}
	}
	return false
}

// walkRefs calls f with the name of every Ref in c.
func walkRefs(c Cond, f func(string)) {
	switch n := c.(type) {
	case *And:
		for _, a := range n.Args {
			walkRefs(a, f)
		}
	case *Or:
		for _, a := range n.Args {
			walkRefs(a, f)
		}
	case *Not:
		walkRefs(n.Arg, f)
	case *Ref:
		f(n.Name)
	}
}

// walkOf calls f with every Of node in c.
func walkOf(c Cond, f func(*Of)) {
	switch n := c.(type) {
	case *And:
		for _, a := range n.Args {
			walkOf(a, f)
		}
	case *Or:
		for _, a := range n.Args {
			walkOf(a, f)
		}
	case *Not:
		walkOf(n.Arg, f)
	case *Of:
		f(n)
	}
}
