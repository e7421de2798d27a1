// Package anomaly runs baseline rules, a Vigil extension beside Sigma:
// first-seen values, rare values, volume spikes per entity against that
// entity's own hour-of-week baseline, and impossible travel between
// logins. Rules are YAML documents with a top-level anomaly key
// (docs/anomaly.md); their state is bounded in memory and persisted in the
// metadata database, and their results are detections like Sigma's.
package anomaly

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/vigilsec/vigil/internal/sigma"
)

// The kinds of anomaly rule.
const (
	KindFirstSeen        = "first_seen"
	KindRare             = "rare"
	KindSpike            = "spike"
	KindImpossibleTravel = "impossible_travel"
)

// Bounds of a rule. Rules come from files an operator drops in a folder,
// but a rule folder may be fed by an update feed, so nothing in one is
// trusted to be small.
const (
	maxRuleFile       = 1 << 20 // bytes of one rule file
	maxRulesPerFile   = 256
	maxFields         = 4  // entity or value fields
	maxSelection      = 32 // selection fields
	maxSelectionVals  = 256
	maxText           = 512 // id, title, field names, values
	maxTags           = 32
	maxWarmup         = 365 * 24 * time.Hour
	maxWindow         = 365 * 24 * time.Hour
	maxBelow          = 1 << 20
	maxMinWeeks       = 52
	maxSpeedKMH       = 1e6
	defaultSpeedKMH   = 1000
	defaultMinDistKM  = 500
	defaultK          = 3
	defaultFloor      = 20
	defaultMinWeeks   = 2
	defaultLocation   = "source.geo.location"
	defaultIPField    = "source.ip"
	defaultRareWindow = 30 * 24 * time.Hour
)

// Rule is one anomaly rule.
type Rule struct {
	// Source is the file the rule was read from.
	Source string `yaml:"-"`

	ID          string            `yaml:"id"`
	Title       string            `yaml:"title"`
	Description string            `yaml:"description"`
	Status      string            `yaml:"status"`
	Author      string            `yaml:"author"`
	Level       string            `yaml:"level"`
	Tags        []string          `yaml:"tags"`
	Logsource   Logsource         `yaml:"logsource"`
	Selection   map[string]Values `yaml:"selection"`
	Anomaly     Spec              `yaml:"anomaly"`

	warmup, window time.Duration
}

// Logsource selects events by their Sigma logsource; empty members match
// any.
type Logsource struct {
	Product  string `yaml:"product"`
	Category string `yaml:"category"`
	Service  string `yaml:"service"`
}

// Values is a selection's accepted values: one scalar or a list.
type Values []string

