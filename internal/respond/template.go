package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
)

// Templates of actions (command arguments, step parameters, http_request
// destinations) are Go templates cut down to what a message needs: fields
// ({{.Target}}), if/else, comparisons and a few pure functions. Loops,
// variables, template definitions and calls are refused when the template
// is saved or submitted, so a template's output is bounded by its own
// size times the size of the values; maxOutput bounds that too. Every
// substituted value is escaped for where it lands: one line in text,
// a JSON string or value in a JSON body, path or query escaping in a URL.

// Bounds of templates.
const (
	// maxTemplateSize is the longest template text accepted.
	maxTemplateSize = 16 << 10
	// maxOutput is the most a template may render; rendering stops with
	// ErrTemplateOutput past it.
	maxOutput = 64 << 10
	// maxWith bounds the parameters of one step or manual action.
	maxWith = 16
)

// Template errors.
var (
	// ErrTemplate is matched by every template refused when it is parsed.
	ErrTemplate = errors.New("template not allowed")
	// ErrTemplateOutput is returned when a template renders more than
	// maxOutput bytes.
	ErrTemplateOutput = fmt.Errorf("template output larger than %d KiB", maxOutput>>10)
)

// tmplContext is where a template's output goes, which decides how a
// substituted value is escaped.
type tmplContext int

const (
	// ctxArg: a command argument, its own argv element; values are the
	// validated targets and Vigil's own fields, passed as they are.
	ctxArg tmplContext = iota
	// ctxLine: text (comments, task titles, notifications, lines on a
	// command's standard input); values have line breaks and other
	// control characters replaced by spaces.
	ctxLine
	// ctxJSON: a JSON document; a value inside a string literal is
	// JSON-string escaped, elsewhere it is a whole JSON value.
	ctxJSON
	// ctxURL: a URL; values may go only into the path (path-escaped),
	// the query or the fragment (query-escaped).
	ctxURL
)

// tmplFields are the fields of tmplData, the only ones a template may name.
var tmplFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[tmplData]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

// allowedFuncs are the functions a template may call: pure, and with
// output bounded by their input.
var allowedFuncs = map[string]bool{
	"and": true, "or": true, "not": true, "len": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"lower": true, "upper": true,
}

// Escapers appended to each action's pipeline; their names cannot be
// written by a template (identifiers are checked against allowedFuncs
// before they are added).
const (
	escLine    = "_vigil_line"
	escJSONStr = "_vigil_json_string"
	escJSONVal = "_vigil_json_value"
	escPath    = "_vigil_url_path"
	escQuery   = "_vigil_url_query"
)

var tmplFuncs = template.FuncMap{
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	escLine:    func(v any) string { return singleLine(fmt.Sprint(v)) },
	escJSONStr: func(v any) string { b := jsonEncode(fmt.Sprint(v)); return b[1 : len(b)-1] },
	escJSONVal: func(v any) string { return jsonEncode(v) },
	escPath:    pathEscape,
	escQuery:   func(v any) string { return url.QueryEscape(fmt.Sprint(v)) },
}

func jsonEncode(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "null"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// pathEscape escapes a value for one path segment; "." and ".." are
// escaped too, or they would move up the path.
func pathEscape(v any) string {
	s := url.PathEscape(fmt.Sprint(v))
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	return s
}

// singleLine replaces control characters (line breaks included) and the
// Unicode line and paragraph separators by spaces.
func singleLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// tmpl is a parsed, checked template with its escapers in place.
type tmpl struct {
	t *template.Template
}

// parseTemplate parses text as a template for ctx, refusing what is not
// allowed (with the position), and adds the escapers of ctx.
func parseTemplate(name, text string, ctx tmplContext) (*tmpl, error) {
	if len(text) > maxTemplateSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, larger than %d KiB", name, ErrTemplate, len(text), maxTemplateSize>>10)
	}
	t, err := template.New(name).Funcs(tmplFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("%s: %w: define and block are not allowed", name, ErrTemplate)
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return &tmpl{t: t}, nil
	}
	c := checker{tree: t.Tree}
	if err := c.node(t.Tree.Root); err != nil {
		return nil, err
	}
	switch ctx {
	case ctxLine:
		addEscapers(t.Tree.Root, escLine)
	case ctxJSON:
		s, err := c.escapeJSON(t.Tree.Root, jsonState{})
		if err != nil {
			return nil, err
		}
		if s.inString {
			return nil, fmt.Errorf("%s: %w: a JSON string is not closed", name, ErrTemplate)
		}
	case ctxURL:
		s, err := c.escapeURL(t.Tree.Root, urlScheme)
		if err != nil {
			return nil, err
		}
		if s < urlPath {
			return nil, fmt.Errorf("%s: %w: want an http or https URL with a host", name, ErrTemplate)
		}
	}
	return &tmpl{t: t}, nil
}

