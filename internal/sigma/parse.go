package sigma

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Parse reads the Sigma documents in data (one or more YAML documents
// separated by "---"). source names the data in positions and errors
// (usually the file path). It returns the rules it could build and, if any
// document was invalid, an error joining one *Error per bad document: a bad
// document never hides the good ones of the same file.
//
// The legacy rule collections of Sigma 1 ("action: global", "reset" and
// "repeat" documents) are merged into plain rules.
func Parse(data []byte, source string) ([]*Rule, error) {
	docs, err := yamlDocs(data, source)
	if err != nil {
		return nil, err
	}
	var (
		rules []*Rule
		errs  []error
	)
	var global, prev *ynode
	for i, yd := range docs {
		if yd.err != nil {
			errs = append(errs, yd.err)
			continue
		}
		doc := yd.node
		b := &builder{source: source, data: data}
		if doc.kind != yMap {
			errs = append(errs, b.errorf(doc.pos, "document must be a map of rule attributes, not %s", doc.describe()))
			continue
		}
		if a := doc.get("action"); a != nil {
			switch action := a.str; action {
			case "global":
				global = without(doc, "action")
				continue
			case "reset":
				global = nil
				continue
			case "repeat":
				if prev == nil {
					errs = append(errs, b.errorf(a.pos, "action: repeat without a previous document"))
					continue
				}
				doc = mergeNodes(prev, without(doc, "action"))
			default:
				errs = append(errs, b.errorf(a.pos, "unknown action %q (want global, reset or repeat)", action))
				continue
			}
		}
		if global != nil {
			doc = mergeNodes(global, doc)
		}
		prev = doc
		r, err := b.rule(doc, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// without returns a shallow copy of the map n without key.
func without(n *ynode, key string) *ynode {
	out := *n
	out.keys = make([]ykey, 0, len(n.keys))
	for _, k := range n.keys {
		if k.name != key {
			out.keys = append(out.keys, k)
		}
	}
	return &out
}

// mergeNodes deep-merges b into a copy of a: maps are merged key by key,
// anything else in b replaces what a has.
func mergeNodes(a, b *ynode) *ynode {
	if a == nil || a.kind != yMap || b.kind != yMap {
		return b
	}
	out := *a
	out.pos = b.pos
	out.keys = slices.Clone(a.keys)
	for _, bk := range b.keys {
		found := false
		for i := range out.keys {
			if out.keys[i].name == bk.name {
				out.keys[i].val = mergeNodes(out.keys[i].val, bk.val)
				found = true
				break
			}
		}
		if !found {
			out.keys = append(out.keys, bk)
		}
	}
	return &out
}

// builder turns YAML nodes into the rule model.
type builder struct {
	source string
	data   []byte   // the file, to locate errors inside folded scalars
	lines  []string // data split into lines, on first use
}

func (b *builder) errorf(pos Pos, format string, args ...any) error {
	return &Error{Source: b.source, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) wrapf(pos Pos, err error, format string, args ...any) error {
	return &Error{Source: b.source, Pos: pos, Msg: fmt.Sprintf(format, args...), Err: err}
}

// knownTop are the top-level attributes of the three document kinds.
var knownTop = map[string]bool{
	"title": true, "id": true, "name": true, "related": true, "taxonomy": true,
	"status": true, "description": true, "license": true, "author": true,
	"references": true, "date": true, "modified": true, "logsource": true,
	"detection": true, "fields": true, "falsepositives": true, "level": true,
	"tags": true, "scope": true, "correlation": true, "filter": true,
	"generate": true,
}

func (b *builder) rule(doc *ynode, index int) (*Rule, error) {
	r := &Rule{Source: b.source, DocIndex: index, Pos: doc.pos, keyPos: map[string]Pos{}}
	for _, k := range doc.keys {
		r.keyPos[k.name] = k.pos
	}
	var err error
	str := func(key string, dst *string) {
		if err != nil {
			return
		}
		*dst, err = b.scalar(doc.get(key), key)
	}
	list := func(key string, dst *[]string) {
		if err != nil {
			return
		}
		*dst, err = b.strList(doc.get(key), key)
	}
	str("title", &r.Title)
	str("id", &r.ID)
	str("name", &r.Name)
	str("taxonomy", &r.Taxonomy)
	str("status", &r.Status)
	str("description", &r.Description)
	str("license", &r.License)
	str("date", &r.Date)
	str("modified", &r.Modified)
	str("level", &r.Level)
	list("references", &r.References)
	list("tags", &r.Tags)
	list("falsepositives", &r.FalsePositives)
	list("fields", &r.Fields)
	list("scope", &r.Scope)
	if err != nil {
		return nil, err
	}
	if a := doc.get("author"); a != nil && a.kind == ySeq {
		// Some rules list authors; the specification wants one string.
		authors, err := b.strList(a, "author")
		if err != nil {
			return nil, err
		}
		r.Author = strings.Join(authors, ", ")
	} else if r.Author, err = b.scalar(a, "author"); err != nil {
		return nil, err
	}
	if r.Related, err = b.related(doc.get("related")); err != nil {
		return nil, err
	}
	if ls := doc.get("logsource"); ls != nil {
		if r.Logsource, err = b.logsource(ls); err != nil {
			return nil, err
		}
	}
	for _, k := range doc.keys {
		if !knownTop[k.name] {
			if r.Extra == nil {
				r.Extra = map[string]any{}
			}
			r.Extra[k.name] = k.val.plain()
		}
	}

	corr, filt, det := doc.get("correlation"), doc.get("filter"), doc.get("detection")
	var sections []string
	for _, k := range doc.keys {
		if k.name == "correlation" || k.name == "filter" || k.name == "detection" {
			sections = append(sections, k.name)
		}
	}
	if len(sections) > 1 {
		return nil, b.errorf(r.keyPos[sections[1]], "a document has one of detection, correlation or filter, not %s and %s", sections[0], sections[1])
	}
	switch {
	case corr != nil:
		r.Kind = KindCorrelation
		if r.Correlation, err = b.correlation(corr, r.keyPos["correlation"]); err != nil {
			return nil, err
		}
		if g := doc.get("generate"); g != nil {
			// Accept "generate" at the top level too.
			if g.kind != yScalar || g.stype != sBool {
				return nil, b.errorf(g.pos, "generate must be true or false")
			}
			r.Correlation.Generate = g.b
		}
	case filt != nil:
		r.Kind = KindFilter
		if r.Filter, err = b.filter(filt, r.keyPos["filter"]); err != nil {
			return nil, err
		}
	case det != nil:
		r.Kind = KindDetection
		if r.Detection, err = b.detection(det, r.keyPos["detection"], "detection"); err != nil {
			return nil, err
		}
	default:
		return nil, b.errorf(doc.pos, "missing detection (or correlation / filter) section")
	}
	r.Placeholders = collectPlaceholders(r)
	return r, nil
}

// scalar reads an optional scalar attribute as a string.
func (b *builder) scalar(n *ynode, key string) (string, error) {
	if n == nil || n.kind == yNull {
		return "", nil
	}
	if n.kind != yScalar {
		return "", b.errorf(n.pos, "%s must be a string, not %s", key, n.describe())
	}
	return n.str, nil
}

// strList reads an optional list of scalars; a single scalar is a list of one.
func (b *builder) strList(n *ynode, key string) ([]string, error) {
	if n == nil || n.kind == yNull {
		return nil, nil
	}
	switch n.kind {
	case yScalar:
		return []string{n.str}, nil
	case ySeq:
		out := make([]string, 0, len(n.items))
		for _, it := range n.items {
			if it.kind == yNull {
				continue
			}
			if it.kind != yScalar {
				return nil, b.errorf(it.pos, "%s must be a list of strings, found %s", key, it.describe())
			}
			out = append(out, it.str)
		}
		return out, nil
	}
	return nil, b.errorf(n.pos, "%s must be a list of strings, not %s", key, n.describe())
}

func (b *builder) related(n *ynode) ([]Related, error) {
	if n == nil || n.kind == yNull {
		return nil, nil
	}
	if n.kind != ySeq {
		return nil, b.errorf(n.pos, "related must be a list of {id, type}")
	}
	var out []Related
	for _, it := range n.items {
		if it.kind != yMap {
			return nil, b.errorf(it.pos, "related entry must be a map with id and type")
		}
		id, err := b.scalar(it.get("id"), "related id")
		if err != nil {
			return nil, err
		}
		typ, err := b.scalar(it.get("type"), "related type")
		if err != nil {
			return nil, err
		}
		out = append(out, Related{ID: id, Type: typ})
	}
	return out, nil
}

func (b *builder) logsource(n *ynode) (Logsource, error) {
	ls := Logsource{Pos: n.pos}
	if n.kind == yNull {
		return ls, nil
	}
	if n.kind != yMap {
		return ls, b.errorf(n.pos, "logsource must be a map, not %s", n.describe())
	}
	for _, k := range n.keys {
		v, err := b.scalar(k.val, "logsource "+k.name)
		if err != nil {
			return ls, err
		}
		switch k.name {
		case "product":
			ls.Product = v
		case "category":
			ls.Category = v
		case "service":
			ls.Service = v
		case "definition":
			ls.Definition = v
		default:
			if ls.Extra == nil {
				ls.Extra = map[string]string{}
			}
			ls.Extra[k.name] = v
		}
	}
	return ls, nil
}

// detection reads a detection section (or a filter section without its
// "rules" key). what names the section in errors.
func (b *builder) detection(n *ynode, pos Pos, what string) (*Detection, error) {
	if n.kind != yMap {
		return nil, b.errorf(n.pos, "%s must be a map of searches and a condition, not %s", what, n.describe())
	}
	d := &Detection{Searches: map[string]*Search{}, Pos: pos}
	var condNode *ynode
	var condPos Pos
	for _, k := range n.keys {
		switch k.name {
		case "condition":
			condNode, condPos = k.val, k.pos
		case "timeframe":
			s, err := b.scalar(k.val, "timeframe")
			if err != nil {
				return nil, err
			}
			if d.Timeframe, err = ParseTimespan(s); err != nil {
				return nil, b.errorf(k.val.pos, "timeframe: %v", err)
			}
		case "rules":
			if what == "filter" {
				continue
			}
			fallthrough
		default:
			s, err := b.search(k)
			if err != nil {
				return nil, err
			}
			d.Searches[k.name] = s
			d.Order = append(d.Order, k.name)
		}
	}
	if condNode == nil {
		return nil, b.errorf(pos, "%s has no condition", what)
	}
	var conds []*ynode
	switch condNode.kind {
	case yScalar:
		conds = []*ynode{condNode}
	case ySeq:
		conds = condNode.items
	default:
		return nil, b.errorf(condPos, "condition must be a string or a list of strings")
	}
	if len(conds) == 0 {
		return nil, b.errorf(condPos, "empty condition list")
	}
	for _, cn := range conds {
		if cn.kind != yScalar || cn.stype != sString {
			return nil, b.errorf(cn.pos, "condition must be a string, not %s", cn.describe())
		}
		c := &Condition{Text: cn.str, Pos: cn.pos}
		expr, err := ParseCondition(c.Text)
		if err != nil {
			return nil, b.condError(cn, err)
		}
		c.Expr = expr
		if c.Resolved, err = ResolveCondition(expr, d.Order); err != nil {
			return nil, b.condError(cn, err)
		}
		d.Conditions = append(d.Conditions, c)
	}
	return d, nil
}

// condError locates a *ConditionError in the file.
func (b *builder) condError(cn *ynode, err error) error {
	var ce *ConditionError
	if !errors.As(err, &ce) {
		return b.wrapf(cn.pos, err, "condition: %v", err)
	}
	return b.wrapf(b.conditionPos(cn, ce.Offset), err, "condition: %s", ce.Msg)
}

// conditionPos maps a byte offset in a condition's text to a file position
// by walking the scalar's source text from its start: YAML folds line
// breaks and indentation of plain and folded scalars into single spaces,
// and quoting adds characters, so the text and the source differ. Without
// the source it falls back to the start position plus the offset.
func (b *builder) conditionPos(cn *ynode, off int) Pos {
	p := cn.pos
	if !p.IsValid() {
		return p
	}
	text := cn.str
	off = min(off, len(text))
	if b.lines == nil {
		b.lines = strings.Split(string(b.data), "\n")
	}
	if p.Line > len(b.lines) {
		return Pos{Line: p.Line, Col: p.Col + off}
	}
	line, col := p.Line-1, p.Col-1 // 0-based
	src := func() (byte, bool) {
		if line >= len(b.lines) || col >= len(strings.TrimRight(b.lines[line], "\r")) {
			return 0, false
		}
		return b.lines[line][col], true
	}
	nextLine := func() bool {
		if line+1 >= len(b.lines) {
			return false
		}
		line++
		col = 0
		for col < len(b.lines[line]) && (b.lines[line][col] == ' ' || b.lines[line][col] == '\t') {
			col++
		}
		return true
	}
	if c, ok := src(); ok {
		switch c {
		case '\'', '"':
			col++
		case '|', '>':
			if !nextLine() {
				return Pos{Line: p.Line, Col: p.Col + off}
			}
		}
	}
	for i := 0; i < off; i++ {
		tc := text[i]
		c, ok := src()
		if tc == ' ' || tc == '\n' || tc == '\t' {
			if ok && c == tc {
				col++
				continue
			}
			if !ok && !nextLine() {
				break
			}
			continue
		}
		// Skip source whitespace and line breaks the text does not have.
		for !ok || c == ' ' || c == '\t' {
			if !ok {
				if !nextLine() {
					return Pos{Line: line + 1, Col: col + 1}
				}
			} else {
				col++
			}
			c, ok = src()
		}
		if tc == '\'' && cn.quoted && col+1 < len(b.lines[line]) && b.lines[line][col+1] == '\'' {
			col++ // '' is an escaped single quote
		}
		col++
	}
	// Land on the token itself, not on whitespace before it.
	for off < len(text) {
		c, ok := src()
		if ok && c != ' ' && c != '\t' {
			break
		}
		if ok {
			col++
			continue
		}
		if !nextLine() {
			break
		}
	}
	return Pos{Line: line + 1, Col: col + 1}
}

// search reads one search identifier.
func (b *builder) search(k ykey) (*Search, error) {
	s := &Search{Name: k.name, Pos: k.pos}
	if k.name == "" {
		return nil, b.errorf(k.pos, "empty search identifier")
	}
	// Any other name is accepted, as pySigma does: a name that a condition
	// cannot spell (with spaces, "|", or a keyword) can still be selected
	// by "1 of" patterns. Lint warns about such names.
	n := k.val
	switch n.kind {
	case yNull:
		return nil, b.errorf(k.pos, "search %q is empty", k.name)
	case yMap:
		g, err := b.group(n, k.name)
		if err != nil {
			return nil, err
		}
		s.Groups = append(s.Groups, g)
	case yScalar:
		g, err := b.keywords([]*ynode{n})
		if err != nil {
			return nil, err
		}
		s.Groups = append(s.Groups, g)
	case ySeq:
		if len(n.items) == 0 {
			return nil, b.errorf(k.pos, "search %q is an empty list", k.name)
		}
		var run []*ynode
		flush := func() error {
			if len(run) == 0 {
				return nil
			}
			g, err := b.keywords(run)
			if err != nil {
				return err
			}
			s.Groups = append(s.Groups, g)
			run = nil
			return nil
		}
		for _, it := range n.items {
			switch it.kind {
			case yMap:
				if err := flush(); err != nil {
					return nil, err
				}
				g, err := b.group(it, k.name)
				if err != nil {
					return nil, err
				}
				s.Groups = append(s.Groups, g)
			case yScalar:
				run = append(run, it)
			default:
				return nil, b.errorf(it.pos, "search %q: list entries must be maps or values, not %s", k.name, it.describe())
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (b *builder) group(n *ynode, search string) (*Group, error) {
	if len(n.keys) == 0 {
		return nil, b.errorf(n.pos, "search %q has an empty map", search)
	}
	g := &Group{Pos: n.pos}
	for _, k := range n.keys {
		it, err := b.parseItem(k, false)
		if err != nil {
			return nil, err
		}
		g.Items = append(g.Items, it)
	}
	return g, nil
}

func (b *builder) keywords(vals []*ynode) (*Group, error) {
	key := ykey{pos: vals[0].pos, val: &ynode{kind: ySeq, pos: vals[0].pos, items: vals}}
	it, err := b.parseItem(key, true)
	if err != nil {
		return nil, err
	}
	return &Group{Items: []*FieldItem{it}, Pos: vals[0].pos}, nil
}

// ParseTimespan parses a Sigma timespan: a positive whole number followed by
// s (seconds), m (minutes), h (hours), d (days) or w (weeks), e.g. "90m".
// The legacy form M (months, taken as 30 days) and y (years, 365 days) are
// accepted too.
func ParseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return 0, fmt.Errorf("invalid timespan %q: want a number and a unit (s, m, h, d), e.g. 5m", s)
	}
	num, unit := s[:len(s)-1], s[len(s)-1]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || !isDigits(num) {
		return 0, fmt.Errorf("invalid timespan %q: want a positive whole number and a unit (s, m, h, d), e.g. 5m", s)
	}
	var u time.Duration
	switch unit {
	case 's':
		u = time.Second
	case 'm':
		u = time.Minute
	case 'h':
		u = time.Hour
	case 'd':
		u = 24 * time.Hour
	case 'w':
		u = 7 * 24 * time.Hour
	case 'M':
		u = 30 * 24 * time.Hour
	case 'y':
		u = 365 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid timespan unit %q in %q: want s, m, h or d", unit, s)
	}
	if n > int64((1<<63-1)/u) {
		return 0, fmt.Errorf("timespan %q too long", s)
	}
	return time.Duration(n) * u, nil
}

func (b *builder) correlation(n *ynode, pos Pos) (*Correlation, error) {
	if n.kind != yMap {
		return nil, b.errorf(n.pos, "correlation must be a map, not %s", n.describe())
	}
	c := &Correlation{Pos: pos}
	var typePos Pos
	for _, k := range n.keys {
		var err error
		switch k.name {
		case "type":
			var s string
			s, err = b.scalar(k.val, "type")
			c.Type, typePos = CorrelationType(s), k.pos
		case "rules":
			c.Rules, err = b.strList(k.val, "rules")
		case "group-by":
			c.GroupBy, err = b.strList(k.val, "group-by")
		case "timespan", "timeframe":
			c.TimespanText, err = b.scalar(k.val, k.name)
			if err == nil {
				c.Timespan, err = ParseTimespan(c.TimespanText)
				if err != nil {
					return nil, b.errorf(k.val.pos, "%v", err)
				}
			}
		case "condition":
			c.Condition, err = b.corrCondition(k)
		case "aliases":
			c.Aliases, err = b.aliases(k.val)
		case "generate":
			if k.val.kind != yScalar || k.val.stype != sBool {
				return nil, b.errorf(k.val.pos, "generate must be true or false")
			}
			c.Generate = k.val.b
		default:
			return nil, b.errorf(k.pos, "unknown correlation attribute %q", k.name)
		}
		if err != nil {
			return nil, err
		}
	}
	switch c.Type {
	case CorrEventCount, CorrValueCount, CorrTemporal, CorrTemporalOrdered, CorrValueSum, CorrValueAvg, CorrValuePercentile:
	case "":
		return nil, b.errorf(pos, "correlation has no type")
	default:
		return nil, b.errorf(typePos, "unknown correlation type %q (want event_count, value_count, temporal, temporal_ordered, value_sum, value_avg or value_percentile)", c.Type)
	}
	if len(c.Rules) == 0 {
		return nil, b.errorf(pos, "correlation has no rules")
	}
	if c.Timespan == 0 {
		return nil, b.errorf(pos, "correlation has no timespan")
	}
	if c.Condition == nil && c.Type != CorrTemporal && c.Type != CorrTemporalOrdered {
		return nil, b.errorf(pos, "%s correlation needs a condition", c.Type)
	}
	if c.Condition != nil {
		if c.Type.NeedsField() && len(c.Condition.Field) == 0 {
			return nil, b.errorf(c.Condition.Pos, "%s correlation condition needs a field", c.Type)
		}
		if !c.Type.NeedsField() && len(c.Condition.Field) > 0 {
			return nil, b.errorf(c.Condition.Pos, "%s correlation condition takes no field", c.Type)
		}
		if c.Condition.Percentile != 0 && c.Type != CorrValuePercentile {
			return nil, b.errorf(c.Condition.Pos, "percentile only applies to value_percentile correlations")
		}
	}
	for alias, m := range c.Aliases {
		for ruleRef := range m {
			if !slices.Contains(c.Rules, ruleRef) {
				return nil, b.errorf(pos, "alias %q names rule %q, which the correlation does not reference", alias, ruleRef)
			}
		}
	}
	return c, nil
}

func (b *builder) corrCondition(k ykey) (*CorrelationCondition, error) {
	n := k.val
	if n.kind != yMap {
		return nil, b.errorf(n.pos, "correlation condition must be a map such as {gte: 10}, not %s", n.describe())
	}
	cc := &CorrelationCondition{Pos: k.pos}
	for _, ck := range n.keys {
		switch ck.name {
		case "field":
			f, err := b.strList(ck.val, "field")
			if err != nil {
				return nil, err
			}
			cc.Field = f
		case "gt", "gte", "lt", "lte", "eq", "neq", "percentile":
			v := ck.val
			if v.kind != yScalar || (v.stype != sInt && v.stype != sFloat) {
				return nil, b.errorf(v.pos, "correlation condition %s needs a number, not %s", ck.name, v.describe())
			}
			if ck.name == "percentile" {
				if v.num < 0 || v.num > 100 {
					return nil, b.errorf(v.pos, "percentile must be between 0 and 100")
				}
				cc.Percentile = v.num
				continue
			}
			cc.Ops = append(cc.Ops, Threshold{Op: CompareOp(ck.name), Value: v.num})
		default:
			return nil, b.errorf(ck.pos, "unknown correlation condition operator %q (want gt, gte, lt, lte, eq, neq or field)", ck.name)
		}
	}
	if len(cc.Ops) == 0 {
		return nil, b.errorf(k.pos, "correlation condition has no comparison (gt, gte, lt, lte, eq, neq)")
	}
	return cc, nil
}

func (b *builder) aliases(n *ynode) (map[string]map[string]string, error) {
	if n.kind == yNull {
		return nil, nil
	}
	if n.kind != yMap {
		return nil, b.errorf(n.pos, "aliases must be a map of alias to {rule: field}")
	}
	out := map[string]map[string]string{}
	for _, a := range n.keys {
		if a.val.kind != yMap {
			return nil, b.errorf(a.val.pos, "alias %q must map rule names to field names", a.name)
		}
		m := map[string]string{}
		for _, rk := range a.val.keys {
			f, err := b.scalar(rk.val, "alias field")
			if err != nil {
				return nil, err
			}
			m[rk.name] = f
		}
		out[a.name] = m
	}
	return out, nil
}

func (b *builder) filter(n *ynode, pos Pos) (*Filter, error) {
	if n.kind != yMap {
		return nil, b.errorf(n.pos, "filter must be a map, not %s", n.describe())
	}
	f := &Filter{Pos: pos}
	rules := n.get("rules")
	switch {
	case rules == nil || rules.kind == yNull:
		f.AnyRule = true
	case rules.kind == yScalar && strings.EqualFold(rules.str, "any"):
		f.AnyRule = true
	default:
		var err error
		if f.Rules, err = b.strList(rules, "rules"); err != nil {
			return nil, err
		}
		f.AnyRule = len(f.Rules) == 0
	}
	d, err := b.detection(n, pos, "filter")
	if err != nil {
		return nil, err
	}
	f.Detection = d
	return f, nil
}

// collectPlaceholders lists the placeholder names used in r, sorted.
func collectPlaceholders(r *Rule) []string {
	set := map[string]bool{}
	for _, d := range r.detections() {
		for _, s := range d.Searches {
			for _, g := range s.Groups {
				for _, it := range g.Items {
					for _, v := range it.Values {
						for _, p := range v.Patterns {
							for _, part := range p.Parts {
								if part.Kind == PartPlaceholder {
									set[part.Text] = true
								}
							}
						}
					}
				}
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// detections returns the detection sections of r: its own, or its filter's.
func (r *Rule) detections() []*Detection {
	switch {
	case r.Detection != nil:
		return []*Detection{r.Detection}
	case r.Filter != nil && r.Filter.Detection != nil:
		return []*Detection{r.Filter.Detection}
	}
	return nil
}
