package findings

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// SLARulePrefix starts the rule id of an SLA breach alert; the finding's
// id follows.
const SLARulePrefix = "vuln-sla:"

// slaLevel maps a priority to the alert's level.
var slaLevel = map[string]string{"P1": "critical", "P2": "high", "P3": "medium", "P4": "low"}

// maxBreachesPerCheck bounds the alerts one check raises (the rest are
// raised by the next checks, so a first run over a large backlog does
// not flood the alert path).
const maxBreachesPerCheck = 500

// CheckSLA raises one alert for each finding that needs work and is past
// its due date, and marks it so that it is raised once per episode (a
// reopened finding may be raised again). It returns how many it raised.
func (s *Service) CheckSLA(ctx context.Context) (int, error) {
	now := s.now()
	tx, done, err := s.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	rows, err := tx.QueryContext(ctx, `SELECT `+findingColumns+` FROM vuln_findings f JOIN vuln_assets a ON a.id = f.asset
		WHERE f.state IN (?, ?, ?) AND f.due < ? AND f.sla_alerted = 0 ORDER BY f.due, f.id LIMIT ?`,
		StateNew, StateOpen, StateReopened, now.UnixNano(), maxBreachesPerCheck)
	if err != nil {
		return 0, err
	}
	var late []Finding
	for rows.Next() {
		f, err := s.scanFinding(rows, now)
		if err != nil {
			rows.Close()
			return 0, err
		}
		late = append(late, f)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for _, f := range late {
		if _, err := tx.ExecContext(ctx, `UPDATE vuln_findings SET sla_alerted = ? WHERE id = ?`, now.UnixNano(), f.ID); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	// Raised after the commit: a crash in between loses an alert rather
	// than raising it twice.
	if s.o.Alerts != nil {
		for _, f := range late {
			s.o.Alerts.Raise(breachAlert(f))
		}
	}
	return len(late), nil
}

func breachAlert(f Finding) alert.Alert {
	ev, _ := json.Marshal(map[string]any{
		"vulnerability.id": f.Vulnerability, "vulnerability.aliases": f.Aliases, "package.name": f.Package,
		"package.version": f.Version, "package.ecosystem": f.Ecosystem, "vulnerability.fixed_version": f.FixedVersion,
		"vulnerability.priority": f.Priority, "vulnerability.decision": f.Decision, "vulnerability.kev": f.KEV,
		"asset.id": f.Asset, "asset.name": f.AssetName, "asset.criticality": f.Criticality, "finding.id": f.ID,
		"finding.state": f.State, "finding.first_seen": f.FirstSeen.Format(time.RFC3339), "finding.due": f.Due.Format(time.RFC3339),
	})
	ents := map[string][]string{}
	if f.AssetKind == KindAgent {
		ents["host"] = []string{f.AssetName}
	}
	return alert.Alert{
		RuleID:    SLARulePrefix + f.ID,
		RuleTitle: "Vulnerability past its SLA: " + f.Vulnerability + " in " + truncate(f.Package, 200) + " on " + truncate(f.AssetName, 200),
		Level:     slaLevel[f.Priority],
		Tags:      []string{"vigil.vulnerability", "vigil.sla"},
		Entities:  ents,
		Group:     map[string]string{"finding": f.ID},
		Event:     ev,
	}
}

// Run checks lapsed risk acceptances and SLA breaches every check
// interval and, when sources are given, reconciles their assets every
// reconcile interval (the first time at once), until ctx ends; each
// failure is logged and the next tick tries again.
func (s *Service) Run(ctx context.Context, check, reconcile time.Duration, sources ...InventorySource) {
	t := time.NewTicker(check)
	defer t.Stop()
	var rc <-chan time.Time
	if len(sources) > 0 {
		rt := time.NewTicker(reconcile)
		defer rt.Stop()
		rc = rt.C
		s.reconcileSources(ctx, sources)
	}
	for {
		s.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-rc:
			s.reconcileSources(ctx, sources)
		}
	}
}

func (s *Service) reconcileSources(ctx context.Context, sources []InventorySource) {
	res, err := s.ReconcileAll(ctx, sources...)
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, ErrNoAdvisories):
		s.o.Log.Warn("inventories not reconciled: no advisory database (vigil vulndb import fills it)", "err", err)
		return
	case err != nil:
		s.o.Log.Error("reconciling the inventories' findings", "err", err)
	}
	var n Result
	for _, r := range res {
		n.New, n.Fixed, n.Reopened = n.New+r.New, n.Fixed+r.Fixed, n.Reopened+r.Reopened
	}
	s.o.Log.Info("inventories reconciled", "assets", len(res), "new", n.New, "fixed", n.Fixed, "reopened", n.Reopened)
}

// Check runs one round of Run: lapsed acceptances reopen, then breaches
// are raised.
func (s *Service) Check(ctx context.Context) {
	if n, err := s.ExpireAcceptances(ctx); err != nil {
		if ctx.Err() == nil {
			s.o.Log.Error("reopening findings whose risk acceptance lapsed", "err", err)
		}
	} else if n > 0 {
		s.o.Log.Info("risk acceptances lapsed: findings reopened", "findings", n)
	}
	if n, err := s.CheckSLA(ctx); err != nil {
		if ctx.Err() == nil {
			s.o.Log.Error("checking vulnerability SLAs", "err", err)
		}
	} else if n > 0 {
		s.o.Log.Info("vulnerability SLA breaches raised", "findings", n)
	}
}
