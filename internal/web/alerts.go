package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/timeparse"
)

type alertsData struct {
	Alerts  []alertRow
	Filter  url.Values
	Levels  []sigma.Level
	Pager   pager
	Rules   []ruleCount
	Playing bool
}

// alertRow is an alert of the list (with who it is assigned to and who
// acknowledged it) and the first few of its entities.
type alertRow struct {
	alert.Triaged
	Ents []entityView
}

// entityView is one entity value shown in a list; More counts the values
// of its kind not shown.
type entityView struct {
	Kind, Value string
	More        int
}

// listEntities are the entity values an alert row shows per kind (the
// alert's page shows all).
const listEntities = 3

// entityViews returns up to per values of each kind, kinds in order.
func entityViews(ents map[string][]string, per int) []entityView {
	kinds := make([]string, 0, len(ents))
	for k := range ents {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []entityView
	for _, k := range kinds {
		vs := ents[k]
		for i, v := range vs {
			if i == per {
				out[len(out)-1].More = len(vs) - per
				break
			}
			out = append(out, entityView{Kind: k, Value: v})
		}
	}
	return out
}

const maxBulk = 1000

// alertsPage is the default page size of the alert list; the limit
// parameter asks for up to maxAlertsPage.
const (
	alertsPage    = 200
	maxAlertsPage = 2000
)

func (c *Console) alerts(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	v := r.URL.Query()
	f := alert.Filter{MinLevel: v.Get("min_level"), RuleID: v.Get("rule_id"), IncidentID: v.Get("incident_id"), Status: v.Get("status"),
		Assignee: v.Get("assignee"), Limit: alertsPage}
	if !v.Has("status") {
		f.Status = "open"
		v.Set("status", "open")
	}
	if f.Status == "any" {
		f.Status = ""
	}
	var err error
	if f.Since, err = timeparse.Parse(v.Get("since"), c.o.Now()); err != nil {
		back(w, r, "/alerts", "", fmt.Errorf("since: %w", err))
		return
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && n > 0 {
		f.Limit = min(n, maxAlertsPage)
	}
	if f.Offset, err = pageOffset(v, alert.MaxOffset); err != nil {
		back(w, r, "/alerts", "", err)
		return
	}
	as, err := c.triage.List(r.Context(), f)
	if err != nil {
		back(w, r, "/alerts", "", err)
		return
	}
	total, err := c.o.Alerts.Total(r.Context(), f)
	if err != nil {
		back(w, r, "/alerts", "", err)
		return
	}
	d := alertsData{Filter: v, Levels: sigma.Levels,
		Pager: pager{Path: "/alerts", Params: v, Offset: f.Offset, Size: f.Limit, Shown: len(as), Total: total, Exact: true,
			MaxOffset: alert.MaxOffset, Noun: "alerts", Beyond: "narrow the filter to see the rest."}}
	for _, a := range as {
		d.Alerts = append(d.Alerts, alertRow{Triaged: a, Ents: entityViews(a.Entities, listEntities)})
	}
	if l := c.o.Rules(); l != nil && l.Set != nil {
		for _, ru := range l.Set.Rules {
			if ru.ID != "" {
				d.Rules = append(d.Rules, ruleCount{RuleID: ru.ID, Title: ru.Title, Level: ru.Level})
			}
		}
	}
	sort.Slice(d.Rules, func(i, j int) bool { return d.Rules[i].Title < d.Rules[j].Title })
	c.show(w, r, s, "alerts", "Alerts", d, start)
}

type alertData struct {
	Alert    alert.Triaged
	Event    string
	Entities [][2]string
	// Events is the search that lists the alert's events.
	Events alertEvents
}

func (c *Console) alertPage(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	a, err := c.triage.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, alert.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	d := alertData{Alert: a, Event: prettyJSON(a.Event), Events: eventsOf(a.Alert, c.o.Rules())}
	kinds := make([]string, 0, len(a.Entities))
	for k := range a.Entities {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, v := range a.Entities[k] {
			d.Entities = append(d.Entities, [2]string{k, v})
		}
	}
	c.show(w, r, s, "alert", a.RuleTitle, d, start)
}

func prettyJSON(b []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep large integers exact
	if err := dec.Decode(&v); err != nil {
		return string(b)
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the template escapes; keep < and > readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return string(b)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// alertsBulk applies one operation to the selected alerts.
func (c *Console) alertsBulk(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	ids := r.PostForm["id"]
	ret := safeNext(r.PostFormValue("return"))
	if ret == "/" {
		ret = "/alerts"
	}
	if len(ids) == 0 {
		back(w, r, ret, "", errors.New("select at least one alert"))
		return
	}
	if len(ids) > maxBulk {
		back(w, r, ret, "", fmt.Errorf("at most %d alerts at once", maxBulk))
		return
	}
	op := r.PostFormValue("op")
	var err error
	var msg string
	// Triage is audited by the Triager (one entry per alert, in the
	// change's transaction), as the API's triage is.
	audited := false
	switch op {
	case "ack":
		err = c.triage.Ack(ctx, ids, s.Username)
		msg, audited = fmt.Sprintf("Acknowledged %d alerts.", len(ids)), true
	case "assign":
		who := strings.TrimSpace(r.PostFormValue("assignee"))
		err = c.triage.Assign(ctx, ids, who, s.Username)
		msg, audited = fmt.Sprintf("Assigned %d alerts to %q.", len(ids), who), true
	case "close", "reopen":
		status := "closed"
		if op == "reopen" {
			status = "open"
		}
		err = c.setAlertStatus(ctx, ids, status)
		msg = fmt.Sprintf("Set %d alerts %s.", len(ids), status)
	case "suppress":
		var n int
		n, err = c.suppressAlerts(ctx, ids, s.Username, s.Role.Can(auth.PermAdmin), r.PostFormValue("reason"), r.PostFormValue("query"), r.PostFormValue("expires"))
		msg = fmt.Sprintf("Added %d suppressions.", n)
	case "incident":
		id, ierr := c.incidentFromAlerts(ctx, ids, s.Username, r.PostFormValue("title"), r.PostFormValue("severity"))
		if ierr == nil {
			c.audit(ctx, s.Username, "incident.create", id, map[string]any{"alerts": ids})
			back(w, r, "/incidents/"+id, "Incident opened.", nil)
			return
		}
		err = ierr
	default:
		err = fmt.Errorf("unknown operation %q", op)
	}
	if err == nil && !audited {
		c.audit(ctx, s.Username, "alert."+op, strings.Join(ids, ","), map[string]any{"alerts": ids})
	}
	back(w, r, ret, msg, err)
}

// setAlertStatus opens or closes alerts. The alert package keeps the
// status column and reads it; it has no setter, so the console writes it.
func (c *Console) setAlertStatus(ctx context.Context, ids []string, status string) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("updating alerts: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = ? WHERE id = ?`, status, id); err != nil {
			return fmt.Errorf("updating alert %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("updating alerts: %w", err)
	}
	if c.o.Recorder != nil {
		// The recorder folds repeats into the open alerts it indexes: a
		// closed alert must leave its index, a reopened one may join it.
		c.o.Recorder.Forget()
	}
	return nil
}

// suppressAlerts adds one suppression per rule of the selected alerts;
// admin says whether actor is an admin (alert.CheckSuppression).
func (c *Console) suppressAlerts(ctx context.Context, ids []string, actor string, admin bool, reason, q, expires string) (int, error) {
	if c.o.Recorder == nil {
		return 0, errors.New("suppressions are not available")
	}
	var exp time.Time
	if expires != "" {
		d, err := timeparse.Duration(expires)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("expires: want a duration such as 7d")
		}
		exp = c.o.Now().Add(d)
	}
	seen := map[string]bool{}
	n := 0
	for _, id := range ids {
		a, err := c.o.Alerts.Get(ctx, id)
		if err != nil {
			return n, err
		}
		if seen[a.RuleID] {
			continue
		}
		seen[a.RuleID] = true
		sp := &alert.Suppression{RuleID: a.RuleID, Query: q, Reason: strings.TrimSpace(reason), Author: actor, Expires: exp}
		if err := c.o.Recorder.AddSuppression(ctx, sp, admin); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// incidentFromAlerts opens an incident holding the alerts; the title
// defaults to the first alert's rule and the severity to the highest level.
func (c *Console) incidentFromAlerts(ctx context.Context, ids []string, actor, title, severity string) (string, error) {
	if c.o.Incidents == nil {
		return "", errors.New("incidents are not available")
	}
	if title == "" || severity == "" {
		best := ""
		for _, id := range ids {
			a, err := c.o.Alerts.Get(ctx, id)
			if err != nil {
				return "", err
			}
			if title == "" {
				title = a.RuleTitle
			}
			if sigma.LevelOf(a.Level) > sigma.LevelOf(best) {
				best = a.Level
			}
		}
		if severity == "" {
			severity = best
		}
	}
	inc, err := c.o.Incidents.Create(ctx, actor, title, severity, ids)
	if err != nil {
		return "", err
	}
	return inc.ID, nil
}
