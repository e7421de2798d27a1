package web

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/store"
	"html/template"
)

type ruleCount struct {
	RuleID, Title, Level string
	Alerts               int64
	Hits                 int64
}

type overviewData struct {
	Stats       store.Stats
	EventsRate  float64
	HasRate     bool
	Stored      float64
	Chart       template.HTML
	Levels      []sigma.Level
	LevelTotals map[string]int64
	TopRules    []ruleCount
	Risk        []incident.Risk
	Open        []incident.Incident
	Metrics     incident.Metrics
	OpenAlerts  int64
}

const overviewHours = 24

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	ctx := r.Context()
	now := c.o.Now()
	d := overviewData{Levels: sigma.Levels, LevelTotals: map[string]int64{}}
	var err error
	if d.Stats, err = c.o.Store.Stats(ctx); err != nil {
		c.fail(w, fmt.Errorf("store stats: %w", err))
		return
	}
	if c.o.Metrics != nil {
		d.Stored = counterTotal(c.gather(), "vigil_events_stored_total")
		d.EventsRate, d.HasRate = c.rate.observe(now, d.Stored)
	}
	since := now.Truncate(time.Hour).Add(-(overviewHours - 1) * time.Hour)
	if d.Chart, d.TopRules, err = c.alertActivity(r, since, 10); err != nil {
		c.fail(w, err)
		return
	}
	for _, rc := range d.TopRules {
		d.LevelTotals[rc.Level] += rc.Alerts
	}
	if c.o.Incidents != nil {
		if d.Risk, err = c.o.Incidents.RiskScores(ctx, 1, 10); err != nil {
			c.fail(w, err)
			return
		}
		if d.Open, err = c.o.Incidents.List(ctx, incident.ListFilter{Status: "open", Limit: 10}); err != nil {
			c.fail(w, err)
			return
		}
		if d.Metrics, err = c.o.Incidents.Metrics(ctx, now.Add(-30*24*time.Hour)); err != nil {
			c.fail(w, err)
			return
		}
	}
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE status = 'open'`).Scan(&d.OpenAlerts); err != nil {
		c.fail(w, fmt.Errorf("counting open alerts: %w", err))
		return
	}
	c.show(w, r, s, "overview", "Overview", d, start)
}

// alertActivity reads the alerts seen since since in one pass over the
// alert table's last_seen index: per rule and hour, how many alerts were
// first seen and how many detections they hold. It returns the chart of
// alerts first seen per hour by level and the rules with the most alerts.
func (c *Console) alertActivity(r *http.Request, since time.Time, limit int) (template.HTML, []ruleCount, error) {
	const span = time.Hour
	// Alerts first seen before the window count for their rule, not the
	// chart (bucket -1).
	rows, err := c.db.QueryContext(r.Context(), `SELECT rule_id, max(rule_title), max(level),
		CASE WHEN first_seen < ? THEN -1 ELSE (first_seen - ?) / ? END, count(*), sum(count)
		FROM alerts WHERE last_seen >= ? GROUP BY 1, 4`, since.UnixNano(), since.UnixNano(), int64(span), since.UnixNano())
	if err != nil {
		return "", nil, fmt.Errorf("alert activity: %w", err)
	}
	defer rows.Close()
	byLevel := map[string][]float64{}
	byRule := map[string]*ruleCount{}
	for rows.Next() {
		var rc ruleCount
		var b, n, hits int64
		if err := rows.Scan(&rc.RuleID, &rc.Title, &rc.Level, &b, &n, &hits); err != nil {
			return "", nil, fmt.Errorf("alert activity: %w", err)
		}
		if b >= 0 && b < overviewHours {
			v := byLevel[rc.Level]
			if v == nil {
				v = make([]float64, overviewHours)
				byLevel[rc.Level] = v
			}
			v[b] += float64(n)
		}
		t := byRule[rc.RuleID]
		if t == nil {
			t = &ruleCount{RuleID: rc.RuleID, Title: rc.Title, Level: rc.Level}
			byRule[rc.RuleID] = t
		}
		t.Alerts += n
		t.Hits += hits
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("alert activity: %w", err)
	}
	var ss []series
	for _, lv := range sigma.Levels {
		l := lv.String()
		v := byLevel[l]
		if v == nil {
			v = make([]float64, overviewHours)
		}
		ss = append(ss, series{Class: "bar-" + l, Values: v})
	}
	top := make([]ruleCount, 0, len(byRule))
	for _, rc := range byRule {
		top = append(top, *rc)
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Alerts != top[j].Alerts {
			return top[i].Alerts > top[j].Alerts
		}
		if top[i].Hits != top[j].Hits {
			return top[i].Hits > top[j].Hits
		}
		return top[i].RuleID < top[j].RuleID
	})
	if len(top) > limit {
		top = top[:limit]
	}
	return barChart("Alerts per hour by level, last 24 hours", since, span, ss), top, nil
}
