package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/hunt"
	"github.com/vigilsec/vigil/internal/loadgen"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/ruleset"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generators and engine benchmarks for capacity planning",
	}
	cmd.AddCommand(newBenchIngestCmd(), newBenchDetectCmd())
	return cmd
}

func newBenchDetectCmd() *cobra.Command {
	var (
		rules     []string
		noBuiltin bool
		workers   int
		duration  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "detect PATH...",
		Short: "Measure the detection engine over events read from files",
		Long: `Load and compile the rules, read and parse the events of the given files
(anything vigil hunt reads) into memory, then run them through the engine
again and again for --duration on --workers goroutines, and report the
compile time, events per second and memory.

  vigil bench detect --rules sigma/rules --rules sigma/rules-emerging-threats sigma/regression_data`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			start := time.Now()
			l, err := ruleset.Load(ruleset.Options{Builtin: !noBuiltin, Dirs: rules})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "rules:     %d loaded, %d skipped, %d errors; load and compile %v\n",
				len(l.Set.Rules)-len(l.Skipped), len(l.Skipped), len(l.Errors), time.Since(start).Round(time.Millisecond))
			evs, errs := hunt.Collect(cmd.Context(), args, parse.New(parse.Options{}))
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", e)
			}
			if len(evs) == 0 {
				return fmt.Errorf("no events read from %s", strings.Join(args, " "))
			}
			fmt.Fprintf(out, "events:    %d distinct, replayed for %v\n", len(evs), duration)
			res := hunt.BenchEngine(cmd.Context(), l.Engine, evs, workers, duration)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "engine:    %.0f events/s on %d workers (%.0f per worker), %d detections\n",
				res.Rate(), res.Workers, res.Rate()/float64(res.Workers), res.Detections)
			fmt.Fprintf(out, "memory:    %.0f MB heap in use, %.0f MB from the OS\n", float64(ms.HeapInuse)/1e6, float64(ms.Sys)/1e6)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rules, "rules", nil, "Sigma rule file or folder (repeatable)")
	f.BoolVar(&noBuiltin, "no-builtin", false, "do not include Vigil's built-in rules")
	f.IntVar(&workers, "workers", 0, "goroutines (default: one per CPU)")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to run")
	return cmd
}

func newBenchIngestCmd() *cobra.Command {
	var (
		cfg      loadgen.Config
		mix      string
		wait     time.Duration
		baseline bool
		last     bool
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Send realistic log lines to a server and report the stored rate",
		Long: `Send sshd, nginx and JSON application lines to a Vigil server over syslog
TCP or UDP, or HTTP ingest, at --rate events/s (0: flat out), then count how
many the server stored by searching for the run's host name.

  vigil bench ingest --target tcp://127.0.0.1:5514 --events 1000000 --connections 4 --token $VIGIL_TOKEN

--attackers N mixes an SSH brute-force wave into the run: N addresses
from 198.18.0.0/15, each failing to log in --attempts times, spread over
the run. With --baseline the same number of events is first sent without
the wave, and the two end-to-end rates are compared:

  vigil bench ingest --events 2000000 --attackers 100000 --baseline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Token == "" {
				cfg.Token = os.Getenv("VIGIL_TOKEN")
			}
			cfg.Mix = strings.Split(mix, ",")
			cfg.Wait = wait
			out := cmd.OutOrStdout()
			if baseline {
				if cfg.Attackers <= 0 {
					return usageError{fmt.Errorf("--baseline compares with a storm: give --attackers")}
				}
				if wait <= 0 {
					return usageError{fmt.Errorf("--baseline needs the stored count: --wait must be positive")}
				}
				base := cfg
				base.Attackers = 0
				if base.Run != "" {
					base.Run += "-base"
				}
				// The second run finds the first's events in the store, so
				// it works on a bigger store: --baseline-last swaps the
				// order to see how much that weighs.
				runBase := func() (loadgen.Report, error) {
					fmt.Fprintln(out, "== baseline (no attackers)")
					r, err := loadgen.Run(cmd.Context(), base)
					printIngestReport(out, r)
					return r, err
				}
				runStorm := func() (loadgen.Report, error) {
					fmt.Fprintf(out, "== storm (%d attackers × %d attempts)\n", cfg.Attackers, max(cfg.Attempts, 10))
					r, err := loadgen.Run(cmd.Context(), cfg)
					printIngestReport(out, r)
					return r, err
				}
				var brep, rep loadgen.Report
				var err error
				if last {
					if rep, err = runStorm(); err == nil {
						brep, err = runBase()
					}
				} else if brep, err = runBase(); err == nil {
					rep, err = runStorm()
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "ratio:   storm / baseline end to end = %.3f (%.0f / %.0f events/s)\n", rep.StoreRate()/brep.StoreRate(), rep.StoreRate(), brep.StoreRate())
				return nil
			}
			rep, err := loadgen.Run(cmd.Context(), cfg)
			printIngestReport(out, rep)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "tcp://127.0.0.1:5514", "tcp://host:port, udp://host:port or http://host:port")
	f.StringVar(&cfg.API, "api", "", "server URL for counting stored events (default: the http target or http://127.0.0.1:8080)")
	f.StringVar(&cfg.Token, "token", "", "API token (default: env VIGIL_TOKEN)")
	f.IntVar(&cfg.Events, "events", 100000, "events to send")
	f.IntVar(&cfg.Rate, "rate", 0, "events per second (0: flat out)")
	f.IntVar(&cfg.Connections, "connections", 4, "concurrent connections")
	f.StringVar(&mix, "mix", "sshd,nginx,json", "kinds of lines: sshd, nginx, json")
	f.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for every event to be stored (0: do not count)")
	f.StringVar(&cfg.Run, "run", "", "run name (default: random)")
	f.IntVar(&cfg.Attackers, "attackers", 0, "mix in an SSH brute force from this many addresses (198.18.0.0/15)")
	f.IntVar(&cfg.Attempts, "attempts", 10, "failed logins per attacking address")
	f.BoolVar(&baseline, "baseline", false, "first send the same number of events without attackers and compare the rates")
	f.BoolVar(&last, "baseline-last", false, "with --baseline, send the storm first and the baseline second")
	return cmd
}

func printIngestReport(out io.Writer, rep loadgen.Report) {
	fmt.Fprintf(out, "run:     %s (host.name:bench-%s)\n", rep.Run, rep.Run)
	fmt.Fprintf(out, "sent:    %d events in %v (%.0f events/s), %d send errors\n", rep.Sent, rep.SendTime.Round(time.Millisecond), rep.SendRate(), rep.Errors)
	if rep.Stored >= 0 {
		fmt.Fprintf(out, "stored:  %d events, all searchable after %v (%.0f events/s end to end)\n", rep.Stored, rep.StoreTime.Round(time.Millisecond), rep.StoreRate())
		if rep.Stored < rep.Sent {
			fmt.Fprintf(out, "missing: %d events (UDP may drop under load; TCP and HTTP must not)\n", rep.Sent-rep.Stored)
		}
	}
}
