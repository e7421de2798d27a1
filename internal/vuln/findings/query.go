package findings

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// Finding is one vulnerability in one package of one asset, with its
// lifecycle.
type Finding struct {
	ID          string   `json:"id"`
	Asset       string   `json:"asset"`
	AssetName   string   `json:"asset_name"`
	AssetKind   string   `json:"asset_kind"`
	Criticality string   `json:"criticality"`
	Tags        []string `json:"tags"`
	Ecosystem   string   `json:"ecosystem"`
	Package     string   `json:"package"`
	// Version is the inventoried version (several, comma-separated,
	// when the asset has the package at several affected versions).
	Version string `json:"version"`
	// Vulnerability is the advisory id as in the record; Aliases the
	// other ids of the same vulnerability.
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases"`
	FixedVersion  string   `json:"fixed_version"`
	// FixedBy is the version inventoried when the finding was closed as
	// fixed (empty: the package was removed).
	FixedBy  string `json:"fixed_by,omitempty"`
	State    string `json:"state"`
	Priority string `json:"priority"`
	Decision string `json:"decision"`
	Severity string `json:"severity"`
	KEV      bool   `json:"kev"`
	// Reason is a false positive's reason or an accepted risk's.
	Reason        string    `json:"reason,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	Due           time.Time `json:"due"`
	SLABreached   bool      `json:"sla_breached"`
	Closed        time.Time `json:"closed,omitzero"`
	AcceptedUntil time.Time `json:"accepted_until,omitzero"`
	// Detail is the scanner's finding: the evidence, reasons, CVSS,
	// EPSS, location (Get only).
	Detail *scan.Finding `json:"detail,omitempty"`
	// History is every change, oldest first (Get only).
	History []Change `json:"history,omitempty"`
	// Acceptances are the risk acceptances requested (Get only).
	Acceptances []Acceptance `json:"acceptances,omitempty"`
}

// Change is one entry of a finding's history.
type Change struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Filter selects findings; empty fields select all.
type Filter struct {
	State    []string
	Priority []string
	Asset    string
	// Vulnerability selects one vulnerability by any of its ids (the
	// advisory's or an alias: GO-, GHSA-, CVE-).
	Vulnerability string
	// Package selects a package by name.
	Package string
	// KEV and SLABreached, when set, select on the flag.
	KEV         *bool
	SLABreached *bool
	Limit       int
	Offset      int
}

var priorities = []string{"P1", "P2", "P3", "P4"}

// vulnIDRE is an advisory id as OSV records write them.
var vulnIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// where returns the WHERE clause and arguments of f at now.
func (f Filter) where(now time.Time) (string, []any, error) {
	var conds []string
	var args []any
	in := func(col string, vals, allowed []string) error {
		for _, v := range vals {
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("%w: %s %q: want one of %s", ErrInvalid, col, truncate(v, 40), strings.Join(allowed, ", "))
			}
			args = append(args, v)
		}
		if len(vals) > 0 {
			conds = append(conds, "f."+col+" IN ("+placeholders(len(vals))+")")
		}
		return nil
	}
	if err := in("state", f.State, States); err != nil {
		return "", nil, err
	}
	if err := in("priority", f.Priority, priorities); err != nil {
		return "", nil, err
	}
	if f.Asset != "" {
		conds = append(conds, "(f.asset = ? OR a.name = ?)")
		args = append(args, f.Asset, f.Asset)
	}
	if f.Vulnerability != "" {
		if !vulnIDRE.MatchString(f.Vulnerability) {
			return "", nil, fmt.Errorf("%w: vulnerability %q: want an advisory id such as CVE-2024-1234", ErrInvalid, truncate(f.Vulnerability, 40))
		}
		// Aliases are a JSON array of quoted ids; '_' is a LIKE
		// wildcard, escaped.
		conds = append(conds, `(f.vuln_id = ? OR f.aliases LIKE ? ESCAPE '!')`)
		args = append(args, f.Vulnerability, `%"`+strings.ReplaceAll(f.Vulnerability, "_", "!_")+`"%`)
	}
	if f.Package != "" {
		if err := checkText("package", f.Package, maxPackageLen); err != nil {
			return "", nil, err
		}
		conds = append(conds, "f.package = ?")
		args = append(args, f.Package)
	}
	if f.KEV != nil {
		conds = append(conds, "f.kev = ?")
		args = append(args, boolInt(*f.KEV))
	}
	if f.SLABreached != nil {
		c := "f.state IN (?, ?, ?) AND f.due < ?"
		if !*f.SLABreached {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
		args = append(args, StateNew, StateOpen, StateReopened, now.UnixNano())
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

const findingColumns = `f.id, f.asset, a.name, a.kind, a.criticality, a.tags, f.ecosystem, f.package, f.version, f.vuln_id, f.aliases,
	f.fixed_version, f.fixed_by, f.state, f.priority, f.decision, f.severity, f.kev, f.reason, f.first_seen, f.last_seen, f.due,
	f.closed, f.accepted_until`

func (s *Service) scanFinding(sc interface{ Scan(...any) error }, now time.Time, extra ...any) (Finding, error) {
	var f Finding
	var tags, aliases string
	var kev, first, last, due, closed, accepted int64
	dest := []any{&f.ID, &f.Asset, &f.AssetName, &f.AssetKind, &f.Criticality, &tags, &f.Ecosystem, &f.Package, &f.Version,
		&f.Vulnerability, &aliases, &f.FixedVersion, &f.FixedBy, &f.State, &f.Priority, &f.Decision, &f.Severity, &kev, &f.Reason,
		&first, &last, &due, &closed, &accepted}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return f, err
	}
	json.Unmarshal([]byte(tags), &f.Tags)
	json.Unmarshal([]byte(aliases), &f.Aliases)
	f.KEV = kev != 0
	f.FirstSeen, f.LastSeen, f.Due = time.Unix(0, first).UTC(), time.Unix(0, last).UTC(), time.Unix(0, due).UTC()
	if closed != 0 {
		f.Closed = time.Unix(0, closed).UTC()
	}
	if accepted != 0 {
		f.AcceptedUntil = time.Unix(0, accepted).UTC()
	}
	f.SLABreached = IsActive(f.State) && f.Due.Before(now)
	return f, nil
}

// List returns a page of the findings f selects, most urgent first
// (priority, then due date), and how many it selects in all.
func (s *Service) List(ctx context.Context, f Filter) ([]Finding, int, error) {
	if f.Limit == 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit < 0 || f.Limit > MaxPageSize {
		return nil, 0, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, f.Limit, MaxPageSize)
	}
	if f.Offset < 0 || f.Offset > MaxOffset {
		return nil, 0, fmt.Errorf("%w: offset %d: want 0 to %d", ErrInvalid, f.Offset, MaxOffset)
	}
	now := s.now()
	where, args, err := f.where(now)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM vuln_findings f JOIN vuln_assets a ON a.id = f.asset`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting findings: %w", err)
	}
	out, err := s.query(ctx, now, where, args, f.Limit, f.Offset)
	return out, total, err
}

