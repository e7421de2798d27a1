package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/store/migrate"
)

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Manage the event store",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newStoreMigrateCmd())
	return cmd
}

func newStoreMigrateCmd() *cobra.Command {
	var (
		from, data string
		batch      int
	)
	cmd := &cobra.Command{
		Use:   "migrate --from DIR [--data DIR]",
		Short: "Copy events from the sqlite engine into the victorialogs engine",
		Long: `Copy every event of the sqlite event store in --from into the victorialogs
engine of --data (default: --from itself, in place), then set
store.engine: victorialogs. Stop the server first: the command locks both
directories as the server does.

In place, the sqlite segments are moved to DIR/events-sqlite-migrated once
every event is copied and counted; remove that directory when satisfied.
Into another directory, the source is left as it is and its meta.db
(alerts, incidents, users, audit) is copied when the destination has none.
An interrupted migration (Ctrl-C, a crash) resumes where it stopped when
run again. Events the engine refuses (times more than a day in the future)
are counted and listed, and stay in the sqlite segments. See
docs/storage.md.

  vigil store migrate --from /var/lib/vigil`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return usageError{fmt.Errorf("--from is required")}
			}
			errw := cmd.ErrOrStderr()
			last := time.Time{}
			res, err := migrate.Run(cmd.Context(), from, data, migrate.Options{Batch: batch, Progress: func(p migrate.Progress) {
				if time.Since(last) < time.Second {
					return
				}
				last = time.Now()
				rate := float64(p.Copied) / max(p.Elapsed.Seconds(), 0.001)
				fmt.Fprintf(errw, "copied %d of %d events (%.0f/s), %d refused\n", p.Copied, p.Total, rate, p.Refused)
			}})
			if res != nil && res.Resumed {
				fmt.Fprintln(errw, "resumed an earlier, unfinished migration")
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "migrated %d events in %s; the victorialogs store holds %d\n", res.Copied, res.Elapsed.Round(time.Millisecond), res.Stored)
			if res.Refused > 0 {
				fmt.Fprintf(out, "%d events refused by the engine (kept in the sqlite segments), for example:\n", res.Refused)
				for _, s := range res.RefusedSample {
					fmt.Fprintln(out, "  "+s)
				}
			}
			if res.Moved != "" {
				fmt.Fprintf(out, "the sqlite segments are now in %s: remove it once satisfied\n", res.Moved)
			}
			fmt.Fprintln(out, "set store.engine: victorialogs (or VIGIL_STORE_ENGINE=victorialogs) before starting the server")
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "data directory whose sqlite events to copy")
	cmd.Flags().StringVar(&data, "data", "", "data directory of the victorialogs store (default: --from, in place)")
	cmd.Flags().IntVar(&batch, "batch", 2048, "events per append")
	return cmd
}
