package intel

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// stixIndicator holds the members of a STIX 2.1 indicator object that
// matter here.
type stixIndicator struct {
	Type           string   `json:"type"`
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Pattern        string   `json:"pattern"`
	PatternType    string   `json:"pattern_type"`
	ValidFrom      string   `json:"valid_from"`
	ValidUntil     string   `json:"valid_until"`
	Created        string   `json:"created"`
	Modified       string   `json:"modified"`
	Revoked        flexBool `json:"revoked"`
	Confidence     *float64 `json:"confidence"`
	Labels         []string `json:"labels"`
	IndicatorTypes []string `json:"indicator_types"`
}

// ParseSTIX reads a STIX 2.1 bundle ({"type": "bundle", "objects": [...]}),
// a JSON array of STIX objects, or a single indicator object. Each
// indicator object with pattern_type stix (or none, as in STIX 2.0) becomes
// one indicator per value its pattern names (see ParseSTIXPattern), with
// the indicator's id as Context.Source, name and description as
// Description, labels and indicator_types as Tags, confidence, valid_from
// as FirstSeen, modified as LastSeen, and valid_until as ValidUntil.
// Revoked indicators are left out. Indicators with other pattern types or
// patterns that are not lists of values are skipped and reported with
// ErrUnsupported; other objects (relationships, malware, identities) are
// ignored.
func ParseSTIX(r io.Reader, opts ParseOptions) ([]Indicator, []error) {
	c := newCollector(opts)
	data, err := readAll(r, c.opts.MaxBytes)
	if err != nil {
		c.fatal(0, err)
		return c.result()
	}
	s := newJSONStream(data)
	objects := func() error {
		return s.array(func() error {
			raw, line, err := s.raw()
			if err != nil {
				return err
			}
			c.stixObject(line, raw)
			if c.full {
				return errStop
			}
			return nil
		})
	}
	switch s.peek() {
	case '[':
		err = objects()
	case '{':
		line := s.nextLine()
		top := map[string]json.RawMessage{}
		err = s.object(func(key string) error {
			if key == "objects" && s.peek() == '[' {
				return objects()
			}
			raw, _, err := s.raw()
			if err == nil && len(top) < 64 {
				top[key] = raw
			}
			return err
		})
		if err == nil && jsonString(top["type"]) == "indicator" {
			obj, _ := json.Marshal(top)
			c.stixObject(line, obj)
		}
	default:
		err = &ParseError{Line: 1, Err: fmt.Errorf("stix: want a bundle object or an array of objects")}
	}
	if err != nil && err != errStop {
		c.errs = append(c.errs, err)
	}
	return c.result()
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// stixObject adds the indicators of one STIX object.
func (c *collector) stixObject(line int, raw json.RawMessage) {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &head) != nil || head.Type != "indicator" {
		return
	}
	var o stixIndicator
	if err := json.Unmarshal(raw, &o); err != nil {
		c.fail(line, fmt.Errorf("stix indicator: %w", err))
		return
	}
	if o.Revoked {
		return
	}
	where := "stix indicator"
	if o.ID != "" {
		where += " " + o.ID
	}
	if pt := strings.ToLower(o.PatternType); pt != "" && pt != "stix" {
		c.fail(line, fmt.Errorf("%s: %w: pattern_type %q", where, ErrUnsupported, clip(o.PatternType)))
		return
	}
	terms, err := ParseSTIXPattern(o.Pattern)
	if err != nil {
		c.fail(line, fmt.Errorf("%s: %w", where, err))
		return
	}
	var times [4]time.Time
	for i, s := range []string{o.ValidFrom, o.Modified, o.ValidUntil, o.Created} {
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			c.fail(line, fmt.Errorf("%s: bad timestamp %q", where, clip(s)))
			return
		}
		times[i] = t.UTC()
	}
	last := times[1]
	if last.IsZero() {
		last = times[3]
	}
	conf := uint8(c.opts.Confidence)
	if o.Confidence != nil {
		conf = clampConfidence(int(*o.Confidence))
	}
	desc := o.Name
	if o.Description != "" {
		if desc != "" {
			desc += ": "
		}
		desc += o.Description
	}
	var tags []string
	for _, t := range append(o.Labels, o.IndicatorTypes...) {
		if t != "" && !contains(tags, t) {
			tags = append(tags, t)
		}
	}
	ctx := c.newContext(desc, tags, o.ID, times[0], last, times[2])
	for _, t := range terms {
		k := t.Kind
		if k == KindUnknown {
			// A network-traffic reference: an address or a name.
			if g := guessKind(t.Value); g == KindIP || g == KindDomain {
				k = g
			} else {
				c.fail(line, fmt.Errorf("%s: %w: %q", where, errNoKind, clip(t.Value)))
				continue
			}
		}
		if !c.add(line, k, t.Value, conf, ctx) {
			return
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
