// Package sigma is Vigil's model of Sigma rules (specification 2.x): the
// rule, correlation and filter documents, the detection searches with every
// value modifier resolved into plain matching patterns, the condition
// grammar, a loader for YAML files and folders with file:line:col positions
// in every error, and a linter.
//
// The model is what the detection engine (internal/detect) compiles. It is
// designed so that the engine never has to know about encodings or value
// transformations: base64, base64offset, utf16*/wide, windash and wildcard
// escapes are resolved here, and the engine sees only a matching method, a
// few flags and, per value, the alternative patterns that value stands for.
package sigma

import (
	"fmt"
	"net/netip"
	"time"
)

// Pos is a 1-based line and column in a rule file. The zero Pos means the
// position is unknown.
type Pos struct {
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
}

// IsValid reports whether p holds a position.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String returns "line:col", or "" for an unknown position.
func (p Pos) String() string {
	if !p.IsValid() {
		return ""
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}

// Kind is the type of a Sigma document.
type Kind uint8

// Document kinds.
const (
	// KindDetection is a plain Sigma rule with a logsource and a detection.
	KindDetection Kind = iota
	// KindCorrelation is a correlation (meta) rule: Rule.Correlation is set
	// and Rule.Detection is nil.
	KindCorrelation
	// KindFilter is a filter (meta filter / defeat) rule: Rule.Filter is set
	// and Rule.Detection is nil. Its Logsource is a constraint on the rules
	// it applies to.
	KindFilter
)

// String returns "detection", "correlation" or "filter".
func (k Kind) String() string {
	switch k {
	case KindDetection:
		return "detection"
	case KindCorrelation:
		return "correlation"
	case KindFilter:
		return "filter"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Rule is one Sigma document: a detection rule, a correlation rule or a
// filter, as told by Kind. A YAML file can hold several documents separated
// by "---"; each becomes its own Rule with the same Source and its own
// DocIndex.
//
// A loaded Rule is only modified by ExpandPlaceholders; otherwise it may be
// shared read-only between goroutines.
//
// String attributes are as written in the file (trimmed of nothing). Lists
// written as a single scalar (e.g. "tags: attack.t1059") are read as a list of
// one. Dates are kept as written (YYYY-MM-DD per the specification; Lint
// checks the format).
type Rule struct {
	// Source is the file the rule was read from (as given to the loader),
	// or the source name passed to Parse.
	Source string `json:"source,omitempty"`
	// DocIndex is the 0-based index of the YAML document in Source.
	DocIndex int `json:"doc_index,omitempty"`
	// Pos is the position of the first attribute of the document.
	Pos Pos `json:"pos"`

	// Kind tells which of Detection, Correlation or Filter is set.
	Kind Kind `json:"kind"`

	Title          string    `json:"title"`
	ID             string    `json:"id,omitempty"`
	Name           string    `json:"name,omitempty"`
	Related        []Related `json:"related,omitempty"`
	Taxonomy       string    `json:"taxonomy,omitempty"`
	Status         string    `json:"status,omitempty"`
	Description    string    `json:"description,omitempty"`
	License        string    `json:"license,omitempty"`
	Author         string    `json:"author,omitempty"`
	Date           string    `json:"date,omitempty"`
	Modified       string    `json:"modified,omitempty"`
	References     []string  `json:"references,omitempty"`
	Tags           []string  `json:"tags,omitempty"`
	Level          string    `json:"level,omitempty"`
	FalsePositives []string  `json:"falsepositives,omitempty"`
	Fields         []string  `json:"fields,omitempty"`
	Scope          []string  `json:"scope,omitempty"`
	Logsource      Logsource `json:"logsource"`

	// Detection is the detection section of a KindDetection rule; nil for
	// correlations and filters.
	Detection *Detection `json:"detection,omitempty"`
	// Correlation is set for KindCorrelation rules.
	Correlation *Correlation `json:"correlation,omitempty"`
	// Filter is set for KindFilter rules.
	Filter *Filter `json:"filter,omitempty"`

	// Placeholders lists, sorted and without duplicates, the names (without
	// the surrounding %) of placeholders used with the expand modifier that
	// are not resolved yet. A rule with placeholders must not be evaluated:
	// its patterns contain PartPlaceholder parts. Callers either skip it
	// (reporting ErrPlaceholder as the reason) or resolve it with
	// ExpandPlaceholders.
	Placeholders []string `json:"placeholders,omitempty"`

	// Extra holds the top-level attributes that the specification does not
	// define (custom attributes), decoded into plain Go values.
	Extra map[string]any `json:"extra,omitempty"`

	// keyPos records the position of each top-level key (for Lint).
	keyPos map[string]Pos
}

// Related is one entry of a rule's "related" list.
type Related struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Logsource is the log data a rule applies to. Product, Category and
// Service are matched by the engine (case-insensitively, an empty member
// matching anything); Definition is documentation only. Extra holds any
// other attribute found in the logsource section, as a string.
type Logsource struct {
	Product    string            `json:"product,omitempty"`
	Category   string            `json:"category,omitempty"`
	Service    string            `json:"service,omitempty"`
	Definition string            `json:"definition,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
	Pos        Pos               `json:"pos"`
}

// Detection is the detection section of a rule (or the selection part of a
// filter): named searches and the condition over them.
type Detection struct {
	// Searches maps a search identifier to its search.
	Searches map[string]*Search `json:"searches"`
	// Order lists the search identifiers in the order they appear in the file.
	Order []string `json:"order"`
	// Conditions are the rule's conditions. The specification allows a list
	// of conditions, which are linked with OR: the rule matches when any of
	// them matches. There is at least one.
	Conditions []*Condition `json:"conditions"`
	// Timeframe is the legacy detection-level "timeframe" attribute (zero if
	// absent). It only had meaning for the removed aggregation syntax and is
	// kept for information.
	Timeframe time.Duration `json:"timeframe,omitempty"`
	// Pos is the position of the "detection" key.
	Pos Pos `json:"pos"`
}

// Condition is one condition expression of a detection.
type Condition struct {
	// Text is the condition as written.
	Text string `json:"text"`
	// Pos is the position of the condition's YAML value. Offsets in the AST
	// are byte offsets into Text.
	Pos Pos `json:"pos"`
	// Expr is the parsed expression as written: it may contain Of nodes.
	Expr Cond `json:"-"`
	// Resolved is Expr with every Of node expanded against the detection's
	// search identifiers: it contains only And, Or, Not and Ref nodes, and
	// every Ref names an existing search. "1 of P" becomes an Or of the
	// matching Refs and "all of P" an And (a single match becomes the Ref
	// itself). This is the tree the engine evaluates.
	Resolved Cond `json:"-"`
}

// Search is one named search identifier of a detection. It matches when any
// of its Groups matches (OR).
//
//   - A map of fields is one Group (its items are ANDed).
//   - A list of maps is one Group per map.
//   - A list of plain values (keywords) is one Group holding one keyword
//     FieldItem (Field == "") whose Values are ORed.
//   - A map with a field-less key such as "'|all': [...]" is a Group whose
//     item has Field == "" and the written modifiers.
//
// A list mixing maps and plain values gives, in order, a Group per map and a
// Group per run of plain values.
type Search struct {
	Name   string   `json:"name"`
	Groups []*Group `json:"groups"`
	Pos    Pos      `json:"pos"`
}

// Group is a set of field items that must all match (AND).
type Group struct {
	Items []*FieldItem `json:"items"`
	Pos   Pos          `json:"pos"`
}

// Method is how a FieldItem compares an event field with its values.
type Method uint8

// Matching methods. String methods (Equals, Contains, StartsWith, EndsWith)
// compare the field's string form with each pattern; patterns may hold
// wildcards, so "Equals" is really "the whole value matches the glob".
const (
	// MethodEquals: the whole field value matches the pattern. This is the
	// method of a value without modifiers.
	MethodEquals Method = iota
	// MethodContains: the pattern matches somewhere in the value, as if it
	// were surrounded by "*".
	MethodContains
	// MethodStartsWith: the pattern matches a prefix of the value, as if it
	// were followed by "*".
	MethodStartsWith
	// MethodEndsWith: the pattern matches a suffix of the value, as if it
	// were preceded by "*".
	MethodEndsWith
	// MethodRegexp: Value.Regexp (RE2 syntax, already carrying the (?i),
	// (?m) and (?s) flags from the i/m/s modifiers) matches somewhere in
	// the value (unanchored unless the expression anchors itself).
	// Regexps are case-sensitive unless the i flag was given.
	MethodRegexp
	// MethodCIDR: the value parses as an IP address inside Value.Prefix.
	MethodCIDR
	// MethodExists: the field is present (Value.Bool == true) or absent
	// (Value.Bool == false) in the event, whatever its value, null included.
	MethodExists
	// MethodLT, MethodLTE, MethodGT, MethodGTE: the field value, read as a
	// number, is less than / at most / greater than / at least
	// Value.Number. A field that is not numeric does not match.
	MethodLT
	MethodLTE
	MethodGT
	MethodGTE
)

var methodNames = [...]string{
	MethodEquals:     "equals",
	MethodContains:   "contains",
	MethodStartsWith: "startswith",
	MethodEndsWith:   "endswith",
	MethodRegexp:     "re",
	MethodCIDR:       "cidr",
	MethodExists:     "exists",
	MethodLT:         "lt",
	MethodLTE:        "lte",
	MethodGT:         "gt",
	MethodGTE:        "gte",
}

// String returns the method's name as used in Sigma modifiers ("equals" for
// MethodEquals).
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", m)
}

// TimePart is the part of a date that the time modifiers (minute, hour,
// day, week, month, year) extract from a field before comparing it.
type TimePart uint8

// Time parts. TimeNone means the field is compared as it is.
const (
	TimeNone TimePart = iota
	TimeMinute
	TimeHour
	TimeDay
	TimeWeek
	TimeMonth
	TimeYear
)

var timePartNames = [...]string{"", "minute", "hour", "day", "week", "month", "year"}

// String returns the modifier name of the time part ("" for TimeNone).
func (t TimePart) String() string {
	if int(t) < len(timePartNames) {
		return timePartNames[t]
	}
	return fmt.Sprintf("TimePart(%d)", t)
}

// ReFlags are the sub-modifiers of the re modifier.
type ReFlags uint8

// Regular expression flags.
const (
	// ReIgnoreCase is the i sub-modifier: case-insensitive matching.
	ReIgnoreCase ReFlags = 1 << iota
	// ReMultiLine is the m sub-modifier: ^ and $ match at line boundaries.
	ReMultiLine
	// ReDotAll is the s sub-modifier: . matches a newline too.
	ReDotAll
)

// FieldItem is one "field|modifiers: values" entry of a search. It matches
// an event as follows:
//
//  1. If FieldRef is false, each Value is compared with the event's field
//     Field (for keywords, Field == "": with the event's text, see below).
//     A field that occurs several times (an array) matches when any of its
//     occurrences matches a value.
//  2. A Value matches when any of its Patterns matches (the alternatives a
//     transformation such as windash or base64offset produced), or by the
//     Value's kind for non-string values (see Value).
//  3. The item matches when any Value matches, or every Value when All is set.
//  4. When Negate is set (the neq modifier), the result of 1-3 is inverted:
//     the item matches when the field does not equal (or contain, ...) the
//     values, including when the field is absent.
//
// Keyword items (Field == "") match against the event's full text (its
// message / original line, or all string fields for structured events, as
// the engine documents). Keywords without a method modifier (plain ones, or
// with only all / cased) have Method MethodContains, since a keyword is a
// word looked for inside the event; keywords with a method modifier
// (startswith, endswith, re, ...) keep the method it says.
type FieldItem struct {
	// Field is the event field name as written, without modifiers. Empty
	// for keyword items.
	Field string `json:"field,omitempty"`
	// Modifiers are the modifiers as written, in order (e.g. ["contains",
	// "all"]).
	Modifiers []string `json:"modifiers,omitempty"`
	// Method is how values are compared.
	Method Method `json:"method"`
	// All means every value must match (the all modifier); otherwise any.
	All bool `json:"all,omitempty"`
	// Cased means string patterns are compared case-sensitively (the cased
	// modifier). Without it, string methods ignore case (Unicode simple
	// folding). It does not affect MethodRegexp, whose case handling is
	// the ReIgnoreCase flag.
	Cased bool `json:"cased,omitempty"`
	// Negate inverts the item's result (the neq modifier).
	Negate bool `json:"negate,omitempty"`
	// FieldRef means the values are names of other fields of the same event
	// (the fieldref modifier): the item compares Field with the value of
	// the field Value.Ref, using Method (Equals, Contains, StartsWith or
	// EndsWith), case-insensitively unless Cased. A referenced field that is
	// absent does not match.
	FieldRef bool `json:"fieldref,omitempty"`
	// TimePart, when set, means the field is a timestamp from which this
	// part is extracted (as a number, in the timestamp's own zone) before
	// it is compared numerically with the values using Method (Equals or
	// LT/LTE/GT/GTE).
	TimePart TimePart `json:"time_part,omitempty"`
	// ReFlags are the re sub-modifiers (i, m, s); already applied to each
	// Value.Regexp.
	ReFlags ReFlags `json:"re_flags,omitempty"`
	// Expand is true when the expand modifier was used; the values may
	// then contain placeholders (PartPlaceholder parts).
	Expand bool `json:"expand,omitempty"`
	// Values are the values as written, each resolved. There is at least one.
	Values []*Value `json:"values"`
	// Pos is the position of the item's key.
	Pos Pos `json:"pos"`

	// transforms are the transformation modifiers in order (wide written
	// as utf16le), kept to rebuild patterns when placeholders are expanded.
	transforms []string
}

// ValueKind is the YAML type of a written value.
type ValueKind uint8

// Value kinds.
const (
	// ValueString is a string value.
	ValueString ValueKind = iota
	// ValueNumber is an integer or floating point number.
	ValueNumber
	// ValueBool is true or false.
	ValueBool
	// ValueNull is null (or an empty YAML value): for an item with
	// MethodEquals it means the field is absent or null in the event.
	ValueNull
)

var valueKindNames = [...]string{"string", "number", "bool", "null"}

// String returns "string", "number", "bool" or "null".
func (k ValueKind) String() string {
	if int(k) < len(valueKindNames) {
		return valueKindNames[k]
	}
	return fmt.Sprintf("ValueKind(%d)", k)
}

// Value is one written value of a FieldItem, resolved for the item's method.
// How it matches depends on the item's Method:
//
//   - String methods (Equals, Contains, StartsWith, EndsWith): Patterns is
//     non-empty; the value matches when any pattern matches. For a number or
//     bool, Patterns holds its literal text as written ("4688", "true"), and
//     the engine should also accept a numeric field equal to Number (so that
//     "0x10" or "16.0" in an event matches 16 when the event field is typed).
//     For ValueNull (Equals only) Patterns is empty and the value matches an
//     absent or null field.
//   - MethodRegexp: Regexp.
//   - MethodCIDR: Prefix.
//   - MethodExists: Bool.
//   - MethodLT/LTE/GT/GTE, and any method with a TimePart: Number.
//   - FieldRef items: Ref.
type Value struct {
	// Kind is the YAML type of the value as written.
	Kind ValueKind `json:"kind"`
	// Raw is the value as written in the file (the scalar's text, after
	// YAML unquoting), before any modifier.
	Raw string `json:"raw"`
	// Patterns are the alternatives this value stands for after the
	// transformation modifiers (windash, base64, base64offset, utf16*,
	// wide) and wildcard parsing. Any of them matching is a match.
	Patterns []Pattern `json:"patterns,omitempty"`
	// Number is the numeric value, for numbers and numeric comparisons.
	Number float64 `json:"number,omitempty"`
	// Bool is the boolean value, for bools and exists.
	Bool bool `json:"bool,omitempty"`
	// Regexp is the RE2 expression for MethodRegexp, with the flags prefix
	// applied. It has been checked to compile with Go's regexp package.
	Regexp string `json:"regexp,omitempty"`
	// Prefix is the network for MethodCIDR (masked).
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Ref is the referenced field name for FieldRef items.
	Ref string `json:"ref,omitempty"`
	// Pos is the position of the value in the file.
	Pos Pos `json:"pos"`

	// bases are the string value's patterns before transformations (one,
	// or several after placeholder expansion).
	bases []Pattern
}

// PartKind is the kind of a Pattern part.
type PartKind uint8

// Pattern part kinds.
const (
	// PartLiteral is literal text (Part.Text), which may be any bytes
	// (UTF-16 encoded text, for instance).
	PartLiteral PartKind = iota
	// PartStar is the * wildcard: any run of characters, possibly empty.
	PartStar
	// PartQuestion is the ? wildcard: exactly one character.
	PartQuestion
	// PartPlaceholder is an unresolved %name% placeholder (Part.Text is
	// the name). Rules holding one list it in Rule.Placeholders.
	PartPlaceholder
)

// Part is one piece of a Pattern.
type Part struct {
	Kind PartKind `json:"kind"`
	Text string   `json:"text,omitempty"`
}

// Pattern is a Sigma string value after escape and wildcard parsing: a
// sequence of literal text and wildcards. Adjacent literals are merged and
// runs of * are collapsed to one, so two equal patterns have equal parts.
// The pattern is matched according to the FieldItem's Method (for
// MethodContains the pattern may match anywhere, and so on).
type Pattern struct {
	Parts []Part `json:"parts"`
}

// Correlation is the correlation section of a correlation rule.
type Correlation struct {
	// Type is the correlation type.
	Type CorrelationType `json:"type"`
	// Rules are the referenced rules, by id or name, as written. They may
	// name other correlation rules (chaining); Set.Resolve resolves them.
	Rules []string `json:"rules"`
	// GroupBy are the fields (or alias names) whose values must be equal
	// for events to be correlated. Empty means one global group.
	GroupBy []string `json:"group_by,omitempty"`
	// Timespan is the time window.
	Timespan time.Duration `json:"timespan"`
	// TimespanText is the timespan as written ("5m").
	TimespanText string `json:"timespan_text"`
	// Condition is the threshold, nil for temporal and temporal_ordered
	// correlations that do not give one (they then need every referenced
	// rule to match).
	Condition *CorrelationCondition `json:"condition,omitempty"`
	// Aliases maps an alias name to a map from rule name (or id) to the
	// field name in events of that rule.
	Aliases map[string]map[string]string `json:"aliases,omitempty"`
	// Generate is the "generate" attribute: when true, the referenced rules
	// also produce their own matches; by default only the correlation does.
	Generate bool `json:"generate,omitempty"`
	// Pos is the position of the "correlation" key.
	Pos Pos `json:"pos"`
}

// CorrelationType is the type of a correlation rule.
type CorrelationType string

// Correlation types.
const (
	CorrEventCount      CorrelationType = "event_count"
	CorrValueCount      CorrelationType = "value_count"
	CorrTemporal        CorrelationType = "temporal"
	CorrTemporalOrdered CorrelationType = "temporal_ordered"
	CorrValueSum        CorrelationType = "value_sum"
	CorrValueAvg        CorrelationType = "value_avg"
	CorrValuePercentile CorrelationType = "value_percentile"
)

// NeedsField reports whether correlations of type t need
// CorrelationCondition.Field (the value_* types).
func (t CorrelationType) NeedsField() bool {
	switch t {
	case CorrValueCount, CorrValueSum, CorrValueAvg, CorrValuePercentile:
		return true
	}
	return false
}

// CorrelationCondition is the threshold of a correlation. The measured
// quantity depends on the type: the number of events (event_count), of
// distinct values of Field (value_count), of distinct referenced rules that
// matched (temporal, temporal_ordered), or the sum / average / percentile of
// the numeric Field. All the given comparisons must hold (a range is
// written as two of them).
type CorrelationCondition struct {
	// Field are the field names (value_* types). For value_count with
	// several fields, the distinct combinations are counted.
	Field []string `json:"field,omitempty"`
	// Ops are the comparisons, in the order written; at least one.
	Ops []Threshold `json:"ops"`
	// Percentile is the optional "percentile" attribute of a
	// value_percentile condition (0-100), 0 if absent.
	Percentile float64 `json:"percentile,omitempty"`
	// Pos is the position of the "condition" key.
	Pos Pos `json:"pos"`
}

// Threshold is one comparison of a correlation condition: the measured
// quantity compared with Value by Op.
type Threshold struct {
	Op    CompareOp `json:"op"`
	Value float64   `json:"value"`
}

// CompareOp is a correlation condition operator.
type CompareOp string

// Correlation condition operators.
const (
	OpGT  CompareOp = "gt"
	OpGTE CompareOp = "gte"
	OpLT  CompareOp = "lt"
	OpLTE CompareOp = "lte"
	OpEQ  CompareOp = "eq"
	OpNEQ CompareOp = "neq"
)

// Holds reports whether x compares with v as the operator says.
func (op CompareOp) Holds(x, v float64) bool {
	switch op {
	case OpGT:
		return x > v
	case OpGTE:
		return x >= v
	case OpLT:
		return x < v
	case OpLTE:
		return x <= v
	case OpEQ:
		return x == v
	case OpNEQ:
		return x != v
	}
	return false
}

// Filter is the filter section of a filter rule. Following pySigma, a filter
// is applied to each rule it names by ANDing the filter's condition with the
// rule's condition: "(rule condition) and (filter condition)". An exclusion
// filter is therefore written "condition: not selection". The filter applies
// only to rules whose logsource satisfies every member the filter's
// Logsource sets.
type Filter struct {
	// Rules are the ids or names of the rules the filter applies to.
	Rules []string `json:"rules,omitempty"`
	// AnyRule is true when the rules attribute is absent, empty or "any":
	// the filter then applies to every rule of its logsource.
	AnyRule bool `json:"any_rule,omitempty"`
	// Detection holds the filter's searches and condition (the filter
	// section minus "rules"). Its search names are the filter's own; an
	// engine must keep them apart from the rule's.
	Detection *Detection `json:"detection"`
	// Pos is the position of the "filter" key.
	Pos Pos `json:"pos"`
}