func (s *Service) query(ctx context.Context, now time.Time, where string, args []any, limit, offset int) ([]Finding, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+findingColumns+` FROM vuln_findings f JOIN vuln_assets a ON a.id = f.asset`+where+
		` ORDER BY f.priority, f.due, f.id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("listing findings: %w", err)
	}
	defer rows.Close()
	out := []Finding{}
	for rows.Next() {
		fd, err := s.scanFinding(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, fd)
	}
	return out, rows.Err()
}

// Get returns a finding with its evidence, history and acceptances.
func (s *Service) Get(ctx context.Context, id string) (Finding, error) {
	now := s.now()
	var detail string
	f, err := s.scanFinding(s.db.QueryRowContext(ctx, `SELECT `+findingColumns+`, f.detail FROM vuln_findings f
		JOIN vuln_assets a ON a.id = f.asset WHERE f.id = ?`, id), now, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, err
	}
	var d scan.Finding
	if json.Unmarshal([]byte(detail), &d) == nil {
		f.Detail = &d
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, from_state, to_state, reason FROM vuln_finding_history
		WHERE finding = ? ORDER BY seq`, id)
	if err != nil {
		return f, err
	}
	defer rows.Close()
	for rows.Next() {
		var c Change
		var at int64
		if err := rows.Scan(&c.Seq, &at, &c.Actor, &c.Action, &c.From, &c.To, &c.Reason); err != nil {
			return f, err
		}
		c.At = time.Unix(0, at).UTC()
		f.History = append(f.History, c)
	}
	if err := rows.Err(); err != nil {
		return f, err
	}
	arows, err := s.db.QueryContext(ctx, `SELECT id, status, reason, expires, requested_by, requested, decided_by, decided,
		decision_reason FROM vuln_acceptances WHERE finding = ? ORDER BY requested, id`, id)
	if err != nil {
		return f, err
	}
	defer arows.Close()
	for arows.Next() {
		a := Acceptance{Finding: id}
		var exp, req, dec int64
		if err := arows.Scan(&a.ID, &a.Status, &a.Reason, &exp, &a.RequestedBy, &req, &a.DecidedBy, &dec, &a.DecisionReason); err != nil {
			return f, err
		}
		a.Expires, a.Requested = time.Unix(0, exp).UTC(), time.Unix(0, req).UTC()
		if dec != 0 {
			a.Decided = time.Unix(0, dec).UTC()
		}
		f.Acceptances = append(f.Acceptances, a)
	}
	return f, arows.Err()
}