// UnmarshalYAML reads a scalar or a list of scalars.
func (v *Values) UnmarshalYAML(b []byte) error {
	var raw any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch x := raw.(type) {
	case []any:
		out := make(Values, 0, len(x))
		for _, e := range x {
			s, err := scalarText(e)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		*v = out
	default:
		s, err := scalarText(x)
		if err != nil {
			return err
		}
		*v = Values{s}
	}
	return nil
}

func scalarText(x any) (string, error) {
	switch y := x.(type) {
	case string:
		return y, nil
	case bool:
		return strconv.FormatBool(y), nil
	case int, int64, uint64, float64:
		return fmt.Sprint(y), nil
	case nil:
		return "", errors.New("selection value is null")
	}
	return "", fmt.Errorf("selection value is a %T, want a string, number or boolean", x)
}

// Spec is a rule's anomaly section: its kind and the kind's parameters.
type Spec struct {
	// Kind is first_seen, rare, spike or impossible_travel.
	Kind string `yaml:"kind"`
	// Entity are the fields whose values name whom the baseline is of
	// (user.name); empty: one baseline for all events.
	Entity []string `yaml:"entity"`
	// Fields are the watched value fields (first_seen, rare).
	Fields []string `yaml:"fields"`
	// Warmup is how much history the rule and an entity need before the
	// rule alerts on it (a Sigma timespan: 7d).
	Warmup string `yaml:"warmup"`
	// Below and Window (rare): a value used fewer than Below times in
	// the preceding Window.
	Below  int    `yaml:"below"`
	Window string `yaml:"window"`
	// K, Floor and MinWeeks (spike): an hour's count above
	// max(Floor, mean + K·stddev) of the same hour of the week over the
	// entity's previous weeks, once it has MinWeeks of them.
	K        float64 `yaml:"k"`
	Floor    int     `yaml:"floor"`
	MinWeeks int     `yaml:"min_weeks"`
	// MaxSpeedKMH and MinDistanceKM (impossible_travel): two logins
	// farther apart than MinDistanceKM at a speed over MaxSpeedKMH.
	MaxSpeedKMH   float64 `yaml:"max_speed_kmh"`
	MinDistanceKM float64 `yaml:"min_distance_km"`
	// Location is the field prefix of the latitude and longitude
	// (Location.lat, Location.lon; default source.geo.location); IP is
	// the address looked up in GeoIP when the event has none (default
	// source.ip).
	Location string `yaml:"location"`
	IP       string `yaml:"ip"`
}

// Parse reads the anomaly rules of one file (YAML documents separated by
// ---). Every rule is validated; the error says where.
func Parse(data []byte, source string) (rules []*Rule, err error) {
	if len(data) > maxRuleFile {
		return nil, fmt.Errorf("%s: rule file of %d bytes is over the limit of %d", source, len(data), maxRuleFile)
	}
	// The YAML library panics on some malformed documents; a bad rule
	// file must be an error, not a crash of the server that loads it.
	defer func() {
		if r := recover(); r != nil {
			rules, err = nil, fmt.Errorf("%s: malformed YAML (parser failure: %v)", source, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict())
	var errs []error
	for i := 0; ; i++ {
		var r Rule
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", source, i+1, err))
			break // the decoder cannot resume after a syntax error
		}
		if i >= maxRulesPerFile {
			errs = append(errs, fmt.Errorf("%s: more than %d rules in one file", source, maxRulesPerFile))
			break
		}
		r.Source = source
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", source, i+1, err))
			continue
		}
		rules = append(rules, &r)
	}
	return rules, errors.Join(errs...)
}

func (r *Rule) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	text := func(key, s string, required bool) {
		switch {
		case s == "" && required:
			add("%s: missing", key)
		case len(s) > maxText:
			add("%s: %d bytes, over the limit of %d", key, len(s), maxText)
		}
	}
	text("id", r.ID, true)
	text("title", r.Title, true)
	if _, err := sigma.ParseLevel(r.Level); err != nil || r.Level == "" {
		add("level: want informational, low, medium, high or critical, got %q", r.Level)
	}
	if len(r.Tags) > maxTags {
		add("tags: %d, over the limit of %d", len(r.Tags), maxTags)
	}
	for _, t := range r.Tags {
		text("tags", t, true)
	}
	if len(r.Selection) > maxSelection {
		add("selection: %d fields, over the limit of %d", len(r.Selection), maxSelection)
	}
	for f, vs := range r.Selection {
		text("selection field", f, true)
		if len(vs) == 0 || len(vs) > maxSelectionVals {
			add("selection: %s: want 1 to %d values, got %d", f, maxSelectionVals, len(vs))
		}
		for _, v := range vs {
			text("selection: "+f, v, false)
		}
	}
	a := &r.Anomaly
	fields := func(key string, fs []string, min int) {
		if len(fs) < min || len(fs) > maxFields {
			add("anomaly: %s: want %d to %d fields, got %d", key, min, maxFields, len(fs))
		}
		for _, f := range fs {
			text("anomaly: "+key, f, true)
		}
	}
	fields("entity", a.Entity, 0)
	var err error
	if a.Warmup != "" {
		if r.warmup, err = sigma.ParseTimespan(a.Warmup); err != nil {
			add("anomaly: warmup: %w", err)
		} else if r.warmup > maxWarmup {
			add("anomaly: warmup: %s is over the limit of %s", a.Warmup, maxWarmup)
		}
	}
	switch a.Kind {
	case KindFirstSeen:
		fields("fields", a.Fields, 1)
	case KindRare:
		fields("fields", a.Fields, 1)
		if a.Below < 1 || a.Below > maxBelow {
			add("anomaly: below: want 1 to %d, got %d", maxBelow, a.Below)
		}
		r.window = defaultRareWindow
		if a.Window != "" {
			if r.window, err = sigma.ParseTimespan(a.Window); err != nil {
				add("anomaly: window: %w", err)
			} else if r.window > maxWindow || r.window < time.Hour {
				add("anomaly: window: %s is outside 1h to %s", a.Window, maxWindow)
			}
		}
	case KindSpike:
		if len(a.Fields) > 0 {
			add("anomaly: fields: a spike counts events, it has no value fields")
		}
		if a.K == 0 {
			a.K = defaultK
		}
		if a.Floor == 0 {
			a.Floor = defaultFloor
		}
		if a.MinWeeks == 0 {
			a.MinWeeks = defaultMinWeeks
		}
		if a.K < 0 || a.K > 100 {
			add("anomaly: k: want 0 to 100, got %g", a.K)
		}
		if a.Floor < 1 || a.Floor > maxBelow {
			add("anomaly: floor: want 1 to %d, got %d", maxBelow, a.Floor)
		}
		if a.MinWeeks < 1 || a.MinWeeks > maxMinWeeks {
			add("anomaly: min_weeks: want 1 to %d, got %d", maxMinWeeks, a.MinWeeks)
		}
	case KindImpossibleTravel:
		if len(a.Entity) == 0 {
			add("anomaly: entity: impossible travel needs the user field(s)")
		}
		if a.MaxSpeedKMH == 0 {
			a.MaxSpeedKMH = defaultSpeedKMH
		}
		if a.MinDistanceKM == 0 {
			a.MinDistanceKM = defaultMinDistKM
		}
		if a.Location == "" {
			a.Location = defaultLocation
		}
		if a.IP == "" {
			a.IP = defaultIPField
		}
		if a.MaxSpeedKMH < 0 || a.MaxSpeedKMH > maxSpeedKMH {
			add("anomaly: max_speed_kmh: want 0 to %g, got %g", maxSpeedKMH, a.MaxSpeedKMH)
		}
		if a.MinDistanceKM < 0 || a.MinDistanceKM > 20100 {
			add("anomaly: min_distance_km: want 0 to 20100, got %g", a.MinDistanceKM)
		}
		text("anomaly: location", a.Location, true)
		text("anomaly: ip", a.IP, true)
	case "":
		add("anomaly: kind: missing (first_seen, rare, spike or impossible_travel)")
	default:
		add("anomaly: kind: unknown kind %q (want first_seen, rare, spike or impossible_travel)", a.Kind)
	}
	if a.Kind != KindRare && (a.Below != 0 || a.Window != "") {
		add("anomaly: below and window are parameters of rare rules")
	}
	return errors.Join(errs...)
}

