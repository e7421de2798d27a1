package web

import (
	"encoding/json"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/vigilsec/vigil/internal/sigma"
)

// sigmaYAML writes a parsed rule back as Sigma YAML: the rule's attributes
// in the specification's order and its detection as written (field names
// with their modifiers, raw values, conditions). The rules bundled in the
// binary are shown this way, since their files are not on disk.
func sigmaYAML(r *sigma.Rule) (string, error) {
	var m yaml.MapSlice
	add := func(k string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
		case nil:
			return
		}
		m = append(m, yaml.MapItem{Key: k, Value: v})
	}
	add("title", r.Title)
	add("id", r.ID)
	add("name", r.Name)
	add("status", r.Status)
	add("description", r.Description)
	add("references", r.References)
	add("author", r.Author)
	add("date", r.Date)
	add("modified", r.Modified)
	add("tags", r.Tags)
	if ls := r.Logsource; ls.Product != "" || ls.Category != "" || ls.Service != "" {
		var l yaml.MapSlice
		for _, kv := range [][2]string{{"product", ls.Product}, {"category", ls.Category}, {"service", ls.Service}, {"definition", ls.Definition}} {
			if kv[1] != "" {
				l = append(l, yaml.MapItem{Key: kv[0], Value: kv[1]})
			}
		}
		add("logsource", l)
	}
	if d := r.Detection; d != nil {
		add("detection", detectionYAML(d))
	}
	if c := r.Correlation; c != nil {
		corr := yaml.MapSlice{{Key: "type", Value: string(c.Type)}, {Key: "rules", Value: c.Rules}}
		if len(c.GroupBy) > 0 {
			corr = append(corr, yaml.MapItem{Key: "group-by", Value: c.GroupBy})
		}
		corr = append(corr, yaml.MapItem{Key: "timespan", Value: c.TimespanText})
		if c.Condition != nil {
			var cond yaml.MapSlice
			for _, op := range c.Condition.Ops {
				var v any = op.Value
				if op.Value == float64(int64(op.Value)) {
					v = int64(op.Value)
				}
				cond = append(cond, yaml.MapItem{Key: string(op.Op), Value: v})
			}
			switch len(c.Condition.Field) {
			case 0:
			case 1:
				cond = append(cond, yaml.MapItem{Key: "field", Value: c.Condition.Field[0]})
			default:
				cond = append(cond, yaml.MapItem{Key: "field", Value: c.Condition.Field})
			}
			if c.Condition.Percentile != 0 {
				cond = append(cond, yaml.MapItem{Key: "percentile", Value: c.Condition.Percentile})
			}
			corr = append(corr, yaml.MapItem{Key: "condition", Value: cond})
		}
		add("correlation", corr)
	}
	if f := r.Filter; f != nil {
		var v any
		b, _ := json.Marshal(f)
		_ = json.Unmarshal(b, &v)
		add("filter", dropKeys(v, "pos"))
	}
	add("fields", r.Fields)
	add("falsepositives", r.FalsePositives)
	add("level", r.Level)
	out, err := yaml.Marshal(m)
	return string(out), err
}

func detectionYAML(d *sigma.Detection) yaml.MapSlice {
	var out yaml.MapSlice
	for _, name := range d.Order {
		s := d.Searches[name]
		if s == nil {
			continue
		}
		var groups []any
		for _, g := range s.Groups {
			var fields yaml.MapSlice
			var keywords []string
			for _, it := range g.Items {
				vals := make([]string, len(it.Values))
				for i, v := range it.Values {
					vals[i] = v.Raw
				}
				if it.Field == "" {
					keywords = append(keywords, vals...)
					continue
				}
				key := strings.Join(append([]string{it.Field}, it.Modifiers...), "|")
				var val any = vals
				if len(vals) == 1 {
					val = vals[0]
				}
				fields = append(fields, yaml.MapItem{Key: key, Value: val})
			}
			if keywords != nil {
				groups = append(groups, keywords)
			} else {
				groups = append(groups, fields)
			}
		}
		var v any = groups
		if len(groups) == 1 {
			v = groups[0]
		}
		out = append(out, yaml.MapItem{Key: name, Value: v})
	}
	if d.Timeframe > 0 {
		out = append(out, yaml.MapItem{Key: "timeframe", Value: d.Timeframe.String()})
	}
	conds := make([]string, len(d.Conditions))
	for i, c := range d.Conditions {
		conds[i] = c.Text
	}
	var cv any = conds
	if len(conds) == 1 {
		cv = conds[0]
	}
	return append(out, yaml.MapItem{Key: "condition", Value: cv})
}
