package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/termsafe"
	"github.com/vigilsec/vigil/internal/vuln/db"
)

// addVulnDBFlags adds --db and --data: the advisory database is the
// folder --db, by default DATA/vulndb (DATA being --data, default
// ./vigil-data, as for vigil serve).
func addVulnDBFlags(cmd *cobra.Command, dir *string) {
	var data string
	cmd.Flags().StringVar(dir, "db", "", "advisory database folder (default DATA/vulndb)")
	cmd.Flags().StringVar(&data, "data", "./vigil-data", "data directory whose vulndb folder holds the advisory database")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if *dir == "" {
			*dir = filepath.Join(data, "vulndb")
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// staleAfter is the age past which vulndb status and scan warn that the
// advisory data is old (they never refuse to run because of it).
const staleAfter = 7 * 24 * time.Hour

func newVulnDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vulndb",
		Short: "Manage the local advisory database (OSV, CISA KEV, FIRST EPSS)",
	}
	cmd.AddCommand(newVulnDBImportCmd(), newVulnDBUpdateCmd(), newVulnDBStatusCmd())
	return cmd
}

func newVulnDBImportCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import OSV records, OSV all.zip exports, the KEV catalog and EPSS scores",
		Long: `Import advisory data into the local database, in one transaction: when any
file cannot be read whole, nothing is imported. Each PATH is a file or a
folder (searched recursively for .json, .zip, .csv and .gz files); files are
recognised by their content:

  OSV records          one record per .json file, or an OSV all.zip export
  CISA KEV catalog     known_exploited_vulnerabilities.json
  FIRST EPSS scores    epss_scores-YYYY-MM-DD.csv, gzip-compressed or not

  vigil vulndb import Go-all.zip Debian-all.zip known_exploited_vulnerabilities.json epss_scores-current.csv.gz

Records replace stored ones with the same id unless the stored one was
modified later; withdrawn records are removed. Exit status 2 when the data
cannot be imported.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := db.Open(cmd.Context(), dir, db.Options{})
			if err != nil {
				return dataError{err}
			}
			defer d.Close()
			start := time.Now()
			st, err := d.Import(cmd.Context(), args...)
			if err != nil {
				return dataError{fmt.Errorf("%w (nothing was imported)", err)}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "imported %d records (%d replaced, %d older than stored and skipped, %d withdrawn), %d KEV entries, %d EPSS scores from %d files in %v\n",
				st.Records, st.Replaced, st.Older, st.Withdrawn, st.KEV, st.EPSS, st.Files, time.Since(start).Round(time.Millisecond))
			for _, eco := range slices.Sorted(maps.Keys(st.Ecosystems)) {
				fmt.Fprintf(w, "  %-24s %d affected packages\n", termsafe.Line(eco, 60), st.Ecosystems[eco])
			}
			return nil
		},
	}
	addVulnDBFlags(cmd, &dir)
	return cmd
}

func newVulnDBUpdateCmd() *cobra.Command {
	var (
		dir        string
		ecosystems []string
		kev, epss  bool
		feeds      = db.DefaultFeeds
	)
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Refresh the advisory database from the publishers' feeds",
		Long: `Download and import, in one transaction, the OSV export (all.zip) of every
ecosystem the database holds and of each --ecosystem, and the CISA KEV and
FIRST EPSS feeds when the database holds them or --kev / --epss ask. Run it
from cron or a CI job; offline sites import files with vigil vulndb import.

  vigil vulndb update --ecosystem Go --ecosystem Debian:12 --kev --epss`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := db.Open(cmd.Context(), dir, db.Options{})
			if err != nil {
				return dataError{err}
			}
			defer d.Close()
			s, err := d.Status(cmd.Context())
			if err != nil {
				return dataError{err}
			}
			urls := s.UpdateURLs(feeds, ecosystems, kev, epss)
			if len(urls) == 0 {
				return usageError{errors.New("nothing to update: the database is empty; name --ecosystem, --kev or --epss")}
			}
			w := cmd.OutOrStdout()
			for _, u := range urls {
				fmt.Fprintln(w, "fetching", termsafe.Line(u, 300))
			}
			start := time.Now()
			st, err := d.Import(cmd.Context(), urls...)
			if err != nil {
				return dataError{fmt.Errorf("%w (nothing was imported)", err)}
			}
			fmt.Fprintf(w, "imported %d records (%d replaced, %d older than stored and skipped, %d withdrawn), %d KEV entries, %d EPSS scores in %v\n",
				st.Records, st.Replaced, st.Older, st.Withdrawn, st.KEV, st.EPSS, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	addVulnDBFlags(cmd, &dir)
	f := cmd.Flags()
	f.StringArrayVar(&ecosystems, "ecosystem", nil, "also fetch this ecosystem's OSV export (Go, Debian:12, Ubuntu:22.04:LTS, Alpine:v3.19, ...); repeatable")
	f.BoolVar(&kev, "kev", false, "also fetch the CISA KEV catalog")
	f.BoolVar(&epss, "epss", false, "also fetch the FIRST EPSS scores")
	f.StringVar(&feeds.OSV, "osv-url", feeds.OSV, "base URL of the OSV exports (BASE/ECOSYSTEM/all.zip), for a mirror")
	f.StringVar(&feeds.KEV, "kev-url", feeds.KEV, "URL of the KEV catalog")
	f.StringVar(&feeds.EPSS, "epss-url", feeds.EPSS, "URL of the EPSS scores")
	return cmd
}

func newVulnDBStatusCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the advisory database holds and how old its data is",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := db.Open(cmd.Context(), dir, db.Options{ReadOnly: true})
			if err != nil {
				return dataError{err}
			}
			defer d.Close()
			s, err := d.Status(cmd.Context())
			if err != nil {
				return dataError{err}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			now := time.Now()
			fmt.Fprintf(w, "database %s: %d advisories, %d aliases, %d KEV entries, %d EPSS scores\n", s.Path, s.Advisories, s.Aliases, s.KEV, s.EPSS)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ECOSYSTEM\tADVISORIES\tPACKAGES\tNEWEST RECORD")
			for _, e := range s.Ecosystems {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", termsafe.Line(e.Ecosystem, 60), e.Advisories, e.Packages, day(e.Newest))
			}
			tw.Flush()
			fmt.Fprintln(tw, "SOURCE\tIMPORTED\tDATA AS OF\tAGE\tDETAIL")
			for _, src := range s.Sources {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", termsafe.Line(src.Name, 60), src.ImportedAt.Format(time.RFC3339), day(src.DataTime),
					age(now, src.ImportedAt), termsafe.Line(src.Detail, 120))
			}
			tw.Flush()
			if t := s.DataTime(); t.IsZero() {
				fmt.Fprintln(w, "warning: the database is empty: vigil vulndb import fills it")
			} else if now.Sub(t) > staleAfter {
				fmt.Fprintf(w, "warning: the advisory data was last imported %s ago\n", age(now, t))
			}
			return nil
		},
	}
	addVulnDBFlags(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func day(t time.Time) string {
	if t.IsZero() || t.Year() < 1971 {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// dataError is data that cannot be read or imported: exit status 2, like
// a usage error, so that a CI gate tells it from a finding.
type dataError struct{ err error }

func (e dataError) Error() string { return e.err.Error() }
func (e dataError) Unwrap() error { return e.err }
