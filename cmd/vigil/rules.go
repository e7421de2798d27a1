package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/anomaly"
	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/termsafe"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Detection as code: lint, test, list, coverage and update Sigma rules",
	}
	cmd.AddCommand(newRulesLintCmd(), newRulesTestCmd(), newRulesListCmd(), newRulesCoverageCmd(), newRulesUpdateCmd())
	return cmd
}

func newRulesLintCmd() *cobra.Command {
	var warnings, anomalies bool
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Check rules against the Sigma specification and what the engine can run",
		Long: `Parse every rule under the given files or folders, check it against the
Sigma specification, and compile it into the engine. Errors (files that do
not parse, specification violations, rules the engine cannot run) make the
exit status 1. Rules with unresolved placeholders are listed as skipped with
the reason, not as errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if anomalies {
				return lintAnomaly(out, args)
			}
			start := time.Now()
			l, err := ruleset.Load(ruleset.Options{Dirs: args})
			if err != nil {
				return err
			}
			nerr, nwarn := 0, 0
			for _, e := range l.Errors {
				fmt.Fprintln(out, "error:", e)
				nerr++
			}
			for _, r := range l.Set.Rules {
				for _, is := range sigma.Lint(r) {
					if is.Severity == sigma.SeverityError {
						nerr++
						fmt.Fprintln(out, is)
					} else {
						nwarn++
						if warnings {
							fmt.Fprintln(out, is)
						}
					}
				}
			}
			placeholders := 0
			for _, s := range l.Skipped {
				if len(s.Rule.Placeholders) > 0 {
					placeholders++
					fmt.Fprintf(out, "skipped: %s: %s: %v\n", s.Rule.Source, s.Rule.Title, s.Reason)
					continue
				}
				nerr++
				fmt.Fprintf(out, "error: %s: %s: not loadable: %v\n", s.Rule.Source, s.Rule.Title, s.Reason)
			}
			det, corr, filt, _ := l.Set.Counts()
			fmt.Fprintf(out, "%d rules (%d detection, %d correlation, %d filter) in %v: %d errors, %d warnings, %d skipped for placeholders\n",
				len(l.Set.Rules), det, corr, filt, time.Since(start).Round(time.Millisecond), nerr, nwarn, placeholders)
			if nerr > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&warnings, "warnings", "w", false, "print warnings too")
	cmd.Flags().BoolVar(&anomalies, "anomaly", false, "lint anomaly rules (docs/anomaly.md, DATA/anomaly) instead of Sigma rules")
	return cmd
}

// lintAnomaly checks the anomaly rules under paths: each file parses, each
// rule is valid, ids are unique. Errors make the exit status 1.
func lintAnomaly(out io.Writer, paths []string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	rules, err := anomaly.LoadDir(paths...)
	errs := unwrapJoined(err)
	if _, err := anomaly.New(rules, nil, anomaly.Options{}); err != nil {
		errs = append(errs, unwrapJoined(err)...)
	}
	for _, e := range errs {
		fmt.Fprintln(out, "error:", e)
	}
	fmt.Fprintf(out, "%d anomaly rules: %d errors\n", len(rules), len(errs))
	if len(errs) > 0 {
		return exitCode(1)
	}
	return nil
}

// unwrapJoined lists the errors an errors.Join holds (one per rule file).
func unwrapJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func newRulesTestCmd() *cobra.Command {
	var (
		rules      []string
		regression string
		format     string
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "test --regression DIR --rules DIR...",
		Short: "Run rule regression tests (SigmaHQ's regression_data layout)",
		Long: `Run SigmaHQ-style regression tests: every info.yml under --regression names a
rule, a sample EVTX file (with its JSON rendering beside it) and the least
number of matches. All rules from --rules (and the built-in rules) are
loaded with logsource routing on, as in production.

  vigil rules test --regression sigma/regression_data --rules sigma/rules --rules sigma/rules-emerging-threats --rules sigma/rules-threat-hunting`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if regression == "" {
				return fmt.Errorf("--regression DIR is required")
			}
			out := cmd.OutOrStdout()
			tests, err := ruleset.LoadRegression(regression)
			if err != nil {
				return err
			}
			l, err := ruleset.Load(ruleset.Options{Builtin: true, Dirs: rules})
			if err != nil {
				return err
			}
			useEVTX, useJSON := format == "evtx" || format == "both", format == "json" || format == "both"
			if !useEVTX && !useJSON {
				return fmt.Errorf("--format: %q is not evtx, json or both", format)
			}
			results := l.RunRegression(cmd.Context(), tests, parse.New(parse.Options{}), useEVTX, useJSON)
			passed, failed := 0, 0
			for _, r := range results {
				if r.Passed() {
					passed++
				} else {
					failed++
				}
				if !r.Passed() || verbose {
					status := "ok  "
					if !r.Passed() {
						status = "FAIL"
					}
					fmt.Fprintf(out, "%s %s: %s matched %d, want at least %d", status, filepath.Base(r.File), r.Test.RuleTitle, r.Matches, r.Test.MatchCount)
					if r.Err != nil {
						fmt.Fprintf(out, " (%v)", r.Err)
					}
					fmt.Fprintln(out)
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rules, "rules", nil, "rule file or folder (repeatable)")
	f.StringVar(&regression, "regression", "", "folder in SigmaHQ's regression_data layout")
	f.StringVar(&format, "format", "both", "samples to run: evtx, json or both")
	f.BoolVarP(&verbose, "verbose", "v", false, "print passing tests too")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var (
		rules     []string
		noBuiltin bool
		filter    string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List loaded rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := ruleset.Load(ruleset.Options{Builtin: !noBuiltin, Dirs: rules})
			if err != nil {
				return err
			}
			var re *regexp.Regexp
			if filter != "" {
				if re, err = regexp.Compile("(?i)" + filter); err != nil {
					return fmt.Errorf("--filter: %w", err)
				}
			}
			skipped := map[*sigma.Rule]error{}
			for _, s := range l.Skipped {
				skipped[s.Rule] = s.Reason
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLEVEL\tSTATUS\tLOGSOURCE\tTITLE\tSTATE")
			n := 0
			for _, r := range l.Set.Rules {
				ls := strings.Trim(strings.Join([]string{r.Logsource.Product, r.Logsource.Category, r.Logsource.Service}, "/"), "/")
				if r.Correlation != nil {
					ls = "correlation:" + string(r.Correlation.Type)
				}
				if re != nil && !re.MatchString(r.Title+" "+r.ID+" "+ls+" "+strings.Join(r.Tags, " ")) {
					continue
				}
				state := "loaded"
				if err := skipped[r]; err != nil {
					state = "skipped: " + termsafe.Line(err.Error(), 60)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Level, r.Status, ls, termsafe.Line(r.Title, 70), state)
				n++
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d rules\n", n)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rules, "rules", nil, "rule file or folder (repeatable)")
	f.BoolVar(&noBuiltin, "no-builtin", false, "do not include Vigil's built-in rules")
	f.StringVar(&filter, "filter", "", "only rules whose title, id, logsource or tags match this regular expression")
	return cmd
}

func newRulesCoverageCmd() *cobra.Command {
	var (
		rules     []string
		noBuiltin bool
	)
	cmd := &cobra.Command{
		Use:   "coverage",
		Short: "Show ATT&CK techniques and logsources covered by the loaded rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := ruleset.Load(ruleset.Options{Builtin: !noBuiltin, Dirs: rules})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LOGSOURCE\tRULES\tMAPPED BY")
			unmapped := 0
			for _, c := range l.Engine.Coverage() {
				ls := strings.Trim(strings.Join([]string{c.Logsource.Product, c.Logsource.Category, c.Logsource.Service}, "/"), "/")
				by := strings.Join(c.Sources, ", ")
				if by == "" {
					by = "NOT MAPPED (only events whose parser sets this logsource)"
					unmapped++
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\n", ls, c.Rules, termsafe.Line(by, 100))
			}
			tw.Flush()
			fmt.Fprintf(out, "%d logsources without a mapping\n\n", unmapped)

			techniques := map[string]int{}
			tactics := map[string]int{}
			for _, r := range l.Engine.Rules() {
				for _, t := range r.Tags {
					switch tag, _ := attack.ParseTag(t); tag.Kind {
					case attack.KindTechnique:
						techniques[tag.ID]++
					case attack.KindTactic:
						tactics[tag.ID]++
					}
				}
			}
			fmt.Fprintf(out, "ATT&CK: %d techniques and sub-techniques, %d tactics covered\n", len(techniques), len(tactics))
			keys := make([]string, 0, len(techniques))
			for k := range techniques {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TECHNIQUE\tRULES")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%d\n", k, techniques[k])
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rules, "rules", nil, "rule file or folder (repeatable)")
	f.BoolVar(&noBuiltin, "no-builtin", false, "do not include Vigil's built-in rules")
	return cmd
}

// DefaultRulesURL is SigmaHQ's latest "all rules" release package.
const DefaultRulesURL = "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_all_rules.zip"

func newRulesUpdateCmd() *cobra.Command {
	var url, data string
	var allow []string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download a SigmaHQ rule package into the data directory",
		Long: `Download a Sigma rule release package (a zip archive) and install its rules in
DATA/rules/sigmahq, where vigil serve loads them. The old rules are replaced
only once the new package is unpacked and loads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if env := os.Getenv("VIGIL_RULES_URL"); url == "" && env != "" {
				url = env
			}
			if url == "" {
				url = DefaultRulesURL
			}
			// The download goes through the egress policy, as the
			// server's do: a mirror on an internal address must be
			// allowed (the same setting as the server's egress.allow).
			if env := os.Getenv("VIGIL_EGRESS_ALLOW"); len(allow) == 0 && env != "" {
				allow = strings.Split(env, ",")
			}
			policy, err := egress.New(allow)
			if err != nil {
				return err
			}
			res, err := ruleset.Update(cmd.Context(), policy, url, filepath.Join(data, "rules", "sigmahq"))
			if errors.Is(err, egress.ErrRefused) {
				return fmt.Errorf("%w (%s; allow it with --egress-allow CIDR)", err, egress.Detail(err))
			}
			if err != nil {
				return err
			}
			for _, e := range res.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", e)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %d rules from %d files in %s\n", res.Rules, res.Files, res.Dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "package URL (default: env VIGIL_RULES_URL, else SigmaHQ's latest all-rules release)")
	f.StringVar(&data, "data", "./vigil-data", "data directory")
	f.StringArrayVar(&allow, "egress-allow", nil, "address or CIDR the download may reach although internal (repeatable; default: env VIGIL_EGRESS_ALLOW, comma-separated)")
	return cmd
}
