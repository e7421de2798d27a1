package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/timeparse"
)

var statuses = []incident.Status{incident.StatusNew, incident.StatusAcknowledged, incident.StatusInvestigating,
	incident.StatusContained, incident.StatusResolved, incident.StatusFalsePositive}

// manualActions are the response actions a person may run by hand, as
// the runner registers them.
var manualActions = func() []string {
	var names []string
	for _, a := range respond.ManualActions() {
		names = append(names, string(a))
	}
	return names
}()

type incidentsData struct {
	Incidents []incident.Incident
	Status    string
	Assignee  string
	Statuses  []incident.Status
	Pager     pager
}

// incidentsPage is the page size of the incident list.
const incidentsPage = 200

func (c *Console) incidents(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	if c.o.Incidents == nil {
		http.NotFound(w, r)
		return
	}
	v := r.URL.Query()
	d := incidentsData{Status: v.Get("status"), Assignee: v.Get("assignee"), Statuses: statuses}
	if !v.Has("status") {
		d.Status = "open"
	}
	st := d.Status
	if st == "any" {
		st = ""
	}
	off, err := pageOffset(v, incident.MaxOffset)
	if err != nil {
		back(w, r, "/incidents", "", err)
		return
	}
	f := incident.ListFilter{Status: st, Assignee: d.Assignee, Limit: incidentsPage, Offset: off}
	if d.Incidents, err = c.o.Incidents.List(r.Context(), f); err != nil {
		back(w, r, "/incidents", "", err)
		return
	}
	total, err := c.o.Incidents.Total(r.Context(), f)
	if err != nil {
		back(w, r, "/incidents", "", err)
		return
	}
	params := url.Values{"status": {d.Status}}
	if d.Assignee != "" {
		params.Set("assignee", d.Assignee)
	}
	d.Pager = pager{Path: "/incidents", Params: params, Offset: off, Size: incidentsPage, Shown: len(d.Incidents), Total: total, Exact: true,
		MaxOffset: incident.MaxOffset, Noun: "incidents", Beyond: "narrow the filter to see the rest."}
	c.show(w, r, s, "incidents", "Incidents", d, start)
}

type incidentData struct {
	Inc       *incident.Incident
	Statuses  []incident.Status
	Levels    []sigma.Level
	Playbooks []*respond.Playbook
	Actions   []string
	// Destinations are the http_request destinations an analyst may
	// choose from.
	Destinations []string
	Pending      []incident.Action
	Entities     [][2]string
	// Alerts are the first incidentAlerts of the incident's alerts; the
	// alert list, filtered to the incident, pages through all of them.
	Alerts     []alert.Alert
	AlertsLink string
	// Timeline is the newest incidentTimeline entries, or all of them
	// when the page was asked for all (AllTimeline).
	Timeline    []incident.Entry
	AllTimeline bool
}

// incidentAlerts and incidentTimeline bound what an incident's page shows
// at once of its alerts and timeline entries.
const (
	incidentAlerts   = 50
	incidentTimeline = 200
)

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	if c.o.Incidents == nil {
		http.NotFound(w, r)
		return
	}
	inc, err := c.o.Incidents.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, incident.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	d := incidentData{Inc: inc, Statuses: statuses, Levels: sigma.Levels, Actions: manualActions}
	if c.o.Runner != nil {
		d.Playbooks = c.o.Runner.Playbooks()
		d.Destinations = c.o.Runner.Destinations()
	}
	for _, a := range inc.Actions {
		if a.Status == "pending_approval" {
			d.Pending = append(d.Pending, a)
		}
	}
	kinds := make([]string, 0, len(inc.Entities))
	for k := range inc.Entities {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, v := range inc.Entities[k] {
			d.Entities = append(d.Entities, [2]string{k, v})
		}
	}
	d.Alerts = inc.Alerts[:min(len(inc.Alerts), incidentAlerts)]
	d.AlertsLink = "/alerts?" + url.Values{"incident_id": {inc.ID}, "status": {"any"}}.Encode()
	d.Timeline, d.AllTimeline = inc.Timeline, r.URL.Query().Get("timeline") == "all"
	if !d.AllTimeline && len(d.Timeline) > incidentTimeline {
		d.Timeline = d.Timeline[len(d.Timeline)-incidentTimeline:]
	}
	c.show(w, r, s, "incident", inc.Title, d, start)
}

