package intel

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

type mispTag struct {
	Name string `json:"name"`
}

type mispAttribute struct {
	Type      string     `json:"type"`
	Value     string     `json:"value"`
	ToIDs     flexBool   `json:"to_ids"`
	Deleted   flexBool   `json:"deleted"`
	Comment   string     `json:"comment"`
	FirstSeen flexString `json:"first_seen"`
	LastSeen  flexString `json:"last_seen"`
	Tag       []mispTag  `json:"Tag"`
}

type mispAttrAt struct {
	line int
	raw  json.RawMessage
}

// mispEvent gathers one event while it is walked: its attributes come
// before or after its info and tags, so indicators are made at its end.
type mispEvent struct {
	info, id, uuid string
	tags           []string
	attrs          []mispAttrAt
	truncated      bool // attributes past the bound were dropped
}

// ParseMISP reads MISP event JSON: {"Event": {...}}, a JSON array of such
// objects, or a REST search answer {"response": [...]}. Every attribute of
// the event and of its objects whose type names an indicator becomes one
// (domain|ip gives two): ip-src, ip-dst (and |port), domain, hostname (and
// |port), domain|ip, url, md5, sha1, sha256, filename|md5, filename|sha1,
// filename|sha256, email, email-src, email-dst, email-reply-to. Only
// attributes with to_ids set are taken unless opts.MISPAllAttributes;
// deleted attributes are left out. The event's info and the attribute's
// comment make the Description, event and attribute tags the Tags, and
// "misp-event:<id>" the Source. Attributes of other types, or not flagged
// to_ids, are reported with ErrUnsupported.
func ParseMISP(r io.Reader, opts ParseOptions) ([]Indicator, []error) {
	c := newCollector(opts)
	data, err := readAll(r, c.opts.MaxBytes)
	if err != nil {
		c.fatal(0, err)
		return c.result()
	}
	s := newJSONStream(data)
	switch s.peek() {
	case '{':
		err = c.mispObject(s)
	case '[':
		err = c.mispArray(s)
	default:
		err = &ParseError{Line: 1, Err: fmt.Errorf("misp: want an object or an array of events")}
	}
	if err != nil && err != errStop {
		c.errs = append(c.errs, err)
	}
	return c.result()
}

func (c *collector) mispArray(s *jsonStream) error {
	return s.array(func() error {
		if s.peek() != '{' {
			return s.skip()
		}
		return c.mispObject(s)
	})
}

// mispObject walks an object that is an event, a {"Event": ...} wrapper or
// a {"response": ...} answer.
func (c *collector) mispObject(s *jsonStream) error {
	var ev mispEvent
	isEvent := false
	err := s.object(func(key string) error {
		switch key {
		case "Event", "response":
			switch s.peek() {
			case '{':
				return c.mispObject(s)
			case '[':
				return c.mispArray(s)
			}
			return s.skip()
		case "Attribute", "ShadowAttribute":
			if key == "ShadowAttribute" || s.peek() != '[' {
				return s.skip()
			}
			isEvent = true
			return c.mispAttrs(s, &ev)
		case "Object":
			if s.peek() != '[' {
				return s.skip()
			}
			isEvent = true
			return s.array(func() error {
				if s.peek() != '{' {
					return s.skip()
				}
				return s.object(func(k string) error {
					if k == "Attribute" && s.peek() == '[' {
						return c.mispAttrs(s, &ev)
					}
					return s.skip()
				})
			})
		case "Tag":
			raw, line, err := s.raw()
			if err != nil {
				return err
			}
			var tags []mispTag
			if err := json.Unmarshal(raw, &tags); err != nil {
				c.fail(line, fmt.Errorf("misp event tags: %w", err))
				return nil
			}
			for _, t := range tags {
				if t.Name != "" {
					ev.tags = append(ev.tags, t.Name)
				}
			}
			return nil
		case "info", "id", "uuid":
			raw, line, err := s.raw()
			if err != nil {
				return err
			}
			var v flexString
			if err := json.Unmarshal(raw, &v); err != nil {
				c.fail(line, fmt.Errorf("misp event %s: %w", key, err))
				return nil
			}
			switch key {
			case "info":
				ev.info = string(v)
			case "id":
				ev.id = string(v)
			case "uuid":
				ev.uuid = string(v)
			}
			return nil
		}
		return s.skip()
	})
	if err != nil {
		return err
	}
	if isEvent {
		c.mispEmit(&ev)
		if c.full {
			return errStop
		}
	}
	return nil
}

