package web

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/sigma"
)

// TestSigmaYAMLRoundTrip renders every bundled rule and parses it back:
// the rendering must be a rule that means the same.
func TestSigmaYAMLRoundTrip(t *testing.T) {
	for _, r := range builtinRules(t).Set.Rules {
		t.Run(r.Title, func(t *testing.T) {
			y, err := sigmaYAML(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := sigma.Parse([]byte(y), "rendered")
			if err != nil || len(back) != 1 {
				t.Fatalf("rendered rule does not parse (%v):\n%s", err, y)
			}
			b := back[0]
			type summary struct {
				Title, ID, Level string
				Tags             []string
				Product, Service string
				Conditions       []string
				Items            int
				Corr             string
			}
			sum := func(r *sigma.Rule) summary {
				s := summary{Title: r.Title, ID: r.ID, Level: r.Level, Tags: r.Tags, Product: r.Logsource.Product, Service: r.Logsource.Service}
				if r.Detection != nil {
					for _, c := range r.Detection.Conditions {
						s.Conditions = append(s.Conditions, c.Text)
					}
					for _, se := range r.Detection.Searches {
						for _, g := range se.Groups {
							s.Items += len(g.Items)
						}
					}
				}
				if r.Correlation != nil {
					s.Corr = string(r.Correlation.Type) + " " + r.Correlation.TimespanText
				}
				return s
			}
			if d := cmp.Diff(sum(r), sum(b)); d != "" {
				t.Errorf("round trip changed the rule (-want +got):\n%s\n%s", d, y)
			}
		})
	}
}
