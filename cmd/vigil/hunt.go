package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/hunt"
	"github.com/vigilsec/vigil/internal/logsource"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/ruleset"
	"golang.org/x/term"
)

func newHuntCmd() *cobra.Command {
	var (
		rules             []string
		noBuiltin         bool
		format, minLevel  string
		output, failOn    string
		logsourceFile     string
		workers           int
		quiet, noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "hunt PATH...",
		Short: "Scan log files offline with Sigma rules",
		Long: `Scan files or folders (recursively) with Sigma rules: EVTX, JSON (an object, an
array, JSON lines or concatenated objects, such as evtx_dump or Winlogbeat
output) and syslog or plain text lines.

  vigil hunt --rules ./sigma/rules ./evidence/ --min-level high
  vigil hunt --rules ./sigma/rules logs/ --format jsonl --output findings.jsonl --fail-on high

Findings are written in input order. The summary goes to standard error.
With --fail-on LEVEL the exit status is 1 when a finding at or above LEVEL
was made (for CI gates).`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			for flag, v := range map[string]string{"--fail-on": failOn, "--min-level": minLevel} {
				if v != "" && hunt.LevelRank(v) < 0 {
					return usageError{fmt.Errorf("%s: unknown level %q (want %s)", flag, v, strings.Join(hunt.Levels, ", "))}
				}
			}
			switch format {
			case "table", "jsonl", "csv":
			default:
				return usageError{fmt.Errorf("--format: %q is not table, jsonl or csv", format)}
			}
			// A scan allocates fast and keeps little: collecting at 3x the
			// live heap instead of 2x costs ~120 MB more RSS with all
			// SigmaHQ rules (~370 MB) and saves a sixth of the CPU.
			defaultGCPercent(200)
			stderr := cmd.ErrOrStderr()
			tbl, err := loadLogsources(logsourceFile)
			if err != nil {
				return err
			}
			loadStart := time.Now()
			l, err := ruleset.Load(ruleset.Options{Builtin: !noBuiltin, Dirs: rules, Logsources: tbl})
			if err != nil {
				return err
			}
			for _, e := range l.Errors {
				fmt.Fprintln(stderr, "rule error:", e)
			}
			if !quiet {
				fmt.Fprintf(stderr, "loaded %d rules in %v (%d not loaded: vigil rules lint tells why)\n",
					len(l.Set.Rules)-len(l.Skipped), time.Since(loadStart).Round(time.Millisecond), len(l.Skipped))
			}
			var (
				out  io.Writer = cmd.OutOrStdout()
				file *os.File
			)
			if output != "" {
				if file, err = os.Create(output); err != nil {
					return err
				}
				defer file.Close() // after an error; closed and checked below otherwise
				out = file
			}
			bw := bufio.NewWriterSize(out, 64<<10)
			w := newFindingWriter(bw, format)

			var bar *progressbar.ProgressBar
			if f, ok := stderr.(*os.File); ok && !noProgress && !quiet && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("hunting"), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			opts := hunt.Options{Engine: l.Engine, Parser: parse.New(parse.Options{ShareData: true}), Workers: workers, MinLevel: minLevel, Render: w.renderer()}
			if bar != nil {
				opts.Progress = func(done, total int64) {
					bar.ChangeMax64(total)
					bar.Set64(done)
				}
			}
			sum, err := hunt.Run(cmd.Context(), args, opts, w.write)
			if bar != nil {
				bar.Finish()
			}
			// Findings not written are findings lost: a failed write,
			// flush or close is the run's error.
			if ferr := w.flush(); err == nil {
				err = ferr
			}
			if ferr := bw.Flush(); err == nil && ferr != nil {
				err = fmt.Errorf("writing findings: %w", ferr)
			}
			if file != nil {
				if ferr := file.Close(); err == nil && ferr != nil {
					err = fmt.Errorf("writing findings: %w", ferr)
				}
			}
			if sum != nil {
				for _, e := range sum.Errors {
					fmt.Fprintln(stderr, "warning:", e)
				}
				if !quiet {
					printSummary(stderr, sum)
				}
			}
			if err != nil {
				return err
			}
			if failOn != "" && sum.MaxLevel != "" && hunt.LevelRank(sum.MaxLevel) >= hunt.LevelRank(failOn) {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rules, "rules", nil, "Sigma rule file or folder (repeatable); the built-in rules are always included unless --no-builtin")
	f.BoolVar(&noBuiltin, "no-builtin", false, "do not include Vigil's built-in rules")
	f.StringVar(&format, "format", "table", "output format: table, jsonl or csv")
	f.StringVar(&minLevel, "min-level", "", "report findings at or above this level: informational, low, medium, high, critical")
	f.StringVar(&output, "output", "", "write findings to this file instead of standard output")
	f.StringVar(&failOn, "fail-on", "", "exit with status 1 if a finding at or above this level is made")
	f.StringVar(&logsourceFile, "logsources", "", "extra logsource mapping YAML merged over the built-in one")
	f.IntVar(&workers, "workers", 0, "parallel workers (default: one per CPU)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar and no summary")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	return cmd
}

func loadLogsources(path string) (*logsource.Table, error) {
	if path == "" {
		return nil, nil
	}
	return logsource.Load(path)
}

// findingWriter writes findings in one format. JSON lines and CSV rows are
// rendered by the hunt workers (render); write only copies them out.
type findingWriter struct {
	w      *bufio.Writer
	format string
	tw     *tabwriter.Writer
}

func newFindingWriter(w *bufio.Writer, format string) *findingWriter {
	fw := &findingWriter{w: w, format: format}
	switch format {
	case "csv":
		w.WriteString("timestamp,level,rule_id,rule_title,tags,host,file,event\n")
	case "table":
		fw.tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(fw.tw, "TIME\tLEVEL\tRULE\tHOST\tFILE")
	}
	return fw
}

// renderer returns the function that renders a finding on a worker, or
// nil for the table (aligned as a whole, so written by write).
func (fw *findingWriter) renderer() func(*hunt.Finding, []byte) []byte {
	switch fw.format {
	case "jsonl":
		return renderJSONL
	case "csv":
		return renderCSV
	}
	return nil
}

func findingTime(f *hunt.Finding) time.Time {
	if f.Time.IsZero() && f.Event != nil {
		return f.Event.Timestamp()
	}
	return f.Time
}

// renderJSONL appends the finding as one JSON line (the fields in
// docs/sigma.md#vigil-hunt).
func renderJSONL(f *hunt.Finding, b []byte) []byte {
	b = append(b, `{"rule_id":`...)
	b = event.AppendString(b, f.Rule.ID)
	b = append(b, `,"rule_title":`...)
	b = event.AppendString(b, f.Rule.Title)
	b = append(b, `,"level":`...)
	b = event.AppendString(b, f.Rule.Level)
	b = append(b, `,"tags":[`...)
	for i, t := range f.Rule.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendString(b, t)
	}
	b = append(b, `],"timestamp":"`...)
	b = findingTime(f).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","file":`...)
	b = event.AppendString(b, f.File)
	if len(f.Group) > 0 {
		b = append(b, `,"group":{`...)
		for i, g := range f.Group {
			if i > 0 {
				b = append(b, ',')
			}
			b = event.AppendString(b, g.Field)
			b = append(b, ':')
			b = event.AppendString(b, g.Value)
		}
		b = append(b, `},"count":`...)
		b = strconv.AppendInt(b, int64(f.Count), 10)
	}
	b = append(b, `,"event":`...)
	if f.Event != nil {
		b = appendEventJSON(b, f.Event)
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}\n"...)
}

