package respond

import (
	"slices"

	"github.com/vigilsec/vigil/internal/redact"
)

// Masked returns a copy of p as the API and the console show it: every
// step's parameters masked by redact.Params (those its Secret names, those
// named like secrets, and the secrets in URLs and text of the others).
func (p *Playbook) Masked() *Playbook {
	c := *p
	c.Trigger.Rules = slices.Clone(p.Trigger.Rules)
	c.Trigger.Tags = slices.Clone(p.Trigger.Tags)
	c.Steps = make([]Step, len(p.Steps))
	for i, s := range p.Steps {
		s.With = redact.Params(s.With, s.Secret)
		s.Secret = slices.Clone(s.Secret)
		c.Steps[i] = s
	}
	return &c
}
