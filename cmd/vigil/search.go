package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/apiclient"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/searchcli"
	"github.com/vigilsec/vigil/internal/timeparse"
)

func newSearchCmd() *cobra.Command {
	var (
		serverURL, token, dataDir, since, until, format string
		limit                                           int
	)
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Search events on a server or in a data directory",
		Long: `Run a query (see docs/query.md) against a running server (--server, --token
or env VIGIL_TOKEN) or directly against a data directory (--data).

  vigil search 'event.dataset:sshd "Failed password" | stats count() by source.ip | sort -count | limit 10' --since 24h`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(searchcli.Formats, format) {
				return usageError{fmt.Errorf("--format: %q is not %s", format, strings.Join(searchcli.Formats, ", "))}
			}
			r := searchcli.Request{Query: args[0], Limit: limit}
			if _, err := query.Parse(r.Query); err != nil {
				return err
			}
			now := time.Now()
			var err error
			if r.From, err = timeparse.Parse(since, now); err != nil {
				return usageError{fmt.Errorf("--since: %w", err)}
			}
			if r.To, err = timeparse.Parse(until, now); err != nil {
				return usageError{fmt.Errorf("--until: %w", err)}
			}
			var body []byte
			switch {
			case serverURL != "" && dataDir != "":
				return usageError{errors.New("give --server or --data, not both")}
			case dataDir != "":
				body, err = searchcli.Dir(cmd.Context(), dataDir, r)
			default:
				if serverURL == "" {
					serverURL = "http://127.0.0.1:8080"
				}
				c := &searchcli.Client{Base: serverURL, Token: apiclient.Token(token)}
				body, err = c.Search(cmd.Context(), r)
			}
			if err != nil {
				return err
			}
			return searchcli.Print(cmd.OutOrStdout(), cmd.ErrOrStderr(), body, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "server URL (default http://127.0.0.1:8080 unless --data is given)")
	f.StringVar(&token, "token", "", "API token (default: env VIGIL_TOKEN)")
	f.StringVar(&dataDir, "data", "", "search this data directory directly instead of a server")
	f.StringVar(&since, "since", "", "start of the time range: RFC 3339 time, date, or a duration ago (15m, 24h, 7d)")
	f.StringVar(&until, "until", "", "end of the time range (same forms as --since)")
	f.StringVar(&format, "format", "table", "output format: table, json, ndjson (one JSON object per event or row) or csv")
	f.IntVar(&limit, "limit", 100, "most events to return")
	return cmd
}
