package findings

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// MaxPackages bounds the packages of one asset's inventory.
const MaxPackages = 200_000

// packageLimit is MaxPackages (tests lower it).
var packageLimit = MaxPackages

// ActorReconcile is the actor of the history entries a reconcile writes.
const ActorReconcile = "vigil:reconcile"

// AssetInventory is an asset and the packages it has now.
type AssetInventory struct {
	Asset    Asset
	Packages []scan.Package
}

// InventorySource lists assets and gives each one's current packages (the
// host agents' inventories, wired by the server). ReconcileAll asks for
// one asset's packages at a time, so a fleet is never held in memory at
// once.
type InventorySource interface {
	// Assets lists the assets the source holds an inventory for.
	Assets(ctx context.Context) ([]Asset, error)
	// Packages returns an asset's current packages.
	Packages(ctx context.Context, a Asset) ([]scan.Package, error)
}

// Result counts what a reconcile changed.
type Result struct {
	Asset    string `json:"asset"`
	Packages int    `json:"packages"`
	// Matches is how many findings the inventory has now (each
	// asset × package × vulnerability once).
	Matches  int `json:"matches"`
	New      int `json:"new"`
	Reopened int `json:"reopened"`
	Fixed    int `json:"fixed"`
	// Unchanged counts the findings still present (open stays open).
	Unchanged int `json:"unchanged"`
}

// Reconcile matches the asset's inventory against the advisory database
// and brings its findings in line in one transaction: a new match is a
// new finding (reopened if it had been fixed); a match still present
// keeps its state (new becomes open); a finding no longer matched — the
// package gone or at a fixed version — is fixed, with the version seen.
// Priorities and due dates are recomputed.
func (s *Service) Reconcile(ctx context.Context, inv AssetInventory) (Result, error) {
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	adb, err := s.openAdvisories(ctx)
	if err != nil {
		return Result{}, err
	}
	defer adb.Close()
	return s.reconcile(ctx, scan.New(adb), inv)
}

