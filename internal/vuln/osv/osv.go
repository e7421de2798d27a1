// Package osv reads advisories in the Open Source Vulnerability format
// (https://ossf.github.io/osv-schema/) and decides whether a package
// version falls in an advisory's affected ranges.
//
// Records come from files anyone can publish, so Parse bounds what it
// keeps (sizes, counts, characters) and refuses a record it cannot read
// whole rather than guessing at part of it.
package osv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Range types.
const (
	SemVer    = "SEMVER"
	Ecosystem = "ECOSYSTEM"
	Git       = "GIT"
)

// Bounds of a record. A real record is far below each (the largest
// distribution records list a few thousand versions).
const (
	MaxRecordBytes = 16 << 20
	MaxIDLen       = 128
	MaxAliases     = 1000
	MaxAffected    = 10000
	MaxRanges      = 1000
	MaxEvents      = 10000
	MaxVersions    = 100000
	MaxNameLen     = 1024
	MaxVersionLen  = 256
	MaxSeverities  = 16
)

// ErrInvalid is wrapped by every error about a record's content.
var ErrInvalid = errors.New("invalid OSV record")

// Record is one advisory.
type Record struct {
	SchemaVersion string     `json:"schema_version,omitempty"`
	ID            string     `json:"id"`
	Modified      time.Time  `json:"modified"`
	Published     time.Time  `json:"published,omitzero"`
	Withdrawn     *time.Time `json:"withdrawn,omitempty"`
	Aliases       []string   `json:"aliases,omitempty"`
	// Upstream names the advisories this one is derived from (an Ubuntu
	// record's CVE); unlike Aliases they are not the same vulnerability
	// under another name, so they do not merge findings.
	Upstream         []string        `json:"upstream,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is a scoring of the vulnerability: Type is CVSS_V2, CVSS_V3,
// CVSS_V4 or an ecosystem's own (Ubuntu), Score the vector or rating.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package and its versions.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package names a package in an ecosystem ("Go", "Debian:12").
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Purl      string `json:"purl,omitempty"`
}

// Range is a sequence of events over one ordering of versions.
type Range struct {
	Type             string          `json:"type"`
	Repo             string          `json:"repo,omitempty"`
	Events           []Event         `json:"events"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Event is one point of a range: exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Parse reads and checks one record.
func Parse(data []byte) (*Record, error) {
	if len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), MaxRecordBytes)
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the record", ErrInvalid)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks the record's identifiers, bounds and ranges.
func (r *Record) Validate() error {
	if err := checkID(r.ID); err != nil {
		return fmt.Errorf("%w: id: %w", ErrInvalid, err)
	}
	errf := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, r.ID, fmt.Sprintf(format, args...))
	}
	for name, ids := range map[string][]string{"aliases": r.Aliases, "upstream": r.Upstream, "related": r.Related} {
		if len(ids) > MaxAliases {
			return errf("%d %s, more than %d", len(ids), name, MaxAliases)
		}
		for i, id := range ids {
			if err := checkID(id); err != nil {
				return errf("%s[%d]: %v", name, i, err)
			}
		}
	}
	if err := checkSeverities(r.Severity); err != nil {
		return errf("severity: %v", err)
	}
	if len(r.Affected) > MaxAffected {
		return errf("%d affected packages, more than %d", len(r.Affected), MaxAffected)
	}
	for i := range r.Affected {
		if err := r.Affected[i].validate(); err != nil {
			return errf("affected[%d]: %v", i, err)
		}
	}
	return nil
}

func (a *Affected) validate() error {
	p := a.Package
	if err := checkText(p.Ecosystem, MaxNameLen); err != nil || p.Ecosystem == "" {
		return fmt.Errorf("package ecosystem %q: not a name", p.Ecosystem)
	}
	if err := checkText(p.Name, MaxNameLen); err != nil || p.Name == "" {
		return fmt.Errorf("package name %q: not a name", p.Name)
	}
	if err := checkText(p.Purl, MaxNameLen); err != nil {
		return fmt.Errorf("package purl: %w", err)
	}
	if err := checkSeverities(a.Severity); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	if len(a.Versions) > MaxVersions {
		return fmt.Errorf("%d versions, more than %d", len(a.Versions), MaxVersions)
	}
	for i, v := range a.Versions {
		if err := checkVersion(v); err != nil {
			return fmt.Errorf("versions[%d]: %w", i, err)
		}
	}
	if len(a.Ranges) > MaxRanges {
		return fmt.Errorf("%d ranges, more than %d", len(a.Ranges), MaxRanges)
	}
	for i, rg := range a.Ranges {
		if err := rg.validate(); err != nil {
			return fmt.Errorf("ranges[%d]: %w", i, err)
		}
	}
	return nil
}

func (rg *Range) validate() error {
	switch rg.Type {
	case SemVer, Ecosystem, Git:
	default:
		return fmt.Errorf("unknown type %q", rg.Type)
	}
	if err := checkText(rg.Repo, 4096); err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	if len(rg.Events) == 0 {
		return errors.New("no events")
	}
	if len(rg.Events) > MaxEvents {
		return fmt.Errorf("%d events, more than %d", len(rg.Events), MaxEvents)
	}
	introduced := false
	for i, e := range rg.Events {
		kind, v := e.kind()
		if kind < 0 {
			return fmt.Errorf("events[%d]: want exactly one of introduced, fixed, last_affected, limit", i)
		}
		if err := checkVersion(v); err != nil {
			return fmt.Errorf("events[%d]: %w", i, err)
		}
		introduced = introduced || kind == kindIntroduced
	}
	if !introduced {
		return errors.New("no introduced event")
	}
	return nil
}

func checkSeverities(ss []Severity) error {
	if len(ss) > MaxSeverities {
		return fmt.Errorf("%d scores, more than %d", len(ss), MaxSeverities)
	}
	for _, s := range ss {
		if err := checkText(s.Type, 64); err != nil {
			return err
		}
		if err := checkText(s.Score, 512); err != nil {
			return err
		}
	}
	return nil
}

// checkID accepts advisory identifiers such as GO-2024-1234, CVE-2024-1,
// GHSA-xxxx-xxxx-xxxx, UBUNTU-CVE-2023-4004, DSA-3029-1 or RHSA-2024:0001.
func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%q: want 1 to %d characters", id, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
			return fmt.Errorf("%q: character %q not allowed in an identifier", id, c)
		}
	}
	return nil
}

// checkText refuses invalid UTF-8, control characters and overlong text.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, more than %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

func checkVersion(v string) error {
	if v == "" {
		return errors.New("empty version")
	}
	if err := checkText(v, MaxVersionLen); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	return nil
}

// IDs returns the record's id followed by its aliases.
func (r *Record) IDs() []string {
	return append([]string{r.ID}, r.Aliases...)
}