// checker walks a template's tree and refuses what is not allowed.
type checker struct{ tree *parse.Tree }

func (c checker) errorf(n parse.Node, format string, args ...any) error {
	loc, _ := c.tree.ErrorContext(n)
	return fmt.Errorf("%s: %w: %s", loc, ErrTemplate, fmt.Sprintf(format, args...))
}

const allowedHelp = "templates allow fields ({{.Target}}, {{.Count}}, {{.TTL}}, {{.TTLSeconds}}, {{.Incident}}, {{.Rule}}, {{.Level}}), if/else, and, or, not, eq, ne, lt, le, gt, ge, len, lower and upper"

func (c checker) node(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, m := range n.Nodes {
			if err := c.node(m); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		return c.pipe(n.Pipe)
	case *parse.IfNode:
		if err := c.pipe(n.Pipe); err != nil {
			return err
		}
		if err := c.node(n.List); err != nil {
			return err
		}
		if n.ElseList != nil {
			return c.node(n.ElseList)
		}
	case *parse.RangeNode:
		return c.errorf(n, "range (a loop) is not allowed; %s", allowedHelp)
	case *parse.WithNode:
		return c.errorf(n, "with is not allowed; %s", allowedHelp)
	case *parse.TemplateNode:
		return c.errorf(n, "template calls are not allowed; %s", allowedHelp)
	default:
		return c.errorf(n, "%s is not allowed; %s", n, allowedHelp)
	}
	return nil
}