// Summary counts the findings.
type Summary struct {
	Total      int            `json:"total"`
	ByState    map[string]int `json:"by_state"`
	ByPriority map[string]int `json:"by_priority"`
	// OpenByPriority counts the findings that need work (new, open,
	// reopened) by priority.
	OpenByPriority map[string]int `json:"open_by_priority"`
	// KEV counts the findings that need work and are in CISA KEV.
	KEV int `json:"kev"`
	// SLABreached counts the findings that need work past their due
	// date.
	SLABreached int `json:"sla_breached"`
	// PendingAcceptances counts the risk acceptances awaiting a
	// decision.
	PendingAcceptances int `json:"pending_acceptances"`
	Assets             int `json:"assets"`
}

// Summary counts the findings by state and priority, the open ones in
// KEV and those past their SLA.
func (s *Service) Summary(ctx context.Context) (Summary, error) {
	now := s.now()
	sum := Summary{ByState: map[string]int{}, ByPriority: map[string]int{}, OpenByPriority: map[string]int{}}
	for _, st := range States {
		sum.ByState[st] = 0
	}
	for _, p := range priorities {
		sum.ByPriority[p], sum.OpenByPriority[p] = 0, 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, priority, count(*), CAST(sum(kev) AS BIGINT), CAST(sum(CASE WHEN due < ? THEN 1 ELSE 0 END) AS BIGINT)
		FROM vuln_findings GROUP BY state, priority`, now.UnixNano())
	if err != nil {
		return sum, fmt.Errorf("counting findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, prio string
		var n, kev, late int
		if err := rows.Scan(&state, &prio, &n, &kev, &late); err != nil {
			return sum, err
		}
		sum.Total += n
		sum.ByState[state] += n
		sum.ByPriority[prio] += n
		if IsActive(state) {
			sum.OpenByPriority[prio] += n
			sum.KEV += kev
			sum.SLABreached += late
		}
	}
	if err := rows.Err(); err != nil {
		return sum, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM vuln_acceptances WHERE status = ?`, AcceptPending).Scan(&sum.PendingAcceptances); err != nil {
		return sum, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM vuln_assets`).Scan(&sum.Assets); err != nil {
		return sum, err
	}
	return sum, nil
}

// csvHeader is the export's columns.
var csvHeader = []string{"id", "asset", "asset_kind", "criticality", "ecosystem", "package", "version", "vulnerability", "aliases",
	"fixed_version", "fixed_by", "state", "priority", "decision", "severity", "kev", "first_seen", "due", "sla_breached", "closed", "reason"}

// ExportCSV writes the findings f selects (f's limit and offset ignored;
// at most MaxExportRows) as CSV with every cell guarded against formula
// injection: package names, versions and reasons come from inventories
// and people.
func (s *Service) ExportCSV(ctx context.Context, w io.Writer, f Filter) (int, error) {
	now := s.now()
	where, args, err := f.where(now)
	if err != nil {
		return 0, err
	}
	cw := csvsafe.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return 0, err
	}
	n := 0
	for n < MaxExportRows {
		page, err := s.query(ctx, now, where, args, min(MaxPageSize, MaxExportRows-n), n)
		if err != nil {
			return n, err
		}
		for _, fd := range page {
			closed := ""
			if !fd.Closed.IsZero() {
				closed = fd.Closed.Format(time.RFC3339)
			}
			if err := cw.Write([]string{fd.ID, fd.AssetName, fd.AssetKind, fd.Criticality, fd.Ecosystem, fd.Package, fd.Version,
				fd.Vulnerability, strings.Join(fd.Aliases, " "), fd.FixedVersion, fd.FixedBy, fd.State, fd.Priority, fd.Decision,
				fd.Severity, strconv.FormatBool(fd.KEV), fd.FirstSeen.Format(time.RFC3339), fd.Due.Format(time.RFC3339),
				strconv.FormatBool(fd.SLABreached), closed, fd.Reason}); err != nil {
				return n, err
			}
		}
		n += len(page)
		if len(page) < MaxPageSize {
			break
		}
	}
	cw.Flush()
	return n, cw.Error()
}

// AssetSummary is an asset with the counts of its findings that need
// work.
type AssetSummary struct {
	Asset
	Reconciled time.Time `json:"reconciled"`
	Packages   int       `json:"packages"`
	// OpenByPriority counts the findings that need work (new, open,
	// reopened) by priority; KEV and SLABreached count those in CISA
	// KEV and those past their due date.
	OpenByPriority map[string]int `json:"open_by_priority"`
	KEV            int            `json:"kev"`
	SLABreached    int            `json:"sla_breached"`
}

// Assets returns a page of the assets, by name, and how many there are.
func (s *Service) Assets(ctx context.Context, limit, offset int) ([]AssetSummary, int, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 0 || limit > MaxPageSize {
		return nil, 0, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, limit, MaxPageSize)
	}
	if offset < 0 || offset > MaxOffset {
		return nil, 0, fmt.Errorf("%w: offset %d: want 0 to %d", ErrInvalid, offset, MaxOffset)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM vuln_assets`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting assets: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, name, criticality, tags, reconciled, packages FROM vuln_assets
		ORDER BY name, id LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing assets: %w", err)
	}
	defer rows.Close()
	out := []AssetSummary{}
	byID := map[string]*AssetSummary{}
	var ids []any
	for rows.Next() {
		var a AssetSummary
		var tags string
		var rec int64
		if err := rows.Scan(&a.ID, &a.Kind, &a.Name, &a.Criticality, &tags, &rec, &a.Packages); err != nil {
			return nil, 0, err
		}
		json.Unmarshal([]byte(tags), &a.Tags)
		a.Reconciled = time.Unix(0, rec).UTC()
		a.OpenByPriority = map[string]int{"P1": 0, "P2": 0, "P3": 0, "P4": 0}
		out = append(out, a)
		ids = append(ids, a.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	rows.Close()
	if len(out) == 0 {
		return out, total, nil
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	args := append([]any{s.now().UnixNano(), StateNew, StateOpen, StateReopened}, ids...)
	crows, err := s.db.QueryContext(ctx, `SELECT asset, priority, count(*), CAST(sum(kev) AS BIGINT),
		CAST(sum(CASE WHEN due < ? THEN 1 ELSE 0 END) AS BIGINT) FROM vuln_findings
		WHERE state IN (?, ?, ?) AND asset IN (`+placeholders(len(ids))+`) GROUP BY asset, priority`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("counting the assets' findings: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var id, prio string
		var n, kev, late int
		if err := crows.Scan(&id, &prio, &n, &kev, &late); err != nil {
			return nil, 0, err
		}
		if a := byID[id]; a != nil {
			a.OpenByPriority[prio] += n
			a.KEV += kev
			a.SLABreached += late
		}
	}
	return out, total, crows.Err()
}
