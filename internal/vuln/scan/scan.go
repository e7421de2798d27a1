package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/vuln/db"
	"github.com/vigilsec/vigil/internal/vuln/osv"
)

// Decisions, from least to most urgent.
const (
	Track  = "Track"
	Attend = "Attend"
	Act    = "Act"
)

// Evidence says why a finding was made: the package as inventoried, the
// advisory's affected entry that matched and its range.
type Evidence struct {
	// Advisory is the record whose range matched (one of the merged
	// ids).
	Advisory string `json:"advisory"`
	// MatchedName and MatchedVersion are what was looked up: for a
	// distribution package, its source package.
	MatchedName    string    `json:"matched_name"`
	MatchedVersion string    `json:"matched_version"`
	Range          osv.Match `json:"range"`
}

// Finding is one vulnerability in one package.
type Finding struct {
	// ID is the advisory id as in the record (GO-2024-1234); Aliases the
	// other ids of the same vulnerability (CVE, GHSA), sorted.
	ID      string   `json:"id"`
	Aliases []string `json:"aliases"`
	// Upstream are the ids the matched records derive from (an Ubuntu
	// record's CVE): used for KEV and EPSS, not merged as aliases.
	Upstream     []string `json:"upstream,omitempty"`
	Package      string   `json:"package"`
	Version      string   `json:"version"`
	Ecosystem    string   `json:"ecosystem"`
	FixedVersion string   `json:"fixed_version"`
	// Severity is critical, high, medium, low or none from the highest
	// CVSS score, a distribution's own rating without one, or "" when
	// the advisories give none (the Go database gives none).
	Severity   string   `json:"severity"`
	CVSSScore  *float64 `json:"cvss_score,omitempty"`
	CVSSVector string   `json:"cvss_vector,omitempty"`
	KEV        bool     `json:"kev"`
	// KEVDueDate is the earliest CISA due date among the KEV entries.
	KEVDueDate     string   `json:"kev_due_date,omitempty"`
	EPSS           *float64 `json:"epss"`
	EPSSPercentile *float64 `json:"epss_percentile,omitempty"`
	// Priority is P1 (act now) to P4; Decision Act, Attend or Track;
	// Reasons say which facts gave them.
	Priority string   `json:"priority"`
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
	Location string   `json:"location"`
	// File is an SBOM component's file (Location adds the component).
	File     string   `json:"-"`
	Summary  string   `json:"summary,omitempty"`
	Evidence Evidence `json:"evidence"`
}

// Scanner matches inventories against an advisory database. It caches
// records and aliases for its lifetime and is not safe for concurrent use.
type Scanner struct {
	db      *db.DB
	matcher *db.Matcher
	records map[string]*osv.Record
	related map[string][2][]string
}

// New returns a scanner over d.
func New(d *db.DB) *Scanner {
	return &Scanner{db: d, matcher: d.Matcher(), records: map[string]*osv.Record{}, related: map[string][2][]string{}}
}

