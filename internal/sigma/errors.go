package sigma

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrPlaceholder marks a rule that uses placeholders (%name% with the
	// expand modifier) without values for them. Such rules are loaded but
	// must be skipped by the engine until ExpandPlaceholders resolves them.
	ErrPlaceholder = errors.New("rule uses placeholders without values")
	// ErrUnknownModifier is wrapped by errors about a modifier that Sigma
	// does not define.
	ErrUnknownModifier = errors.New("unknown modifier")
	// ErrInvalidModifiers is wrapped by errors about modifiers that cannot
	// be combined, or do not fit the value they are applied to.
	ErrInvalidModifiers = errors.New("invalid modifier combination")
)

// Error is an error located in a rule file. Its message reads
// "source:line:col: msg", as users see it.
type Error struct {
	// Source is the file (or source name given to Parse).
	Source string
	// Pos is where the problem is; it may be unknown.
	Pos Pos
	// Msg describes the problem.
	Msg string
	// Err is the wrapped cause, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	switch {
	case e.Source != "" && e.Pos.IsValid():
		return fmt.Sprintf("%s:%d:%d: %s", e.Source, e.Pos.Line, e.Pos.Col, e.Msg)
	case e.Source != "":
		return e.Source + ": " + e.Msg
	case e.Pos.IsValid():
		return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
