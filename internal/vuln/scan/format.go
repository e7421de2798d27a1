package scan

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/termsafe"
)

// Formats are the output formats of Write.
var Formats = []string{"table", "json", "sarif", "cyclonedx-vex"}

// Report is what Write prints.
type Report struct {
	Findings []Finding
	// Tool is the scanner's version, for SARIF and CycloneDX.
	Tool string
	// Now stamps the CycloneDX document.
	Now time.Time
}

// Write prints the report in a format of Formats.
func Write(w io.Writer, format string, r Report) error {
	switch format {
	case "table":
		return writeTable(w, r)
	case "json":
		return writeJSON(w, struct {
			Findings []Finding `json:"findings"`
		}{r.Findings})
	case "sarif":
		return writeJSON(w, sarif(r))
	case "cyclonedx-vex":
		return writeJSON(w, cyclonedx(r))
	}
	return fmt.Errorf("unknown format %q", format)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTable(w io.Writer, r Report) error {
	if len(r.Findings) == 0 {
		_, err := fmt.Fprintln(w, "no vulnerabilities found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPACKAGE\tVERSION\tFIXED\tSEVERITY\tKEV\tEPSS\tDECISION\tLOCATION")
	for _, f := range r.Findings {
		kev, epss, sev := "", "", f.Severity
		if f.KEV {
			kev = "due " + f.KEVDueDate
		}
		if f.EPSS != nil {
			epss = strconv.FormatFloat(*f.EPSS, 'f', 3, 64)
		}
		if f.CVSSScore != nil {
			sev = fmt.Sprintf("%s %.1f", f.Severity, *f.CVSSScore)
		}
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s (%s)\t%s\n",
			termsafe.Line(f.ID, 80), termsafe.Line(f.Package, 120), termsafe.Line(f.Version, 80), termsafe.Line(fixed, 80),
			sev, kev, epss, f.Decision, f.Priority, termsafe.Line(f.Location, 200))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d findings\n", len(r.Findings))
	return err
}

// splitLocation cuts "path:line" into the path and the line (0 when
// there is none).
func splitLocation(loc string) (string, int) {
	if i := strings.LastIndexByte(loc, ':'); i > 0 {
		if n, err := strconv.Atoi(loc[i+1:]); err == nil && n > 0 {
			return loc[:i], n
		}
	}
	return loc, 0
}

func fileURI(path string) string {
	u := url.URL{Path: strings.ReplaceAll(path, `\`, "/")}
	return u.String()
}

// SARIF 2.1.0, the parts code-scanning tools read.
type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifText      `json:"shortDescription"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *sarifRegion `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// sarifLevel maps a finding to SARIF's error, warning or note.
func sarifLevel(f Finding) string {
	switch {
	case f.Decision == Act || f.Decision == Attend || severityRank[f.Severity] >= severityRank["high"]:
		return "error"
	case severityRank[f.Severity] >= severityRank["medium"] || f.Severity == "":
		return "warning"
	}
	return "note"
}

func sarif(r Report) sarifLog {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "vigil", Version: r.Tool, InformationURI: "https://github.com/vigilsec/vigil", Rules: []sarifRule{}}},
		Results: []sarifResult{},
	}
	index := map[string]int{}
	for _, f := range r.Findings {
		i, ok := index[f.ID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.ID] = i
			desc := f.Summary
			if desc == "" {
				desc = f.ID
			}
			rule := sarifRule{ID: f.ID, ShortDescription: sarifText{desc}, Properties: map[string]any{"tags": []string{"security", "vulnerability"}}}
			if strings.HasPrefix(f.ID, "GO-") {
				rule.HelpURI = "https://pkg.go.dev/vuln/" + f.ID
			} else {
				rule.HelpURI = "https://osv.dev/vulnerability/" + url.PathEscape(f.ID)
			}
			if f.CVSSScore != nil {
				rule.Properties["security-severity"] = strconv.FormatFloat(*f.CVSSScore, 'f', 1, 64)
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
		}
		msg := fmt.Sprintf("%s %s is affected by %s", f.Package, f.Version, f.ID)
		if len(f.Aliases) > 0 {
			msg += " (" + strings.Join(f.Aliases, ", ") + ")"
		}
		if f.FixedVersion != "" {
			msg += "; fixed in " + f.FixedVersion
		}
		msg += "; decision " + f.Decision
		path, line := splitLocation(f.Location)
		if f.File != "" {
			// An SBOM component: the file, and the component in the
			// message (a bom-ref is no line number).
			path, line = f.File, 0
			msg += "; SBOM component " + strings.TrimPrefix(f.Location, f.File+"#")
		}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = fileURI(path)
		if line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
		}
		run.Results = append(run.Results, sarifResult{RuleID: f.ID, RuleIndex: i, Level: sarifLevel(f), Message: sarifText{msg}, Locations: []sarifLocation{loc}})
	}
	return sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json", Runs: []sarifRun{run}}
}

// CycloneDX 1.5 JSON with a vulnerabilities section (a VEX document).
type cdxBOM struct {
	BOMFormat       string      `json:"bomFormat"`
	SpecVersion     string      `json:"specVersion"`
	SerialNumber    string      `json:"serialNumber"`
	Version         int         `json:"version"`
	Metadata        cdxMetadata `json:"metadata"`
	Components      []cdxComp   `json:"components"`
	Vulnerabilities []cdxVuln   `json:"vulnerabilities"`
}

type cdxMetadata struct {
	Timestamp string `json:"timestamp"`
	Tools     struct {
		Components []cdxComp `json:"components"`
	} `json:"tools"`
}

type cdxComp struct {
	Type    string `json:"type"`
	BOMRef  string `json:"bom-ref,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Purl    string `json:"purl,omitempty"`
}

type cdxSource struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

type cdxRef struct {
	ID     string    `json:"id"`
	Source cdxSource `json:"source"`
}

type cdxRating struct {
	Score    *float64 `json:"score,omitempty"`
	Severity string   `json:"severity"`
	Method   string   `json:"method,omitempty"`
	Vector   string   `json:"vector,omitempty"`
}

type cdxVuln struct {
	BOMRef         string      `json:"bom-ref"`
	ID             string      `json:"id"`
	Source         cdxSource   `json:"source"`
	References     []cdxRef    `json:"references,omitempty"`
	Ratings        []cdxRating `json:"ratings,omitempty"`
	Description    string      `json:"description,omitempty"`
	Recommendation string      `json:"recommendation,omitempty"`
	Analysis       struct {
		State  string `json:"state"`
		Detail string `json:"detail"`
	} `json:"analysis"`
	Affects []struct {
		Ref string `json:"ref"`
	} `json:"affects"`
}

// purl is a package URL for a finding's package.
func purl(f Finding) string {
	eco, _, _ := strings.Cut(f.Ecosystem, ":")
	switch eco {
	case "Go":
		segs := strings.Split(f.Package, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		return "pkg:golang/" + strings.Join(segs, "/") + "@" + url.PathEscape(f.Version)
	case "Debian", "Ubuntu":
		return "pkg:deb/" + strings.ToLower(eco) + "/" + url.PathEscape(f.Package) + "@" + url.PathEscape(f.Version)
	}
	return "pkg:generic/" + url.PathEscape(f.Package) + "@" + url.PathEscape(f.Version)
}

func cvssMethod(vector string) string {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		return "CVSSv4"
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		return "CVSSv31"
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		return "CVSSv3"
	}
	return "CVSSv2"
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cyclonedx(r Report) cdxBOM {
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	bom := cdxBOM{BOMFormat: "CycloneDX", SpecVersion: "1.5", SerialNumber: "urn:uuid:" + uuid(), Version: 1,
		Components: []cdxComp{}, Vulnerabilities: []cdxVuln{}}
	bom.Metadata.Timestamp = now.UTC().Format(time.RFC3339)
	bom.Metadata.Tools.Components = []cdxComp{{Type: "application", Name: "vigil", Version: r.Tool}}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		ref := purl(f)
		if !seen[ref] {
			seen[ref] = true
			bom.Components = append(bom.Components, cdxComp{Type: "library", BOMRef: ref, Name: f.Package, Version: f.Version, Purl: ref})
		}
		v := cdxVuln{BOMRef: f.ID + "/" + ref, ID: f.ID, Source: cdxSource{Name: "OSV", URL: "https://osv.dev/vulnerability/" + url.PathEscape(f.ID)}, Description: f.Summary}
		for _, a := range f.Aliases {
			src := "OSV"
			switch {
			case strings.HasPrefix(a, "CVE-"):
				src = "NVD"
			case strings.HasPrefix(a, "GHSA-"):
				src = "GitHub"
			}
			v.References = append(v.References, cdxRef{ID: a, Source: cdxSource{Name: src}})
		}
		if f.Severity != "" {
			rt := cdxRating{Score: f.CVSSScore, Severity: f.Severity}
			if f.CVSSVector != "" {
				rt.Method, rt.Vector = cvssMethod(f.CVSSVector), f.CVSSVector
			}
			if !slices.Contains([]string{"critical", "high", "medium", "low", "info", "none", "unknown"}, rt.Severity) {
				rt.Severity = "unknown"
			}
			v.Ratings = append(v.Ratings, rt)
		}
		if f.FixedVersion != "" {
			v.Recommendation = "Upgrade " + f.Package + " to " + f.FixedVersion + " or later."
		}
		v.Analysis.State = "in_triage"
		v.Analysis.Detail = fmt.Sprintf("%s %s is in an affected range of %s (found in %s); decision %s", f.Package, f.Version, f.Evidence.Advisory, f.Location, f.Decision)
		v.Affects = append(v.Affects, struct {
			Ref string `json:"ref"`
		}{ref})
		bom.Vulnerabilities = append(bom.Vulnerabilities, v)
	}
	return bom
}
