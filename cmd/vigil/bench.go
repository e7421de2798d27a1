package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/loadgen"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generators and engine benchmarks for capacity planning",
	}
	cmd.AddCommand(newBenchIngestCmd())
	return cmd
}

func newBenchIngestCmd() *cobra.Command {
	var (
		cfg  loadgen.Config
		mix  string
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Send realistic log lines to a server and report the stored rate",
		Long: `Send sshd, nginx and JSON application lines to a Vigil server over syslog
TCP or UDP, or HTTP ingest, at --rate events/s (0: flat out), then count how
many the server stored by searching for the run's host name.

  vigil bench ingest --target tcp://127.0.0.1:5514 --events 1000000 --connections 4 --token $VIGIL_TOKEN`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Token == "" {
				cfg.Token = os.Getenv("VIGIL_TOKEN")
			}
			cfg.Mix = strings.Split(mix, ",")
			cfg.Wait = wait
			rep, err := loadgen.Run(cmd.Context(), cfg)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "run:     %s (host.name:bench-%s)\n", rep.Run, rep.Run)
			fmt.Fprintf(out, "sent:    %d events in %v (%.0f events/s), %d send errors\n", rep.Sent, rep.SendTime.Round(time.Millisecond), rep.SendRate(), rep.Errors)
			if rep.Stored >= 0 {
				fmt.Fprintf(out, "stored:  %d events, all searchable after %v (%.0f events/s end to end)\n", rep.Stored, rep.StoreTime.Round(time.Millisecond), rep.StoreRate())
				if rep.Stored < rep.Sent {
					fmt.Fprintf(out, "missing: %d events (UDP may drop under load; TCP and HTTP must not)\n", rep.Sent-rep.Stored)
				}
			}
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
	return cmd
}
