package sigma

import (
	"fmt"
	"strings"
)

// SkipReason returns nil if r can be evaluated, or an error wrapping
// ErrPlaceholder that names the unresolved placeholders, which callers show
// as the reason the rule is skipped.
func (r *Rule) SkipReason() error {
	if len(r.Placeholders) == 0 {
		return nil
	}
	names := make([]string, len(r.Placeholders))
	for i, p := range r.Placeholders {
		names[i] = "%" + p + "%"
	}
	return &Error{Source: r.Source, Pos: r.Pos, Msg: fmt.Sprintf("%v: %s", ErrPlaceholder, strings.Join(names, ", ")), Err: ErrPlaceholder}
}

// ExpandPlaceholders resolves the rule's placeholders with the given value
// lists: each value holding %name% stands, after expansion, for any of the
// values listed for name (Sigma wildcards in them are honoured), combined
// with the rest of the value and then run through the item's transformation
// modifiers. Placeholders without an entry in values stay unresolved and
// are reported in the error (wrapping ErrPlaceholder); the resolvable ones
// are still expanded. A placeholder mapped to an empty list makes the values
// using it match nothing.
func (r *Rule) ExpandPlaceholders(values map[string][]string) error {
	if len(r.Placeholders) == 0 {
		return nil
	}
	parsed := make(map[string][]Pattern, len(values))
	for name, vs := range values {
		ps := make([]Pattern, len(vs))
		for i, v := range vs {
			ps[i] = ParsePattern(v)
		}
		parsed[name] = ps
	}
	for _, d := range r.detections() {
		for _, s := range d.Searches {
			for _, g := range s.Groups {
				for _, it := range g.Items {
					if !it.Expand {
						continue
					}
					for _, v := range it.Values {
						var bases []Pattern
						changed := false
						for _, base := range v.bases {
							if !base.HasPlaceholders() {
								bases = append(bases, base)
								continue
							}
							sub, err := substitute(base, parsed)
							if err != nil {
								return &Error{Source: r.Source, Pos: v.Pos, Msg: err.Error()}
							}
							bases = append(bases, sub...)
							changed = true
						}
						if !changed {
							continue
						}
						if len(bases) > maxExpansions {
							return &Error{Source: r.Source, Pos: v.Pos, Msg: fmt.Sprintf("placeholders expand to more than %d alternatives", maxExpansions)}
						}
						v.bases = dedupPatterns(bases)
						bases = v.bases
						pats, err := applyTransforms(bases, it.transforms)
						if err != nil {
							return &Error{Source: r.Source, Pos: v.Pos, Msg: err.Error()}
						}
						v.Patterns = pats
					}
				}
			}
		}
	}
	r.Placeholders = collectPlaceholders(r)
	return r.SkipReason()
}

// substitute returns the patterns p stands for with each known placeholder
// replaced by each of its values. Unknown placeholders are kept.
func substitute(p Pattern, values map[string][]Pattern) ([]Pattern, error) {
	acc := []patternBuilder{{}}
	for _, part := range p.Parts {
		vs, ok := values[part.Text]
		if part.Kind != PartPlaceholder || !ok {
			for i := range acc {
				acc[i].add(part)
			}
			continue
		}
		if len(acc)*len(vs) > maxExpansions {
			return nil, fmt.Errorf("placeholder %%%s%% expands to more than %d alternatives", part.Text, maxExpansions)
		}
		next := make([]patternBuilder, 0, len(acc)*len(vs))
		for _, a := range acc {
			for _, v := range vs {
				nb := patternBuilder{parts: append([]Part(nil), a.parts...)}
				for _, vp := range v.Parts {
					nb.add(vp)
				}
				next = append(next, nb)
			}
		}
		acc = next
	}
	out := make([]Pattern, len(acc))
	for i, a := range acc {
		out[i] = a.pattern()
	}
	return out, nil
}
