package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
)

type matrixCell struct {
	ID, Name string
	Rules    int
	Hits     int64
	Subs     int
}

type matrixColumn struct {
	Tactic     attack.Tactic
	Techniques []matrixCell
	Covered    int
}

type attackData struct {
	Columns     []matrixColumn
	Covered     int
	Total       int
	WithHits    int
	OnlyCovered bool
	Source      string
	Version     string
	License     string
	Copyright   string
}

func (c *Console) attack(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	tab, err := attack.Load()
	if err != nil {
		c.fail(w, err)
		return
	}
	rules := map[string]int{}
	rows, _ := c.ruleRows()
	for _, row := range rows {
		if row.State != "loaded" {
			continue
		}
		for _, id := range attack.Techniques(row.Tags) {
			rules[id]++
		}
	}
	hits, err := c.techniqueHits(r)
	if err != nil {
		c.fail(w, err)
		return
	}
	subs := map[string]int{}
	for _, t := range tab.Techniques {
		if t.Parent != "" {
			subs[t.Parent]++
		}
	}
	d := attackData{OnlyCovered: r.URL.Query().Get("covered") == "1", Source: tab.Source, Version: tab.Version,
		License: attack.License, Copyright: attack.Copyright()}
	covered := map[string]bool{}
	for _, ta := range tab.Tactics {
		col := matrixColumn{Tactic: ta}
		for _, t := range tab.Techniques {
			if t.Parent != "" || !slices.Contains(t.Tactics, ta.Short) {
				continue
			}
			cell := matrixCell{ID: t.ID, Name: t.Name, Rules: rules[t.ID], Hits: hits[t.ID], Subs: subs[t.ID]}
			if cell.Rules > 0 {
				col.Covered++
				covered[t.ID] = true
			}
			if d.OnlyCovered && cell.Rules == 0 && cell.Hits == 0 {
				continue
			}
			col.Techniques = append(col.Techniques, cell)
		}
		sort.SliceStable(col.Techniques, func(i, j int) bool {
			a, b := col.Techniques[i], col.Techniques[j]
			if (a.Rules > 0) != (b.Rules > 0) {
				return a.Rules > 0
			}
			return a.Name < b.Name
		})
		d.Columns = append(d.Columns, col)
	}
	for _, t := range tab.Techniques {
		if t.Parent == "" {
			d.Total++
			if hits[t.ID] > 0 {
				d.WithHits++
			}
		}
	}
	d.Covered = len(covered)
	c.show(w, r, s, "attack", "ATT&CK coverage", d, start)
}

// techniqueHits counts alerts per technique: alerts per rule from the
// alert table's rule index, and each rule's techniques from the loaded
// rule set (or, for a rule no longer loaded, from one of its alerts).
func (c *Console) techniqueHits(r *http.Request) (map[string]int64, error) {
	ctx := r.Context()
	rows, err := c.db.QueryContext(ctx, `SELECT rule_id, count(*) FROM alerts GROUP BY rule_id`)
	if err != nil {
		return nil, fmt.Errorf("alert hits per technique: %w", err)
	}
	perRule := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("alert hits per technique: %w", err)
		}
		perRule[id] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alert hits per technique: %w", err)
	}
	tagsOf := map[string][]string{}
	if l := c.o.Rules(); l != nil && l.Set != nil {
		for _, ru := range l.Set.Rules {
			if ru.ID != "" {
				tagsOf[ru.ID] = ru.Tags
			}
		}
	}
	hits := map[string]int64{}
	for id, n := range perRule {
		tags, ok := tagsOf[id]
		if !ok {
			var tj string
			if err := c.db.QueryRowContext(ctx, `SELECT tags FROM alerts WHERE rule_id = ? LIMIT 1`, id).Scan(&tj); err != nil {
				return nil, fmt.Errorf("alert hits per technique: %w", err)
			}
			_ = json.Unmarshal([]byte(tj), &tags)
		}
		for _, t := range attack.Techniques(tags) {
			hits[t] += n
		}
	}
	return hits, nil
}