func (c *collector) mispAttrs(s *jsonStream, ev *mispEvent) error {
	return s.array(func() error {
		raw, line, err := s.raw()
		if err != nil {
			return err
		}
		if len(ev.attrs) >= c.opts.MaxIndicators {
			if !ev.truncated {
				ev.truncated = true
				c.fail(line, fmt.Errorf("%w: more than %d attributes in one event", ErrTooMany, c.opts.MaxIndicators))
			}
			return nil
		}
		ev.attrs = append(ev.attrs, mispAttrAt{line: line, raw: raw})
		return nil
	})
}

// mispEmit adds the indicators of one event.
func (c *collector) mispEmit(ev *mispEvent) {
	source := ""
	switch {
	case ev.id != "":
		source = "misp-event:" + ev.id
	case ev.uuid != "":
		source = "misp-event:" + ev.uuid
	}
	conf := uint8(c.opts.Confidence)
	for _, at := range ev.attrs {
		var a mispAttribute
		if err := json.Unmarshal(at.raw, &a); err != nil {
			c.fail(at.line, fmt.Errorf("misp attribute: %w", err))
			continue
		}
		if a.Deleted {
			continue
		}
		if !bool(a.ToIDs) && !c.opts.MISPAllAttributes {
			c.fail(at.line, fmt.Errorf("misp attribute %s: %w: to_ids not set", a.Type, ErrUnsupported))
			continue
		}
		values, err := mispValues(a.Type, a.Value)
		if err != nil {
			c.fail(at.line, err)
			continue
		}
		var first, last time.Time
		for _, t := range []struct {
			dst *time.Time
			s   string
		}{{&first, string(a.FirstSeen)}, {&last, string(a.LastSeen)}} {
			if t.s == "" {
				continue
			}
			v, err := parseTimeLoose(t.s)
			if err != nil {
				c.fail(at.line, fmt.Errorf("misp attribute: %w", err))
				continue
			}
			*t.dst = v
		}
		desc := ev.info
		if a.Comment != "" {
			if desc != "" {
				desc += ": "
			}
			desc += a.Comment
		}
		tags := ev.tags
		if len(a.Tag) > 0 {
			tags = append([]string(nil), ev.tags...)
			for _, t := range a.Tag {
				if t.Name != "" && !contains(tags, t.Name) {
					tags = append(tags, t.Name)
				}
			}
		}
		ctx := c.context(desc, tags, source, first, last, zeroTime)
		for _, v := range values {
			if v.value == "" {
				continue
			}
			if !c.add(at.line, v.kind, v.value, conf, ctx) {
				return
			}
		}
	}
}

type kindValue struct {
	kind  Kind
	value string
}

// mispValues maps a MISP attribute to the indicator values it holds.
func mispValues(typ, value string) ([]kindValue, error) {
	left, right, pair := strings.Cut(value, "|")
	switch typ {
	case "ip-src", "ip-dst":
		return []kindValue{{KindIP, value}}, nil
	case "ip-src|port", "ip-dst|port":
		return []kindValue{{KindIP, left}}, nil
	case "domain", "hostname":
		return []kindValue{{KindDomain, value}}, nil
	case "hostname|port":
		return []kindValue{{KindDomain, left}}, nil
	case "domain|ip":
		if !pair {
			return nil, fmt.Errorf("misp attribute %s: want name|address, got %q", typ, clip(value))
		}
		return []kindValue{{KindDomain, left}, {KindIP, right}}, nil
	case "url":
		return []kindValue{{KindURL, value}}, nil
	case "md5", "sha1", "sha256":
		return []kindValue{{KindHash, value}}, nil
	case "filename|md5", "filename|sha1", "filename|sha256":
		if !pair {
			return nil, fmt.Errorf("misp attribute %s: want name|hash, got %q", typ, clip(value))
		}
		// The file name may itself hold a bar: the hash is the last part.
		return []kindValue{{KindHash, value[strings.LastIndexByte(value, '|')+1:]}}, nil
	case "email", "email-src", "email-dst", "email-reply-to":
		return []kindValue{{KindEmail, value}}, nil
	}
	return nil, fmt.Errorf("misp attribute type %q: %w", clip(typ), ErrUnsupported)
}
