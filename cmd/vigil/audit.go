package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/postgres"
	_ "modernc.org/sqlite"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the audit log",
		// Without a Run, cobra answers an unknown subcommand with the help
		// and exit status 0, which a script would take for success.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newAuditVerifyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		serverURL, token, dataDir, format, pgDSN string
		anchorArgs                               []string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log's hash chain",
		Long: `Walk the audit log in sequence order, recompute every entry's hash and check
that each entry names the previous one's (see docs/incidents.md, "Audit").
Reads DATA/meta.db directly and read-only (--data, default ./vigil-data; the
server may be running), or the PostgreSQL database of a server run with
--postgres (the same --postgres DSN, or env VIGIL_POSTGRES; it only reads),
or asks a running server (--server, --token or env VIGIL_TOKEN; admin role).

  vigil audit verify --data /var/lib/vigil

The exit status is 0 when the chain is intact, 1 when it is broken (the
first break is printed) or could not be read, 2 on a usage error.

The chain cannot show by itself that its newest entries were dropped, or
rewritten all the way to the end. Keep the head it prints somewhere else
and pass it back later: --anchor SEQ:HASH fails unless the chain still
passes through that entry with that hash.

  vigil audit verify --data /var/lib/vigil --anchor 1234:6f1c...`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format: %q is not text or json", format)}
			}
			anchors := make([]audit.Anchor, len(anchorArgs))
			for i, a := range anchorArgs {
				var err error
				if anchors[i], err = audit.ParseAnchor(a); err != nil {
					return usageError{fmt.Errorf("--anchor: %w", err)}
				}
			}
			var (
				rep   audit.Report
				where string
				err   error
			)
			if pgDSN == "" && dataDir == "" && serverURL == "" {
				pgDSN = os.Getenv("VIGIL_POSTGRES")
			}
			switch {
			case serverURL != "" && dataDir != "":
				return usageError{errors.New("give --server or --data, not both")}
			case pgDSN != "" && (serverURL != "" || dataDir != ""):
				return usageError{errors.New("give --postgres without --server and --data: it names the database itself")}
			case pgDSN != "":
				where = "PostgreSQL " + postgres.Redact(pgDSN)
				rep, err = verifyPostgres(cmd, pgDSN, anchors)
			case serverURL != "":
				if token == "" {
					token = os.Getenv("VIGIL_TOKEN")
				}
				where = serverURL
				rep, err = verifyServer(cmd, serverURL, token, anchorArgs)
			default:
				if dataDir == "" {
					dataDir = "./vigil-data"
				}
				where = filepath.Join(dataDir, "meta.db")
				rep, err = verifyDir(cmd, where, anchors)
			}
			if err != nil {
				return err
			}
			if err := printReport(cmd.OutOrStdout(), where, rep, len(anchors), format); err != nil {
				return err
			}
			if !rep.OK {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory whose meta.db to read (default ./vigil-data unless --server is given)")
	f.StringVar(&serverURL, "server", "", "ask this server instead (GET /api/v1/audit/verify)")
	f.StringVar(&pgDSN, "postgres", "", "read this PostgreSQL metadata database (the DSN of vigil serve --postgres; default: env VIGIL_POSTGRES)")
	f.StringVar(&token, "token", "", "API token of an admin (default: env VIGIL_TOKEN)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	f.StringArrayVar(&anchorArgs, "anchor", nil, "SEQ:HASH of an entry as an earlier run printed it: fail unless the chain still passes through it (repeatable)")
	return cmd
}

// verifyDir verifies the audit log in a meta database file. It opens the
// file read-only, so it neither creates a missing database nor migrates an
// old one; SQLite's WAL lets it read beside a running server.
func verifyDir(cmd *cobra.Command, path string, anchors []audit.Anchor) (audit.Report, error) {
	if _, err := os.Stat(path); err != nil {
		return audit.Report{}, fmt.Errorf("--data: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return audit.Report{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer db.Close()
	rep, err := audit.Verify(cmd.Context(), db, anchors...)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// verifyPostgres verifies the audit log in a PostgreSQL metadata
// database. It only reads (no migration), beside a running server.
func verifyPostgres(cmd *cobra.Command, dsn string, anchors []audit.Anchor) (audit.Report, error) {
	db, err := postgres.OpenDB(dsn)
	if err != nil {
		return audit.Report{}, usageError{fmt.Errorf("--postgres: %w", err)}
	}
	defer db.Close()
	rep, err := audit.Verify(cmd.Context(), db, anchors...)
	if err != nil {
		return rep, fmt.Errorf("PostgreSQL %s: %w", postgres.Redact(dsn), err)
	}
	return rep, nil
}

func verifyServer(cmd *cobra.Command, base, token string, anchors []string) (audit.Report, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/audit/verify")
	if err != nil {
		return audit.Report{}, usageError{fmt.Errorf("--server: %w", err)}
	}
	if len(anchors) > 0 {
		u.RawQuery = url.Values{"anchor": anchors}.Encode()
	}
	req, err := http.NewRequestWithContext(cmd.Context(), "GET", u.String(), nil)
	if err != nil {
		return audit.Report{}, usageError{fmt.Errorf("--server: %w", err)}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return audit.Report{}, fmt.Errorf("verifying audit log on %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return audit.Report{}, fmt.Errorf("reading answer of %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return audit.Report{}, fmt.Errorf("server answered %s: %s", resp.Status, e.Error)
		}
		return audit.Report{}, fmt.Errorf("server answered %s", resp.Status)
	}
	var rep audit.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return audit.Report{}, fmt.Errorf("decoding answer of %s: %w", base, err)
	}
	// A report that says OK and names a break (or the reverse) is not one
	// this command can vouch for.
	if rep.OK != (rep.Break == nil) {
		return audit.Report{}, fmt.Errorf("answer of %s is inconsistent: ok %v with break %+v", base, rep.OK, rep.Break)
	}
	return rep, nil
}

func printReport(w io.Writer, where string, rep audit.Report, anchors int, format string) error {
	if format == "json" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	head := "no entries"
	if rep.HeadSeq > 0 {
		head = fmt.Sprintf("seq %d hash %s", rep.HeadSeq, rep.HeadHash)
	}
	var err error
	if rep.OK {
		_, err = fmt.Fprintf(w, "audit log %s: OK, %d entries checked\nhead: %s\n", where, rep.Entries, head)
		if err == nil && anchors > 0 {
			_, err = fmt.Fprintf(w, "anchors: all %d on the chain\n", anchors)
		}
	} else {
		_, err = fmt.Fprintf(w, "audit log %s: BROKEN at seq %d (%s)\n%s\n%d entries checked before it; last intact: %s\n",
			where, rep.Break.Seq, rep.Break.Reason, rep.Break.Message, rep.Entries, head)
	}
	return err
}