// Scan returns the findings of the packages, most urgent first.
func (s *Scanner) Scan(ctx context.Context, pkgs []Package) ([]Finding, error) {
	out := []Finding{}
	for _, p := range pkgs {
		if p.Ecosystem == "" || p.Version == "" || p.State == "config-files" {
			continue
		}
		name, ver := p.Name, p.Version
		if p.Source != "" {
			name = p.Source
			if p.SourceVersion != "" {
				ver = p.SourceVersion
			}
		}
		hits, err := s.matcher.Match(ctx, p.Ecosystem, name, ver)
		if err != nil {
			return nil, err
		}
		fs, err := s.findings(ctx, p, name, ver, hits)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(
			strings.Compare(a.Priority, b.Priority),
			cmp.Compare(deref(b.CVSSScore), deref(a.CVSSScore)),
			strings.Compare(a.Location, b.Location),
			strings.Compare(a.Package, b.Package),
			strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

func deref(f *float64) float64 {
	if f == nil {
		return -1
	}
	return *f
}

func (s *Scanner) record(ctx context.Context, id string) (*osv.Record, error) {
	if r, ok := s.records[id]; ok {
		return r, nil
	}
	r, err := s.db.Advisory(ctx, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("advisory %s: matched but not stored", id)
	}
	s.records[id] = r
	return r, nil
}

// ids returns the ids of the vulnerability that hit names (its own,
// the aliases both ways) and its upstream ids.
func (s *Scanner) ids(ctx context.Context, id string) (aliases, upstream []string, err error) {
	if r, ok := s.related[id]; ok {
		return r[0], r[1], nil
	}
	aliases, upstream, err = s.db.Related(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s.related[id] = [2][]string{aliases, upstream}
	return aliases, upstream, nil
}

// idRank orders the candidates for a finding's id: an ecosystem's own
// advisory (GO-, DSA-, USN-, ...) before GHSA before CVE.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 2
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 0
}

// findings merges the hits of one package that name the same
// vulnerability (they share an id or alias) and builds one finding each.
func (s *Scanner) findings(ctx context.Context, p Package, name, ver string, hits []db.Hit) ([]Finding, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	// Union-find over the hits by shared ids.
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	sets := make([][]string, len(hits))
	ups := make([][]string, len(hits))
	for i, h := range hits {
		aliases, upstream, err := s.ids(ctx, h.Advisory)
		if err != nil {
			return nil, err
		}
		sets[i] = append([]string{h.Advisory}, aliases...)
		ups[i] = upstream
		for _, id := range sets[i] {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	var out []Finding
	for _, r := range roots {
		f, err := s.finding(ctx, p, name, ver, hits, groups[r], sets, ups)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *Scanner) finding(ctx context.Context, p Package, name, ver string, hits []db.Hit, members []int, sets, ups [][]string) (Finding, error) {
	all := map[string]bool{}
	var upstream []string
	for _, i := range members {
		for _, id := range sets[i] {
			all[id] = true
		}
		upstream = append(upstream, ups[i]...)
	}
	// The finding's id is one of the matched records (as in the record),
	// the most specific kind first.
	slices.SortFunc(members, func(a, b int) int {
		return cmp.Or(cmp.Compare(idRank(hits[a].Advisory), idRank(hits[b].Advisory)), strings.Compare(hits[a].Advisory, hits[b].Advisory))
	})
	primary := hits[members[0]]
	f := Finding{
		ID: primary.Advisory, Aliases: []string{}, Package: p.Name, Version: p.Version, Ecosystem: p.Ecosystem,
		Location: p.Location, File: p.File,
		Evidence: Evidence{Advisory: primary.Advisory, MatchedName: name, MatchedVersion: ver, Range: primary.Match},
	}
	for id := range all {
		if id != f.ID {
			f.Aliases = append(f.Aliases, id)
		}
	}
	slices.Sort(f.Aliases)
	var severities []osv.Severity
	for _, i := range members {
		h := hits[i]
		if f.FixedVersion == "" {
			f.FixedVersion = h.Match.Fixed
		}
		r, err := s.record(ctx, h.Advisory)
		if err != nil {
			return f, err
		}
		if f.Summary == "" {
			f.Summary = r.Summary
		}
		severities = append(severities, r.Severity...)
		if h.Affected < len(r.Affected) {
			severities = append(severities, r.Affected[h.Affected].Severity...)
		}
	}
	score, vector, label := severityOf(severities)
	f.Severity = label
	if vector != "" {
		f.CVSSScore, f.CVSSVector = &score, vector
	}
	// KEV and EPSS are keyed by CVE: the finding's own CVE aliases and
	// the CVEs its records derive from.
	cves := map[string]bool{}
	for id := range all {
		if strings.HasPrefix(id, "CVE-") {
			cves[id] = true
		}
	}
	for _, id := range upstream {
		if strings.HasPrefix(id, "CVE-") {
			cves[id] = true
		}
		if !all[id] && !slices.Contains(f.Upstream, id) {
			f.Upstream = append(f.Upstream, id)
		}
	}
	slices.Sort(f.Upstream)
	for _, cve := range slices.Sorted(maps.Keys(cves)) {
		k, err := s.db.KEV(ctx, cve)
		if err != nil {
			return f, err
		}
		if k != nil {
			f.KEV = true
			if f.KEVDueDate == "" || k.DueDate < f.KEVDueDate {
				f.KEVDueDate = k.DueDate
			}
		}
		e, err := s.db.EPSS(ctx, cve)
		if err != nil {
			return f, err
		}
		if e != nil && (f.EPSS == nil || e.Score > *f.EPSS) {
			sc, pc := e.Score, e.Percentile
			f.EPSS, f.EPSSPercentile = &sc, &pc
		}
	}
	prioritise(&f)
	return f, nil
}

// prioritise sets the decision and priority:
//   - Act (P1): the vulnerability is in CISA's KEV catalog (exploited);
//   - Attend (P2): CVSS ≥ 9, or EPSS ≥ 0.5 (likely to be exploited);
//   - Track (P3): CVSS ≥ 7 or EPSS ≥ 0.1;
//   - Track (P4): the rest.
func prioritise(f *Finding) {
	score, epss := deref(f.CVSSScore), deref(f.EPSS)
	f.Reasons = []string{}
	if f.KEV {
		f.Reasons = append(f.Reasons, "in CISA KEV (due "+f.KEVDueDate+")")
	}
	if score >= 0 {
		f.Reasons = append(f.Reasons, fmt.Sprintf("CVSS %.1f", score))
	}
	if epss >= 0 {
		f.Reasons = append(f.Reasons, fmt.Sprintf("EPSS %.3f", epss))
	}
	switch {
	case f.KEV:
		f.Decision, f.Priority = Act, "P1"
	case score >= 9 || epss >= 0.5:
		f.Decision, f.Priority = Attend, "P2"
	case score >= 7 || epss >= 0.1:
		f.Decision, f.Priority = Track, "P3"
	default:
		f.Decision, f.Priority = Track, "P4"
	}
	if len(f.Reasons) == 0 {
		f.Reasons = append(f.Reasons, "no KEV entry, CVSS or EPSS score known")
	}
	if f.FixedVersion == "" {
		f.Reasons = append(f.Reasons, "no fixed version known")
	}
}

// FailOn is a --fail-on threshold.
type FailOn func(Finding) bool

// ErrFailOn is wrapped by ParseFailOn's errors.
var ErrFailOn = errors.New("unknown --fail-on level")

// ParseFailOn reads a threshold: "any", "none", a severity (low, medium,
// high, critical: findings rated at or above it), a decision (track,
// attend, act) or a priority (p1 to p4: at or above it).
func ParseFailOn(level string) (FailOn, error) {
	l := strings.ToLower(level)
	switch l {
	case "any":
		return func(Finding) bool { return true }, nil
	case "none":
		return func(Finding) bool { return false }, nil
	case "low", "medium", "high", "critical":
		min := severityRank[l]
		return func(f Finding) bool { return severityRank[f.Severity] >= min }, nil
	case "track", "attend", "act":
		rank := map[string]int{"track": 0, "attend": 1, "act": 2}
		min := rank[l]
		return func(f Finding) bool { return rank[strings.ToLower(f.Decision)] >= min }, nil
	case "p1", "p2", "p3", "p4":
		return func(f Finding) bool { return f.Priority != "" && strings.ToLower(f.Priority) <= l }, nil
	}
	return nil, fmt.Errorf("%w %q: want any, none, low, medium, high, critical, track, attend, act or p1 to p4", ErrFailOn, level)
}