// ReconcileAll reconciles every asset of the sources, one transaction
// each; an asset that fails is logged and counted, the others go on.
func (s *Service) ReconcileAll(ctx context.Context, sources ...InventorySource) ([]Result, error) {
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	adb, err := s.openAdvisories(ctx)
	if err != nil {
		return nil, err
	}
	defer adb.Close()
	sc := scan.New(adb)
	var out []Result
	var errs []error
	for _, src := range sources {
		assets, err := src.Assets(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing assets: %w", err))
			continue
		}
		for _, a := range assets {
			pkgs, err := src.Packages(ctx, a)
			var r Result
			if err == nil {
				r, err = s.reconcile(ctx, sc, AssetInventory{Asset: a, Packages: pkgs})
			}
			if err != nil {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				s.o.Log.Warn("reconciling an asset's findings", "asset", a.ID, "err", err)
				errs = append(errs, fmt.Errorf("asset %q: %w", truncate(a.ID, 80), err))
				continue
			}
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

// key identifies a finding within an asset, before aliases are merged.
type pkgKey struct{ ecosystem, name string }

// match is one current finding of the inventory: the scanner's findings
// of one package and vulnerability merged (a package required at two
// versions by two go.mod files is one finding).
type match struct {
	f        scan.Finding
	ids      []string
	versions []string
}

// stored is a finding as read back for a reconcile.
type stored struct {
	id, vulnID, state, priority string
	key                         pkgKey
	ids                         []string
	firstSeen, due              int64
	acceptedUntil, slaAlerted   int64
	seq                         int64
	seen                        bool
}

func (s *Service) reconcile(ctx context.Context, sc *scan.Scanner, inv AssetInventory) (Result, error) {
	a := inv.Asset
	if err := a.Normalize(); err != nil {
		return Result{}, err
	}
	if len(inv.Packages) > packageLimit {
		return Result{}, fmt.Errorf("%w: %d packages, at most %d per asset", ErrInvalid, len(inv.Packages), packageLimit)
	}
	fs, err := sc.Scan(ctx, inv.Packages)
	if err != nil {
		return Result{}, fmt.Errorf("matching: %w", err)
	}
	// Merge the scanner's findings by package and vulnerability.
	byPkg := map[pkgKey][]*match{}
	var matches []*match
	for _, f := range fs {
		k := pkgKey{f.Ecosystem, f.Package}
		fids := append([]string{f.ID}, f.Aliases...)
		var m *match
		for _, c := range byPkg[k] {
			if overlaps(c.ids, fids) {
				m = c
				break
			}
		}
		if m == nil {
			m = &match{f: f}
			byPkg[k] = append(byPkg[k], m)
			matches = append(matches, m)
		} else if cmp.Or(strings.Compare(f.Priority, m.f.Priority), strings.Compare(f.Version, m.f.Version)) < 0 {
			// The most urgent (then lowest) version is the finding's.
			f.Aliases = union(f.Aliases, m.ids)
			m.f = f
		}
		m.ids = union(m.ids, fids)
		if !slices.Contains(m.versions, f.Version) {
			m.versions = append(m.versions, f.Version)
		}
	}
	// The versions inventoried now, for a fixed finding's fixed_by.
	current := map[pkgKey][]string{}
	for _, p := range inv.Packages {
		k := pkgKey{p.Ecosystem, p.Name}
		if !slices.Contains(current[k], p.Version) && len(current[k]) < 8 {
			current[k] = append(current[k], p.Version)
		}
	}

	now := s.now()
	res := Result{Asset: a.ID, Packages: len(inv.Packages), Matches: len(matches)}
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return res, err
	}
	defer done()
	tags, _ := json.Marshal(a.Tags)
	if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_assets (id, kind, name, criticality, tags, created, reconciled, packages)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, criticality = excluded.criticality,
			tags = excluded.tags, reconciled = excluded.reconciled, packages = excluded.packages`,
		a.ID, a.Kind, a.Name, a.Criticality, string(tags), now.UnixNano(), now.UnixNano(), len(inv.Packages)); err != nil {
		return res, fmt.Errorf("saving the asset: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, ecosystem, package, vuln_id, aliases, state, priority, first_seen, due,
		accepted_until, sla_alerted, history_seq FROM vuln_findings WHERE asset = ?`, a.ID)
	if err != nil {
		return res, fmt.Errorf("reading the asset's findings: %w", err)
	}
	old := map[pkgKey][]*stored{}
	var all []*stored
	for rows.Next() {
		var st stored
		var eco, pkg, aliases string
		if err := rows.Scan(&st.id, &eco, &pkg, &st.vulnID, &aliases, &st.state, &st.priority, &st.firstSeen, &st.due,
			&st.acceptedUntil, &st.slaAlerted, &st.seq); err != nil {
			rows.Close()
			return res, err
		}
		var al []string
		json.Unmarshal([]byte(aliases), &al)
		st.ids = append([]string{st.vulnID}, al...)
		st.key = pkgKey{eco, pkg}
		old[st.key] = append(old[st.key], &st)
		all = append(all, &st)
	}
	if err := rows.Close(); err != nil {
		return res, err
	}
	if err := rows.Err(); err != nil {
		return res, err
	}

	// Each match takes the stored finding of its vulnerability: first
	// the one stored under the match's own id, then one sharing an id
	// (the advisory database may have merged or split aliases since).
	// Taking exact ids first keeps a new finding's id from colliding
	// with a stored one's.
	owner := make([]*stored, len(matches))
	for i, m := range matches {
		for _, c := range old[pkgKey{m.f.Ecosystem, m.f.Package}] {
			if !c.seen && c.vulnID == m.f.ID {
				owner[i], c.seen = c, true
				break
			}
		}
	}
	for i, m := range matches {
		if owner[i] != nil {
			continue
		}
		for _, c := range old[pkgKey{m.f.Ecosystem, m.f.Package}] {
			if !c.seen && overlaps(c.ids, m.ids) {
				owner[i], c.seen = c, true
				break
			}
		}
	}
	for i, m := range matches {
		st := owner[i]
		detail, err := json.Marshal(m.f)
		if err != nil {
			return res, err
		}
		version := strings.Join(m.versions, ", ")
		if st == nil {
			id := ids.New()
			due := now.Add(s.o.SLA.For(m.f.Priority)).UnixNano()
			if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_findings (id, asset, ecosystem, package, vuln_id, aliases, version,
				fixed_version, fixed_by, state, priority, decision, severity, kev, detail, first_seen, last_seen, due, closed, reason,
				accepted_until, sla_alerted, history_seq) VALUES (`+placeholders(23)+`)`,
				id, a.ID, m.f.Ecosystem, m.f.Package, m.f.ID, aliasesJSON(m.f.ID, m.ids), version, m.f.FixedVersion, "", StateNew,
				m.f.Priority, m.f.Decision, m.f.Severity, boolInt(m.f.KEV), string(detail), now.UnixNano(), now.UnixNano(), due, 0, "",
				0, 0, 1); err != nil {
				return res, fmt.Errorf("saving a finding: %w", err)
			}
			if err := addHistory(ctx, tx, id, 1, now, ActorReconcile, "detected", "", StateNew, "found in "+truncate(version, 200)); err != nil {
				return res, err
			}
			res.New++
			continue
		}
		state, action, reason := st.state, "", ""
		switch st.state {
		case StateNew, StateReopened:
			state, action, reason = StateOpen, "seen_again", "still present at "+truncate(version, 200)
		case StateFixed:
			state, action, reason = StateReopened, "reopened", "vulnerable again at "+truncate(version, 200)
			res.Reopened++
		}
		if st.state != StateFixed {
			res.Unchanged++
		}
		closed, alerted, accepted := "closed", "sla_alerted", "accepted_until"
		if state == StateReopened {
			// A new episode: open again, no acceptance, and alerted
			// again once past its due date.
			closed, alerted, accepted = "0", "0", "0"
		}
		due := time.Unix(0, st.firstSeen).Add(s.o.SLA.For(m.f.Priority)).UnixNano()
		if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET aliases = ?, version = ?, fixed_version = ?, fixed_by = '',
			state = ?, priority = ?, decision = ?, severity = ?, kev = ?, detail = ?, last_seen = ?, due = ?,
			closed = `+closed+`, sla_alerted = `+alerted+`, accepted_until = `+accepted+`, history_seq = ? WHERE id = ?`,
			aliasesJSON(st.vulnID, union(st.ids, m.ids)), version, m.f.FixedVersion, state, m.f.Priority, m.f.Decision,
			m.f.Severity, boolInt(m.f.KEV), string(detail), now.UnixNano(), due, st.seq+boolInt(action != ""), st.id); err != nil {
			return res, fmt.Errorf("updating a finding: %w", err)
		}
		if action != "" {
			if err := addHistory(ctx, tx, st.id, st.seq+1, now, ActorReconcile, action, st.state, state, reason); err != nil {
				return res, err
			}
		}
	}
	for _, st := range all {
		if st.seen {
			continue
		}
		switch st.state {
		case StateFixed, StateFalsePositive:
			continue // closed already; a false positive stays closed
		}
		// Gone: the package removed, or at a version outside every
		// range of the advisory.
		fixedBy := strings.Join(current[st.key], ", ")
		reason := "package removed"
		if fixedBy != "" {
			reason = "no longer affected at " + truncate(fixedBy, 200)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET state = ?, fixed_by = ?, closed = ?, history_seq = ? WHERE id = ?`,
			StateFixed, fixedBy, now.UnixNano(), st.seq+1, st.id); err != nil {
			return res, fmt.Errorf("closing a finding: %w", err)
		}
		if err := addHistory(ctx, tx, st.id, st.seq+1, now, ActorReconcile, "fixed", st.state, StateFixed, reason); err != nil {
			return res, err
		}
		res.Fixed++
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	return res, nil
}

func addHistory(ctx context.Context, tx *sql.Tx, finding string, seq int64, at time.Time, actor, action, from, to, reason string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vuln_finding_history (finding, seq, at, actor, action, from_state, to_state, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, finding, seq, at.UnixNano(), actor, action, from, to, reason)
	if err != nil {
		return fmt.Errorf("recording a finding's history: %w", err)
	}
	return nil
}

// overlaps reports whether two id lists share an id.
func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// union returns a's ids and b's not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// aliasesJSON is the ids other than id, sorted, as JSON.
func aliasesJSON(id string, all []string) string {
	var out []string
	for _, x := range all {
		if x != id && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
