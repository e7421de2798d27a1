package query

import "errors"

// Parse parses a query. The parser is being written; this placeholder keeps
// the package compiling so that dependents can build against the AST.
func Parse(s string) (*Query, error) {
	if s == "" {
		return &Query{}, nil
	}
	return nil, errors.New("query: parser not implemented yet")
}
