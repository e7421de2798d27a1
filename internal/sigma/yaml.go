package sigma

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Limits on hostile YAML.
const (
	// MaxFileSize is the largest rule file accepted, in bytes.
	MaxFileSize = 4 << 20
	// maxNodes bounds the YAML nodes of one file after alias expansion, so
	// that "billion laughs" documents cannot grow memory without bound.
	// SigmaHQ's largest rule files have a few thousand.
	maxNodes = 500_000
	// maxDepth bounds the nesting of YAML collections.
	maxDepth = 64
)

type ykind uint8

const (
	yNull ykind = iota
	yScalar
	yMap
	ySeq
)

type scalarType uint8

const (
	sString scalarType = iota
	sInt
	sFloat
	sBool
)

// ynode is a YAML node reduced to what the rule model needs, with
// positions. Aliases are expanded.
type ynode struct {
	kind ykind
	pos  Pos
	// Scalars.
	stype  scalarType
	str    string // unquoted text (for numbers: the text as written)
	num    float64
	b      bool
	quoted bool // the scalar was quoted
	// Mappings, in order.
	keys []ykey
	// Sequences.
	items []*ynode
}

type ykey struct {
	name   string
	pos    Pos
	quoted bool
	val    *ynode
}

func (n *ynode) get(key string) *ynode {
	if n == nil || n.kind != yMap {
		return nil
	}
	for i := range n.keys {
		if n.keys[i].name == key {
			return n.keys[i].val
		}
	}
	return nil
}

func (n *ynode) describe() string {
	switch n.kind {
	case yNull:
		return "null"
	case yMap:
		return "a map"
	case ySeq:
		return "a list"
	}
	switch n.stype {
	case sInt, sFloat:
		return "a number"
	case sBool:
		return "a boolean"
	}
	return "a string"
}

// plain converts n into plain Go values (for Rule.Extra).
func (n *ynode) plain() any {
	switch n.kind {
	case yMap:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k.name] = k.val.plain()
		}
		return m
	case ySeq:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = it.plain()
		}
		return s
	case yScalar:
		switch n.stype {
		case sInt:
			if n.num == math.Trunc(n.num) && math.Abs(n.num) < 1<<53 {
				return int64(n.num)
			}
			return n.num
		case sFloat:
			return n.num
		case sBool:
			return n.b
		}
		return n.str
	}
	return nil
}

func tokPos(t *token.Token) Pos {
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{Line: t.Position.Line, Col: t.Position.Column}
}

func nodePos(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return tokPos(n.GetToken())
}

// yamlDoc is one converted YAML document, or the error converting it.
type yamlDoc struct {
	node *ynode
	err  error
}

// yamlDocs parses data into documents. A syntax error fails the whole file;
// a problem converting one document (such as a duplicate key) only that
// document. It never panics: a panic inside the YAML library on hostile
// input is turned into an error.
func yamlDocs(data []byte, source string) (docs []yamlDoc, err error) {
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, &Error{Source: source, Msg: fmt.Sprintf("invalid YAML: parser failure: %v", r)}
		}
	}()
	if len(data) > MaxFileSize {
		return nil, &Error{Source: source, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(err, source)
	}
	c := &converter{source: source}
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		c.anchors = map[string]ast.Node{} // anchors are per document
		n, err := c.convert(d.Body, 0)
		if err != nil {
			docs = append(docs, yamlDoc{err: err})
			if c.nodes > maxNodes {
				break // the budget is for the whole file
			}
			continue
		}
		if n.kind == yNull {
			continue // empty document, e.g. after a trailing "---"
		}
		docs = append(docs, yamlDoc{node: n})
	}
	return docs, nil
}

func yamlError(err error, source string) error {
	var se *yaml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Source: source, Pos: tokPos(se.Token), Msg: "invalid YAML: " + se.Message, Err: err}
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &Error{Source: source, Msg: "invalid YAML: " + msg, Err: err}
}

type converter struct {
	source  string
	anchors map[string]ast.Node
	nodes   int
}

