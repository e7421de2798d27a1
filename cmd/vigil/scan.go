package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/apiclient"
	"github.com/vigilsec/vigil/internal/termsafe"
	"github.com/vigilsec/vigil/internal/vuln/db"
	"github.com/vigilsec/vigil/internal/vuln/findings"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

func newScanCmd() *cobra.Command {
	var (
		dir, format, failOn string
		quiet               bool
		serverURL, token    string
		assetName           string
	)
	cmd := &cobra.Command{
		Use:   "scan PATH",
		Short: "Find vulnerable packages in a folder, root filesystem, SBOM or file, offline",
		Long: `Scan PATH against the local advisory database (vigil vulndb import fills it):
go.mod files and Go binaries in a source tree; or, when PATH is a root
filesystem (it has var/lib/dpkg/status), its Debian or Ubuntu packages
(matched by source package, the release read from etc/os-release) and the
Go binaries in its bin folders; or one go.mod file, Go binary, dpkg status
file or SBOM. Nothing leaves the machine.

SBOMs: CycloneDX 1.4 to 1.6 and SPDX 2.3 JSON, recognised by content when
named and by name in a folder (bom.json, *.cdx.json, *.spdx.json). Each
component's purl gives its ecosystem; components the scanner cannot match
(no purl, an ecosystem without a version ordering here such as PyPI or
Maven, a deb package without its distro release) are counted as skipped.

  vigil scan . --format sarif > vigil.sarif
  vigil scan /srv/rootfs --fail-on attend

One finding per vulnerability and package (CVE, GHSA and GO ids of one
vulnerability are merged), with the fixed version, CVSS severity, CISA KEV
and EPSS, and a decision: Act (in KEV), Attend (CVSS >= 9 or EPSS >= 0.5),
Track (the rest).

With --server, the inventory is also uploaded to a Vigil server (an API
token of the analyst role: --token or env VIGIL_TOKEN) as the asset
--asset (default: PATH's folder name); the server matches it against its
own advisory database and tracks the findings (new, fixed, reopened).

Exit status: 0 when no finding is at or above --fail-on, 1 when one is, 2
for a usage or data error (no database, an unreadable PATH, a failed
upload). --fail-on
takes any (the default), none, a severity (low, medium, high, critical), a
decision (track, attend, act) or a priority (p1 to p4).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(scan.Formats, format) {
				return usageError{fmt.Errorf("--format: %q is not %s", format, strings.Join(scan.Formats, ", "))}
			}
			gate, err := scan.ParseFailOn(failOn)
			if err != nil {
				return usageError{err}
			}
			stderr := cmd.ErrOrStderr()
			d, err := db.Open(cmd.Context(), dir, db.Options{ReadOnly: true})
			if err != nil {
				return dataError{err}
			}
			defer d.Close()
			if t, err := d.LastImport(cmd.Context()); err != nil {
				return dataError{err}
			} else if t.IsZero() {
				fmt.Fprintln(stderr, "warning: the advisory database is empty: vigil vulndb import fills it")
			} else if a := time.Since(t); a > staleAfter {
				fmt.Fprintf(stderr, "warning: the advisory data was last imported %s ago (vigil vulndb import refreshes it)\n", age(time.Now(), t))
			}
			inv, err := scan.Collect(cmd.Context(), args[0])
			if err != nil {
				return dataError{err}
			}
			for _, w := range inv.Warnings {
				fmt.Fprintln(stderr, "warning:", termsafe.Line(w, 300))
			}
			if len(inv.Skipped) > 0 {
				n := 0
				var parts []string
				for i, reason := range slices.Sorted(maps.Keys(inv.Skipped)) {
					n += inv.Skipped[reason]
					// A hostile SBOM can name many purl types: the
					// first reasons only.
					if i < 10 {
						parts = append(parts, fmt.Sprintf("%d %s", inv.Skipped[reason], termsafe.Line(reason, 80)))
					}
				}
				if len(inv.Skipped) > 10 {
					parts = append(parts, fmt.Sprintf("and %d other reasons", len(inv.Skipped)-10))
				}
				fmt.Fprintf(stderr, "warning: skipped %d SBOM components that cannot be matched: %s\n", n, strings.Join(parts, ", "))
			}
			findings, err := scan.New(d).Scan(cmd.Context(), inv.Packages)
			if err != nil {
				return dataError{err}
			}
			if err := scan.Write(cmd.OutOrStdout(), format, scan.Report{Findings: findings, Tool: version}); err != nil {
				return err
			}
			if serverURL != "" {
				if err := uploadScan(cmd, serverURL, token, assetName, args[0], inv, findings); err != nil {
					return dataError{err}
				}
			}
			failing := 0
			for _, f := range findings {
				if gate(f) {
					failing++
				}
			}
			if !quiet {
				kinds := map[string]int{}
				for _, p := range inv.Packages {
					kinds[p.Kind]++
				}
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(kinds)) {
					parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
				}
				fmt.Fprintf(stderr, "scanned %d packages (%s): %d findings, %d at or above --fail-on %s\n",
					len(inv.Packages), strings.Join(parts, ", "), len(findings), failing, failOn)
			}
			if failing > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	addVulnDBFlags(cmd, &dir)
	f.StringVar(&format, "format", "table", "output format: "+strings.Join(scan.Formats, ", "))
	f.StringVar(&failOn, "fail-on", "any", "exit 1 when a finding is at or above this level: any, none, low..critical, track, attend, act, p1..p4")
	f.BoolVarP(&quiet, "quiet", "q", false, "no summary on standard error")
	f.StringVar(&serverURL, "server", "", "also upload the inventory to this Vigil server (http://host:8080)")
	f.StringVar(&token, "token", "", "API token for --server (default: env VIGIL_TOKEN)")
	f.StringVar(&assetName, "asset", "", "the asset's name on the server (default: PATH's folder name)")
	return cmd
}

// maxUploadAnswer bounds the server's answer to an upload.
const maxUploadAnswer = 64 << 10

// uploadScan posts the inventory (and, for the record, the findings) to
// the server's POST /api/v1/vulnerabilities/scans and prints what the
// server's reconcile changed.
func uploadScan(cmd *cobra.Command, serverURL, token, asset, path string, inv *scan.Inventory, fs []scan.Finding) error {
	if asset == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if st, err := os.Stat(abs); err == nil && !st.IsDir() {
			abs = filepath.Dir(abs)
		}
		asset = filepath.Base(abs)
	}
	raw, err := json.Marshal(fs)
	if err != nil {
		return err
	}
	pkgs := inv.Packages
	if pkgs == nil {
		pkgs = []scan.Package{}
	}
	body, err := json.Marshal(findings.Upload{Asset: findings.UploadAsset{Name: asset}, Packages: pkgs, Findings: raw, Skipped: inv.Skipped})
	if err != nil {
		return err
	}
	b, err := apiclient.Call(cmd.Context(), "uploading the scan to", serverURL, apiclient.Token(token), "POST",
		"/api/v1/vulnerabilities/scans", nil, bytes.NewReader(body), maxUploadAnswer)
	if err != nil {
		return err
	}
	var ans struct {
		Result findings.Result `json:"result"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	r := ans.Result
	fmt.Fprintf(cmd.ErrOrStderr(), "uploaded to %s as %s: %d findings (%d new, %d reopened, %d fixed, %d unchanged)\n",
		termsafe.Line(serverURL, 200), termsafe.Line(r.Asset, 200), r.Matches, r.New, r.Reopened, r.Fixed, r.Unchanged)
	return nil
}
