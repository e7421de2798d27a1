// Package querytest holds the conformance suite of the query language as
// data: events, queries, the events each query must match and, for
// aggregate queries, the rows it must give. Every engine that evaluates
// queries (the in-memory matcher in package query, the SQLite store, a
// later PostgreSQL store) runs the same suite, so that they agree.
package querytest

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

//go:embed conformance.txt
var conformance string

// Event is a named event of the suite.
type Event struct {
	Name  string
	Line  int
	Event *event.Event
}

// Case is one query of the suite with its expected results.
type Case struct {
	// Line is the line of the query in conformance.txt.
	Line int
	// Query is the query text.
	Query string
	// Match names the events the filter matches, in suite order.
	Match []string
	// Rows is the JSON array of the rows an aggregate query gives, in
	// order ("" when the case does not check rows). Compare with RowsJSON.
	Rows string
}

// Suite is the whole conformance suite.
type Suite struct {
	Events []Event
	Cases  []Case
}

// Load parses the embedded suite.
func Load() (*Suite, error) {
	return Parse(conformance)
}

// Parse parses a suite in the conformance.txt format.
func Parse(text string) (*Suite, error) {
	s := &Suite{}
	names := map[string]bool{}
	var cur *Case
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(line, " ")
		switch verb {
		case "event":
			name, data, ok := strings.Cut(rest, " ")
			if !ok || name == "" {
				return nil, fmt.Errorf("conformance:%d: want \"event NAME {json}\"", n)
			}
			if names[name] {
				return nil, fmt.Errorf("conformance:%d: event %q defined twice", n, name)
			}
			ev, err := DecodeEvent([]byte(data))
			if err != nil {
				return nil, fmt.Errorf("conformance:%d: event %q: %w", n, name, err)
			}
			names[name] = true
			s.Events = append(s.Events, Event{Name: name, Line: n, Event: ev})
		case "query":
			s.Cases = append(s.Cases, Case{Line: n, Query: rest})
			cur = &s.Cases[len(s.Cases)-1]
		case "match":
			if cur == nil || cur.Match != nil {
				return nil, fmt.Errorf("conformance:%d: \"match\" must follow a query, once", n)
			}
			cur.Match = []string{}
			for _, name := range strings.Fields(rest) {
				if !names[name] {
					return nil, fmt.Errorf("conformance:%d: unknown event %q", n, name)
				}
				cur.Match = append(cur.Match, name)
			}
		case "rows":
			if cur == nil || cur.Rows != "" {
				return nil, fmt.Errorf("conformance:%d: \"rows\" must follow a query, once", n)
			}
			if !json.Valid([]byte(rest)) {
				return nil, fmt.Errorf("conformance:%d: rows are not valid JSON", n)
			}
			cur.Rows = rest
		default:
			return nil, fmt.Errorf("conformance:%d: unknown directive %q", n, verb)
		}
	}
	for _, c := range s.Cases {
		if c.Match == nil {
			return nil, fmt.Errorf("conformance:%d: query without \"match\"", c.Line)
		}
	}
	return s, nil
}

// DecodeEvent decodes an event from its flat JSON form (as written by
// event.AppendJSON): dotted field names as keys, arrays of scalars as
// repeated keys, in order. The members @timestamp, event.ingested (RFC 3339),
// vigil.input, logsource.product/category/service, tags and log.original
// set the event's own members.
func DecodeEvent(data []byte) (*event.Event, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("want a JSON object")
	}
	ev := &event.Event{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading key: %w", err)
		}
		key := t.(string)
		var vals []event.Value
		t, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", key, err)
		}
		if t == json.Delim('[') {
			for dec.More() {
				t, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("reading %q: %w", key, err)
				}
				v, err := scalar(t)
				if err != nil {
					return nil, fmt.Errorf("%q: %w", key, err)
				}
				vals = append(vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("reading %q: %w", key, err)
			}
		} else {
			v, err := scalar(t)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", key, err)
			}
			vals = []event.Value{v}
		}
		if err := setMember(ev, key, vals); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("reading end of object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the object")
	}
	return ev, nil
}

func scalar(t json.Token) (event.Value, error) {
	switch t := t.(type) {
	case nil:
		return event.Null(), nil
	case bool:
		return event.Bool(t), nil
	case string:
		return event.String(t), nil
	case json.Number:
		v, ok := event.Number(t.String())
		if !ok {
			return event.Value{}, fmt.Errorf("bad number %s", t)
		}
		return v, nil
	}
	return event.Value{}, fmt.Errorf("want a scalar, found %v", t)
}

func setMember(ev *event.Event, key string, vals []event.Value) error {
	one := func() (string, error) {
		if len(vals) != 1 || vals[0].Kind != event.KindString {
			return "", fmt.Errorf("%q: want one string", key)
		}
		return vals[0].Str, nil
	}
	var err error
	var s string
	switch key {
	case event.FieldTimestamp, "event.ingested":
		if s, err = one(); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if key == event.FieldTimestamp {
			ev.Time = t
		} else {
			ev.Received = t
		}
	case "vigil.input":
		ev.Input, err = one()
	case "logsource.product":
		ev.Logsource.Product, err = one()
	case "logsource.category":
		ev.Logsource.Category, err = one()
	case "logsource.service":
		ev.Logsource.Service, err = one()
	case event.FieldOriginal:
		ev.Raw, err = one()
	case event.FieldTags:
		for _, v := range vals {
			if v.Kind != event.KindString {
				return fmt.Errorf("%q: want strings", key)
			}
			ev.Tags = append(ev.Tags, v.Str)
		}
	default:
		for _, v := range vals {
			ev.Set(key, v)
		}
	}
	return err
}

// RowsJSON renders result rows as the suite writes them (times as RFC 3339
// strings in UTC, numbers as JSON numbers in canonical form), so that equal
// rows render as equal strings. Case.EqualRows compares with it.
func RowsJSON(rows [][]any) (string, error) {
	out := make([][]any, len(rows))
	for i, row := range rows {
		out[i] = make([]any, len(row))
		for j, c := range row {
			switch c := c.(type) {
			case time.Time:
				out[i][j] = c.UTC().Format(time.RFC3339Nano)
			case int64:
				out[i][j] = json.Number(strconv.FormatInt(c, 10))
			case float64:
				out[i][j] = json.Number(strconv.FormatFloat(c, 'g', -1, 64))
			case int:
				out[i][j] = json.Number(strconv.Itoa(c))
			default:
				out[i][j] = c
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encoding rows: %w", err)
	}
	return normalize(string(b))
}

// normalize re-encodes a JSON array of rows with numbers in canonical form.
func normalize(s string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var rows [][]any
	if err := dec.Decode(&rows); err != nil {
		return "", fmt.Errorf("decoding rows: %w", err)
	}
	for _, row := range rows {
		for j, c := range row {
			if n, ok := c.(json.Number); ok {
				f, err := n.Float64()
				if err != nil {
					return "", fmt.Errorf("decoding rows: %w", err)
				}
				row[j] = json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
	}
	if rows == nil {
		rows = [][]any{}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", fmt.Errorf("encoding rows: %w", err)
	}
	return string(b), nil
}

// EqualRows reports whether rows equal the case's expected rows, and both
// renderings for a message.
func (c *Case) EqualRows(rows [][]any) (ok bool, got, want string, err error) {
	got, err = RowsJSON(rows)
	if err != nil {
		return false, "", "", err
	}
	want, err = normalize(c.Rows)
	if err != nil {
		return false, "", "", fmt.Errorf("conformance:%d: %w", c.Line, err)
	}
	return got == want, got, want, nil
}