func (c checker) pipe(p *parse.PipeNode) error {
	if p == nil {
		return nil
	}
	if len(p.Decl) > 0 {
		return c.errorf(p, "variables are not allowed; %s", allowedHelp)
	}
	for _, cmd := range p.Cmds {
		for _, a := range cmd.Args {
			if err := c.arg(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c checker) arg(n parse.Node) error {
	switch n := n.(type) {
	case *parse.FieldNode:
		if len(n.Ident) != 1 || !tmplFields[n.Ident[0]] {
			return c.errorf(n, "unknown field %s; %s", n, allowedHelp)
		}
	case *parse.DotNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
	case *parse.IdentifierNode:
		if !allowedFuncs[n.Ident] {
			return c.errorf(n, "function %q is not allowed; %s", n.Ident, allowedHelp)
		}
	case *parse.PipeNode:
		return c.pipe(n)
	default:
		return c.errorf(n, "%s is not allowed; %s", n, allowedHelp)
	}
	return nil
}

// addEscapers appends esc to the pipeline of every action under n.
func addEscapers(n parse.Node, esc string) {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, m := range n.Nodes {
			addEscapers(m, esc)
		}
	case *parse.ActionNode:
		appendEscaper(n, esc)
	case *parse.IfNode:
		addEscapers(n.List, esc)
		if n.ElseList != nil {
			addEscapers(n.ElseList, esc)
		}
	}
}

func appendEscaper(a *parse.ActionNode, esc string) {
	a.Pipe.Cmds = append(a.Pipe.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      a.Pos,
		Args:     []parse.Node{parse.NewIdentifier(esc).SetPos(a.Pos)},
	})
}

// jsonState is where a JSON template's text has got to.
type jsonState struct {
	inString bool // inside a string literal
	escaped  bool // right after a backslash in a string
}

func (s jsonState) text(b []byte) jsonState {
	for _, ch := range b {
		switch {
		case s.escaped:
			s.escaped = false
		case s.inString && ch == '\\':
			s.escaped = true
		case ch == '"':
			s.inString = !s.inString
		}
	}
	return s
}

// escapeJSON adds each action's JSON escaper for the state it is in and
// returns the state after n. The branches of an if must end in the same
// state, or the output's structure would depend on the data.
func (c checker) escapeJSON(n parse.Node, s jsonState) (jsonState, error) {
	switch n := n.(type) {
	case *parse.ListNode:
		var err error
		for _, m := range n.Nodes {
			if s, err = c.escapeJSON(m, s); err != nil {
				return s, err
			}
		}
	case *parse.TextNode:
		s = s.text(n.Text)
	case *parse.ActionNode:
		switch {
		case s.escaped:
			return s, c.errorf(n, "a substitution right after a backslash is not allowed")
		case s.inString:
			appendEscaper(n, escJSONStr)
		default:
			appendEscaper(n, escJSONVal)
		}
	case *parse.IfNode:
		a, err := c.escapeJSON(n.List, s)
		if err != nil {
			return s, err
		}
		b := s
		if n.ElseList != nil {
			if b, err = c.escapeJSON(n.ElseList, s); err != nil {
				return s, err
			}
		}
		if a != b {
			return s, c.errorf(n, "the branches of if end in different places of the JSON (one inside a string, one outside)")
		}
		s = a
	}
	return s, nil
}

// urlState is where a URL template's text has got to.
type urlState int

const (
	urlScheme urlState = iota
	urlSlash1
	urlSlash2
	urlAuthority
	urlPath
	urlQuery
	urlFragment
	urlBad
)

func (s urlState) text(b []byte) urlState {
	for _, ch := range b {
		switch s {
		case urlScheme:
			if ch == ':' {
				s = urlSlash1
			}
		case urlSlash1, urlSlash2:
			if ch != '/' {
				return urlBad
			}
			s++
		case urlAuthority:
			switch ch {
			case '/':
				s = urlPath
			case '?':
				s = urlQuery
			case '#':
				s = urlFragment
			}
		case urlPath:
			switch ch {
			case '?':
				s = urlQuery
			case '#':
				s = urlFragment
			}
		case urlQuery:
			if ch == '#' {
				s = urlFragment
			}
		}
	}
	return s
}

// escapeURL adds each action's URL escaper for the part of the URL it is
// in and returns the state after n. Substitutions in the scheme or host
// are refused: they would choose where the request goes.
func (c checker) escapeURL(n parse.Node, s urlState) (urlState, error) {
	switch n := n.(type) {
	case *parse.ListNode:
		var err error
		for _, m := range n.Nodes {
			if s, err = c.escapeURL(m, s); err != nil {
				return s, err
			}
		}
	case *parse.TextNode:
		if s = s.text(n.Text); s == urlBad {
			return s, c.errorf(n, "want an http or https URL (scheme://host/path)")
		}
	case *parse.ActionNode:
		switch s {
		case urlPath:
			appendEscaper(n, escPath)
		case urlQuery, urlFragment:
			appendEscaper(n, escQuery)
		default:
			return s, c.errorf(n, "substitutions may go into the URL's path, query or fragment, not its scheme or host")
		}
	case *parse.IfNode:
		if s < urlPath {
			// Text in a branch would choose the scheme or host by the
			// data, and the host checked when the destination is loaded
			// (rendered with empty values) would not be the one called.
			return s, c.errorf(n, "if may go into the URL's path, query or fragment, not its scheme or host")
		}
		a, err := c.escapeURL(n.List, s)
		if err != nil {
			return s, err
		}
		b := s
		if n.ElseList != nil {
			if b, err = c.escapeURL(n.ElseList, s); err != nil {
				return s, err
			}
		}
		if a != b {
			return s, c.errorf(n, "the branches of if end in different parts of the URL")
		}
		s = a
	}
	return s, nil
}

// render executes t on d, stopping once the output passes maxOutput.
func (t *tmpl) render(d tmplData) (string, error) {
	w := &capWriter{max: maxOutput}
	if err := t.t.Execute(w, d); err != nil {
		if errors.Is(err, ErrTemplateOutput) {
			return "", ErrTemplateOutput
		}
		return "", err
	}
	return w.b.String(), nil
}

// capWriter is a buffer that refuses to grow past max.
type capWriter struct {
	b   bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, ErrTemplateOutput
	}
	return w.b.Write(p)
}

// withContext is the context of a step parameter: body is JSON, the rest
// is text.
func withContext(key string) tmplContext {
	if key == "body" {
		return ctxJSON
	}
	return ctxLine
}

// render parses s for ctx and renders it on d.
func render(s string, ctx tmplContext, d tmplData) (string, error) {
	t, err := parseTemplate("", s, ctx)
	if err != nil {
		return "", err
	}
	return t.render(d)
}