// appendEventJSON appends the event of a finding. A record that is a JSON
// object (evtx_dump, Winlogbeat, application JSON, a record read from
// EVTX) is not repeated as log.original: its fields are the record, and the
// copy would double the output. A text line keeps its log.original.
func appendEventJSON(b []byte, ev *event.Event) []byte {
	if strings.HasPrefix(ev.Raw, "{") {
		cp := *ev
		cp.Raw = ""
		return cp.AppendJSON(b)
	}
	return ev.AppendJSON(b)
}

// renderCSV appends the finding as one CSV record.
func renderCSV(f *hunt.Finding, b []byte) []byte {
	var ev []byte
	if f.Event != nil {
		ev = appendEventJSON(nil, f.Event)
	}
	// The host comes from the logs scanned: csvsafe neutralises formulas.
	return csvsafe.Append(b, []string{findingTime(f).UTC().Format(time.RFC3339Nano), f.Rule.Level, f.Rule.ID, f.Rule.Title,
		strings.Join(f.Rule.Tags, " "), f.Host, f.File, string(ev)})
}

func (fw *findingWriter) write(f hunt.Finding) error {
	if f.Line != nil {
		_, err := fw.w.Write(f.Line)
		return err
	}
	if fw.tw == nil {
		// A renderer is set for every other format.
		return fmt.Errorf("finding of rule %s was not rendered", f.Rule.ID)
	}
	_, err := fmt.Fprintf(fw.tw, "%s\t%s\t%s\t%s\t%s\n", findingTime(&f).UTC().Format("2006-01-02 15:04:05"), f.Rule.Level,
		oneLine(f.Rule.Title, 80), oneLine(f.Host, 40), f.File)
	return err
}

func (fw *findingWriter) flush() error {
	if fw.tw != nil {
		return fw.tw.Flush()
	}
	return nil
}

func printSummary(w io.Writer, s *hunt.Summary) {
	rate := float64(s.Events) / s.Elapsed.Seconds()
	fmt.Fprintf(w, "\nscanned %d files, %d events (%.1f MB) in %v: %.0f events/s; %d findings\n",
		s.Files, s.Events, float64(s.Bytes)/1e6, s.Elapsed.Round(time.Millisecond), rate, s.Findings)
	if s.ParseErrors > 0 || s.Truncated > 0 {
		fmt.Fprintf(w, "records not parsed as their format (matched as text, tagged parse_error): %d; cut at the size limit (tagged truncated): %d\n",
			s.ParseErrors, s.Truncated)
	}
	if s.Findings == 0 {
		return
	}
	fmt.Fprint(w, "by level:")
	for i := len(hunt.Levels) - 1; i >= 0; i-- {
		if n := s.ByLevel[hunt.Levels[i]]; n > 0 {
			fmt.Fprintf(w, " %s %d", hunt.Levels[i], n)
		}
	}
	fmt.Fprintln(w)
	top := func(title string, m map[string]int64, n int) {
		if len(m) == 0 {
			return
		}
		type kv struct {
			k string
			v int64
		}
		var kvs []kv
		for k, v := range m {
			kvs = append(kvs, kv{k, v})
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v || kvs[i].v == kvs[j].v && kvs[i].k < kvs[j].k })
		fmt.Fprintf(w, "%s:\n", title)
		for i, x := range kvs {
			if i == n {
				fmt.Fprintf(w, "  ... and %d more\n", len(kvs)-n)
				break
			}
			fmt.Fprintf(w, "  %6d  %s\n", x.v, x.k)
		}
	}
	top("by rule", s.ByRule, 15)
	top("by ATT&CK tactic", s.ByTactic, 14)
	top("by host", s.ByHost, 10)
}