// Warmup is the history the rule needs before it alerts.
func (r *Rule) Warmup() time.Duration { return r.warmup }

// sigmaRule is the synthetic Sigma rule the rule's detections carry, so
// that they list, filter, suppress and fold into incidents like Sigma
// detections.
func (r *Rule) sigmaRule() *sigma.Rule {
	desc := r.Description
	if desc == "" {
		desc = "Anomaly rule (" + r.Anomaly.Kind + ")."
	}
	return &sigma.Rule{
		Source: r.Source, Kind: sigma.KindDetection,
		ID: r.ID, Name: r.ID, Title: r.Title, Level: r.Level, Status: r.Status,
		Description: desc, Author: r.Author,
		Tags:      append([]string{"vigil.anomaly", "vigil.anomaly." + r.Anomaly.Kind}, r.Tags...),
		Logsource: sigma.Logsource{Product: r.Logsource.Product, Category: r.Logsource.Category, Service: r.Logsource.Service},
	}
}

//go:embed builtin/*.yml
var builtinFS embed.FS

// Builtin returns the rules bundled in the binary.
func Builtin() ([]*Rule, error) {
	names, _ := fs.Glob(builtinFS, "builtin/*.yml")
	sort.Strings(names)
	var rules []*Rule
	var errs []error
	for _, n := range names {
		data, err := builtinFS.ReadFile(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs, err := Parse(data, "builtin:"+path.Base(n))
		rules = append(rules, rs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rules, errors.Join(errs...)
}

// LoadDir reads the *.yml and *.yaml files under each folder
// (recursively); a missing folder holds no rules. Files that fail are
// listed in the error; the rules of the others are returned.
func LoadDir(dirs ...string) ([]*Rule, error) {
	var rules []*Rule
	var errs []error
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == dir {
					return nil
				}
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
				return nil
			}
			if info, err := d.Info(); err != nil {
				errs = append(errs, err)
				return nil
			} else if info.Size() > maxRuleFile {
				errs = append(errs, fmt.Errorf("%s: rule file of %d bytes is over the limit of %d", p, info.Size(), maxRuleFile))
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			rs, err := Parse(data, p)
			rules = append(rules, rs...)
			if err != nil {
				errs = append(errs, err)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("reading anomaly rules in %q: %w", dir, err))
		}
	}
	return rules, errors.Join(errs...)
}

// dedupe keeps the first rule of each id and reports the others.
func dedupe(rules []*Rule) ([]*Rule, error) {
	var errs []error
	seen := map[string]string{}
	out := rules[:0:0]
	for _, r := range rules {
		if src, ok := seen[r.ID]; ok {
			errs = append(errs, fmt.Errorf("%s: rule id %q already used by %s", r.Source, r.ID, src))
			continue
		}
		seen[r.ID] = r.Source
		out = append(out, r)
	}
	return slices.Clip(out), errors.Join(errs...)
}
