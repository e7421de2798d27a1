package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/datadir"
	"github.com/vigilsec/vigil/internal/store/migrate"
	"github.com/vigilsec/vigil/internal/store/vlstore"
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
	cmd.AddCommand(newStoreMigrateCmd(), newStoreCheckCmd())
	return cmd
}

func newStoreCheckCmd() *cobra.Command {
	var (
		data        string
		scan, child bool
	)
	cmd := &cobra.Command{
		Use:   "check [--data DIR] [--scan]",
		Short: "Check the victorialogs store and move damaged partitions aside",
		Long: `Open the victorialogs event store in --data (default ./vigil-data) and, with
--scan, read every part's files. A partition (one day) whose files the
engine cannot read is moved to DATA/victorialogs-quarantine, and the check
runs again, until the store opens and reads cleanly. The server runs the
same check before it opens the store (a scan after an unclean exit), so a
damaged part never stops it for good. Stop the server first.

The exit status is 0 when the store is clean (whatever was moved aside,
which is listed), 1 when it cannot be made to open.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !vlstore.Holds(data) {
				return fmt.Errorf("%s holds no victorialogs store", data)
			}
			if child {
				// The check itself, in the process CheckInChild started:
				// damage may end it.
				rows, err := vlstore.Check(cmd.Context(), data, scan)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok %d rows\n", rows)
				return nil
			}
			lock, err := datadir.Acquire(data)
			if err != nil {
				return fmt.Errorf("locking %s (stop the server that uses it first): %w", data, err)
			}
			defer lock.Release()
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			moved, err := vlstore.CheckInChild(cmd.Context(), exe, data, scan)
			out := cmd.OutOrStdout()
			for _, q := range moved {
				fmt.Fprintf(out, "partition %s is damaged and was moved to %s\n  %s\n", q.Day, q.Path, q.Report)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "store OK")
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./vigil-data", "data directory")
	cmd.Flags().BoolVar(&scan, "scan", false, "read every part's files, not only open the store")
	cmd.Flags().BoolVar(&child, "child", false, "run the check in this process (the server and the command run it so, in a child)")
	cmd.Flags().MarkHidden("child")
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