func (c *Console) incidentReport(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Incidents == nil {
		http.NotFound(w, r)
		return
	}
	inc, err := c.o.Incidents.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, incident.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	if err := incident.ServeReport(w, r, inc, c.o.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

func (c *Console) incidentURL(r *http.Request) string { return "/incidents/" + r.PathValue("id") }

func (c *Console) incidentUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	var p incident.Patch
	set := func(dst **string, name string) {
		if r.PostForm.Has(name) {
			v := strings.TrimSpace(r.PostFormValue(name))
			*dst = &v
		}
	}
	set(&p.Status, "status")
	set(&p.Assignee, "assignee")
	set(&p.Severity, "severity")
	set(&p.Title, "title")
	set(&p.Summary, "summary")
	set(&p.RootCause, "root_cause")
	set(&p.Impact, "impact")
	set(&p.LessonsLearned, "lessons_learned")
	before, after, err := c.o.Incidents.Update(r.Context(), r.PathValue("id"), s.Username, p)
	if err == nil {
		if c.o.Audit != nil {
			if aerr := c.o.Audit.Record(r.Context(), s.Username, "incident.update", after.ID, before, after); aerr != nil {
				c.o.Log.Error("audit record lost", "err", aerr)
			}
		}
	}
	back(w, r, c.incidentURL(r), "Incident updated.", err)
}

func (c *Console) incidentComment(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := c.o.Incidents.Comment(r.Context(), r.PathValue("id"), s.Username, r.PostFormValue("text"))
	if err == nil {
		c.audit(r.Context(), s.Username, "incident.comment", r.PathValue("id"), e)
	}
	back(w, r, c.incidentURL(r)+"#comments", "Comment added.", err)
}

func (c *Console) incidentTask(w http.ResponseWriter, r *http.Request, s *session) {
	t, err := c.o.Incidents.AddTask(r.Context(), r.PathValue("id"), s.Username, r.PostFormValue("title"), r.PostFormValue("assignee"))
	if err == nil {
		c.audit(r.Context(), s.Username, "incident.task.add", r.PathValue("id"), t)
	}
	back(w, r, c.incidentURL(r)+"#tasks", "Task added.", err)
}

func (c *Console) incidentTaskDone(w http.ResponseWriter, r *http.Request, s *session) {
	done := r.PostFormValue("done") == "true"
	err := c.o.Incidents.SetTaskDone(r.Context(), r.PathValue("id"), r.PathValue("task"), s.Username, done)
	if err == nil {
		c.audit(r.Context(), s.Username, "incident.task.update", r.PathValue("task"), map[string]bool{"done": done})
	}
	back(w, r, c.incidentURL(r)+"#tasks", "Task updated.", err)
}

func (c *Console) incidentObservable(w http.ResponseWriter, r *http.Request, s *session) {
	kind, value, ioc := r.PostFormValue("kind"), r.PostFormValue("value"), r.PostFormValue("ioc") == "true"
	err := c.o.Incidents.FlagObservable(r.Context(), r.PathValue("id"), s.Username, kind, value, ioc)
	if err == nil {
		c.audit(r.Context(), s.Username, "incident.observable", r.PathValue("id"), map[string]any{"kind": kind, "value": value, "ioc": ioc})
	}
	back(w, r, c.incidentURL(r)+"#observables", "Observable updated.", err)
}

func (c *Console) incidentPlaybook(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Runner == nil {
		back(w, r, c.incidentURL(r), "", errors.New("playbooks are not available"))
		return
	}
	name := r.PostFormValue("playbook")
	err := c.o.Runner.RunManual(r.Context(), name, r.PathValue("id"), s.Username)
	if err == nil {
		c.audit(r.Context(), s.Username, "playbook.run", r.PathValue("id"), map[string]string{"playbook": name})
	}
	back(w, r, c.incidentURL(r)+"#actions", "Playbook "+name+" started.", err)
}

func (c *Console) incidentAction(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Runner == nil {
		back(w, r, c.incidentURL(r), "", errors.New("response actions are not available"))
		return
	}
	name, target := r.PostFormValue("action"), strings.TrimSpace(r.PostFormValue("target"))
	var ttl time.Duration
	if t := r.PostFormValue("ttl"); t != "" {
		d, err := timeparse.Duration(t)
		if err != nil {
			back(w, r, c.incidentURL(r)+"#actions", "", fmt.Errorf("ttl: %w", err))
			return
		}
		ttl = d
	}
	with := map[string]string{}
	if name == "http_request" {
		// An http_request calls a destination an admin configured, by
		// name; it takes no text.
		with["destination"] = r.PostFormValue("destination")
	} else if text := strings.TrimSpace(r.PostFormValue("text")); text != "" {
		with["text"], with["title"] = text, text
	}
	act, err := c.o.Runner.Manual(r.Context(), r.PathValue("id"), s.Username, name, target, ttl, with)
	msg := ""
	if err == nil { // the runner recorded it with its audit entries
		msg = fmt.Sprintf("Action %s: %s %s", name, act.Status, act.Result)
	}
	back(w, r, c.incidentURL(r)+"#actions", msg, err)
}

func (c *Console) incidentDecide(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Runner == nil {
		back(w, r, c.incidentURL(r), "", errors.New("response actions are not available"))
		return
	}
	dec := r.PathValue("decision")
	if dec != "approve" && dec != "reject" {
		http.NotFound(w, r)
		return
	}
	// The runner records the decision with its audit entry.
	err := c.o.Runner.Decide(r.Context(), r.PathValue("id"), r.PathValue("action"), s.Username, dec == "approve")
	back(w, r, c.incidentURL(r)+"#actions", "Action "+dec+"d.", err)
}