func (c *converter) errorf(pos Pos, format string, args ...any) error {
	return &Error{Source: c.source, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n ast.Node, depth int) (*ynode, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, c.errorf(nodePos(n), "file has more than %d YAML nodes (after alias expansion)", maxNodes)
	}
	if depth > maxDepth {
		return nil, c.errorf(nodePos(n), "YAML nested deeper than %d levels", maxDepth)
	}
	if n == nil {
		return &ynode{kind: yNull}, nil
	}
	pos := nodePos(n)
	switch v := n.(type) {
	case *ast.NullNode:
		return &ynode{kind: yNull, pos: pos}, nil
	case *ast.StringNode:
		return &ynode{kind: yScalar, pos: pos, stype: sString, str: v.Value, quoted: isQuoted(v.Token)}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &ynode{kind: yScalar, pos: pos, stype: sString, str: s, quoted: true}, nil
	case *ast.IntegerNode:
		y := &ynode{kind: yScalar, pos: pos, stype: sInt, str: v.Token.Value}
		switch x := v.Value.(type) {
		case int64:
			y.num = float64(x)
		case uint64:
			y.num = float64(x)
		default:
			f, err := strconv.ParseFloat(v.Token.Value, 64)
			if err != nil {
				return &ynode{kind: yScalar, pos: pos, stype: sString, str: v.Token.Value}, nil
			}
			y.num = f
		}
		return y, nil
	case *ast.FloatNode:
		return &ynode{kind: yScalar, pos: pos, stype: sFloat, str: v.Token.Value, num: v.Value}, nil
	case *ast.InfinityNode:
		return &ynode{kind: yScalar, pos: pos, stype: sFloat, str: v.Token.Value, num: v.Value}, nil
	case *ast.NanNode:
		return &ynode{kind: yScalar, pos: pos, stype: sFloat, str: v.Token.Value, num: math.NaN()}, nil
	case *ast.BoolNode:
		return &ynode{kind: yScalar, pos: pos, stype: sBool, str: v.Token.Value, b: v.Value}, nil
	case *ast.MappingNode:
		return c.mapping(v.Values, pos, depth)
	case *ast.MappingValueNode:
		return c.mapping([]*ast.MappingValueNode{v}, pos, depth)
	case *ast.SequenceNode:
		y := &ynode{kind: ySeq, pos: pos, items: make([]*ynode, 0, len(v.Values))}
		for _, it := range v.Values {
			cv, err := c.convert(it, depth+1)
			if err != nil {
				return nil, err
			}
			y.items = append(y.items, cv)
		}
		return y, nil
	case *ast.AnchorNode:
		if v.Name != nil {
			c.anchors[v.Name.GetToken().Value] = v.Value
		}
		return c.convert(v.Value, depth)
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		target, ok := c.anchors[name]
		if !ok {
			return nil, c.errorf(pos, "unknown YAML alias %q", name)
		}
		return c.convert(target, depth+1)
	case *ast.TagNode:
		return c.convert(v.Value, depth)
	case *ast.MappingKeyNode:
		return c.convert(v.Value, depth)
	case *ast.CommentNode, *ast.CommentGroupNode:
		return &ynode{kind: yNull, pos: pos}, nil
	case *ast.DocumentNode:
		return c.convert(v.Body, depth)
	}
	return nil, c.errorf(pos, "unsupported YAML construct %s", n.Type())
}

func isQuoted(t *token.Token) bool {
	return t != nil && (t.Type == token.SingleQuoteType || t.Type == token.DoubleQuoteType)
}

func (c *converter) mapping(values []*ast.MappingValueNode, pos Pos, depth int) (*ynode, error) {
	y := &ynode{kind: yMap, pos: pos, keys: make([]ykey, 0, len(values))}
	merged := map[string]bool{} // keys that came from merge keys; explicit keys override them
	for _, mv := range values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			// "<<: *anchor" merges the anchored map's keys.
			src, err := c.convert(mv.Value, depth+1)
			if err != nil {
				return nil, err
			}
			if src.kind != yMap {
				return nil, c.errorf(nodePos(mv.Value), "merge key value must be a map")
			}
			for _, k := range src.keys {
				if y.get(k.name) == nil {
					y.keys = append(y.keys, k)
					merged[k.name] = true
				}
			}
			continue
		}
		kn, err := c.convert(mv.Key, depth+1)
		if err != nil {
			return nil, err
		}
		if kn.kind == yMap || kn.kind == ySeq {
			return nil, c.errorf(kn.pos, "map key must be a scalar")
		}
		name := kn.str
		if kn.kind == yNull {
			name = ""
			if t := mv.Key.GetToken(); t != nil {
				name = t.Value
			}
		}
		val, err := c.convert(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if val.kind == yNull && !val.pos.IsValid() {
			val.pos = kn.pos
		}
		key := ykey{name: name, pos: kn.pos, quoted: kn.quoted, val: val}
		replaced := false
		for i, k := range y.keys {
			if k.name != name {
				continue
			}
			if !merged[name] {
				return nil, c.errorf(kn.pos, "duplicate key %q", name)
			}
			y.keys[i] = key
			delete(merged, name)
			replaced = true
			break
		}
		if !replaced {
			y.keys = append(y.keys, key)
		}
	}
	if len(values) > 0 && !y.pos.IsValid() && len(y.keys) > 0 {
		y.pos = y.keys[0].pos
	}
	if len(y.keys) > 0 {
		// A block mapping's token is its first ':'; its position is more
		// usefully the first key's.
		y.pos = y.keys[0].pos
	}
	return y, nil
}
