package api

import (
	"net/http"
	"strconv"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/timeparse"
)

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := alert.Filter{MinLevel: v.Get("min_level"), RuleID: v.Get("rule_id"), IncidentID: v.Get("incident_id"), Status: v.Get("status")}
	var err error
	if f.Since, err = timeparse.Parse(v.Get("since"), a.o.Now()); err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	if s := v.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 0 {
			writeError(w, http.StatusBadRequest, "limit: want a non-negative integer")
			return
		}
	}
	as, err := a.triage.List(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
}

// ruleInfo is one rule in GET /api/v1/rules.
type ruleInfo struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Level     string   `json:"level"`
	Status    string   `json:"status"`
	Kind      string   `json:"kind"`
	Logsource any      `json:"logsource"`
	Tags      []string `json:"tags"`
	Source    string   `json:"source"`
	State     string   `json:"state"` // loaded or skipped
	Reason    string   `json:"reason,omitempty"`
	// Disabled says the rule's detections are dropped (it was disabled in
	// the console or with POST /api/v1/rules/{id}/disable).
	Disabled bool `json:"disabled"`
}

// info describes one rule of the set in force; skipped says why rules
// were skipped.
func (a *API) info(ru *sigma.Rule, skipped map[*sigma.Rule]error) ruleInfo {
	ri := ruleInfo{ID: ru.ID, Title: ru.Title, Level: ru.Level, Status: ru.Status, Kind: "detection",
		Logsource: ru.Logsource, Tags: ru.Tags, Source: ru.Source, State: "loaded"}
	if ru.Correlation != nil {
		ri.Kind = "correlation"
	} else if ru.Filter != nil {
		ri.Kind = "filter"
	}
	if err := skipped[ru]; err != nil {
		ri.State, ri.Reason = "skipped", err.Error()
	}
	if ri.Tags == nil {
		ri.Tags = []string{}
	}
	ri.Disabled = a.o.RuleState != nil && ru.ID != "" && a.o.RuleState.IsDisabled(ru.ID)
	return ri
}

func skippedRules(l *ruleset.Loaded) map[*sigma.Rule]error {
	skipped := map[*sigma.Rule]error{}
	for _, s := range l.Skipped {
		skipped[s.Rule] = s.Reason
	}
	return skipped
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) {
	l := a.o.Rules()
	skipped := skippedRules(l)
	out := make([]ruleInfo, 0, len(l.Set.Rules))
	for _, ru := range l.Set.Rules {
		out = append(out, a.info(ru, skipped))
	}
	errs := make([]string, len(l.Errors))
	for i, e := range l.Errors {
		errs[i] = e.Error()
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out, "errors": errs})
}

func (a *API) reloadRules(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Reload(); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	l := a.o.Rules()
	a.audit(r, "rules.reload", "rules", nil, map[string]int{"rules": len(l.Set.Rules) - len(l.Skipped), "skipped": len(l.Skipped)})
	writeJSON(w, http.StatusOK, map[string]any{"rules": len(l.Set.Rules) - len(l.Skipped), "skipped": len(l.Skipped), "errors": len(l.Errors)})
}

// ruleState answers POST /api/v1/rules/{id}/disable and .../enable: it
// changes the rule's state through the rule-state service, which audits
// the change (the console changes it the same way), and answers with the
// rule. Only a rule of the set in force can be changed.
func (a *API) ruleState(disable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.o.RuleState == nil {
			writeError(w, http.StatusInternalServerError, "rule state is not available")
			return
		}
		id := r.PathValue("id")
		l := a.o.Rules()
		var rule *sigma.Rule
		if l != nil && l.Set != nil && id != "" {
			rule = ruleByID(l.Set.Rules, id)
		}
		if rule == nil {
			writeError(w, http.StatusNotFound, "no rule with id "+strconv.Quote(id))
			return
		}
		change := a.o.RuleState.Enable
		if disable {
			change = a.o.RuleState.Disable
		}
		if err := change(r.Context(), rule.ID, actor(r)); err != nil {
			a.o.Log.Error("changing rule state", "rule", rule.ID, "disable", disable, "err", err)
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, a.info(rule, skippedRules(l)))
	}
}

func ruleByID(rules []*sigma.Rule, id string) *sigma.Rule {
	for _, ru := range rules {
		if ru.ID == id {
			return ru
		}
	}
	return nil
}
