package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/incident"
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
	Levels      []string
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
	d := overviewData{Levels: alert.Levels, LevelTotals: map[string]int64{}}
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
	if d.Chart, err = c.alertChart(r, since); err != nil {
		c.fail(w, err)
		return
	}
	if d.TopRules, err = c.topRules(r, since, 10); err != nil {
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

// alertChart draws alerts first seen per hour since since, stacked by level.
func (c *Console) alertChart(r *http.Request, since time.Time) (template.HTML, error) {
	const span = time.Hour
	rows, err := c.db.QueryContext(r.Context(), `SELECT (first_seen - ?) / ?, level, count(*) FROM alerts
		WHERE last_seen >= ? AND first_seen >= ? GROUP BY 1, 2`, since.UnixNano(), int64(span), since.UnixNano(), since.UnixNano())
	if err != nil {
		return "", fmt.Errorf("alerts over time: %w", err)
	}
	defer rows.Close()
	byLevel := map[string][]float64{}
	for rows.Next() {
		var b int64
		var level string
		var n float64
		if err := rows.Scan(&b, &level, &n); err != nil {
			return "", fmt.Errorf("alerts over time: %w", err)
		}
		if b < 0 || b >= overviewHours {
			continue
		}
		v := byLevel[level]
		if v == nil {
			v = make([]float64, overviewHours)
			byLevel[level] = v
		}
		v[b] += n
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("alerts over time: %w", err)
	}
	var ss []series
	for _, l := range alert.Levels {
		v := byLevel[l]
		if v == nil {
			v = make([]float64, overviewHours)
		}
		ss = append(ss, series{Class: "bar-" + l, Values: v})
	}
	return barChart("Alerts per hour by level, last 24 hours", since, span, ss), nil
}

// topRules returns the rules with the most alerts seen since since.
func (c *Console) topRules(r *http.Request, since time.Time, limit int) ([]ruleCount, error) {
	rows, err := c.db.QueryContext(r.Context(), `SELECT rule_id, max(rule_title), max(level), count(*), sum(count) FROM alerts
		WHERE last_seen >= ? GROUP BY rule_id ORDER BY 4 DESC, 5 DESC LIMIT ?`, since.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("top rules: %w", err)
	}
	defer rows.Close()
	var out []ruleCount
	for rows.Next() {
		var rc ruleCount
		if err := rows.Scan(&rc.RuleID, &rc.Title, &rc.Level, &rc.Alerts, &rc.Hits); err != nil {
			return nil, fmt.Errorf("top rules: %w", err)
		}
		out = append(out, rc)
	}
	return out, rows.Err()
}
