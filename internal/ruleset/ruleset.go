// Package ruleset loads the Sigma rules a server or a hunt runs: the rules
// bundled in the binary (written for Vigil, see builtin/) and rule folders
// given by the user, and compiles them into a detection engine. Every rule
// that is not loaded is listed with its reason.
package ruleset

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/logsource"
	"github.com/vigilsec/vigil/internal/sigma"
)

//go:embed builtin/*.yml
var builtinFS embed.FS

// Options select the rules.
type Options struct {
	// Builtin includes the rules bundled in the binary.
	Builtin bool
	// Dirs are rule files or folders, read recursively.
	Dirs []string
	// Logsources is the logsource mapping (nil: the embedded default).
	Logsources *logsource.Table
	// Detect tunes the engine (its Logsources is set from above).
	Detect detect.Options
}

// Loaded is a compiled rule set and what did not make it in.
type Loaded struct {
	Set    *sigma.Set
	Engine *detect.Engine
	// Errors are files or documents that failed to parse, and broken
	// references between rules.
	Errors []error
	// Skipped are rules that parsed but are not in the engine: unresolved
	// placeholders, features the engine cannot run.
	Skipped []detect.Skipped
}

// Builtin returns the bundled rules.
func Builtin() ([]*sigma.Rule, []error) {
	var rules []*sigma.Rule
	var errs []error
	names, _ := fs.Glob(builtinFS, "builtin/*.yml")
	sort.Strings(names)
	for _, n := range names {
		data, err := builtinFS.ReadFile(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs, err := sigma.Parse(data, "builtin:"+path.Base(n))
		rules = append(rules, rs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rules, errs
}

// Load reads and compiles the rules.
func Load(o Options) (*Loaded, error) {
	var rules []*sigma.Rule
	var errs []error
	if o.Builtin {
		rs, es := Builtin()
		rules = append(rules, rs...)
		errs = append(errs, es...)
	}
	if len(o.Dirs) > 0 {
		rs, es := sigma.LoadRules(o.Dirs...)
		rules = append(rules, rs...)
		errs = append(errs, es...)
	}
	set, refErrs := sigma.NewSet(rules)
	l := &Loaded{Set: set, Errors: append(errs, refErrs...)}
	var runnable []*sigma.Rule
	for _, r := range set.Rules {
		if err := r.SkipReason(); err != nil {
			l.Skipped = append(l.Skipped, detect.Skipped{Rule: r, Reason: err})
			continue
		}
		runnable = append(runnable, r)
	}
	dopts := o.Detect
	dopts.Logsources = o.Logsources
	eng, skipped, err := detect.Compile(runnable, dopts)
	if err != nil {
		return nil, fmt.Errorf("compiling rules: %w", err)
	}
	l.Engine = eng
	l.Skipped = append(l.Skipped, skipped...)
	return l, nil
}
