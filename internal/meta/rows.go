package meta

import "strings"

// RowsPerStatement is how many rows a multi-row INSERT (InsertRows)
// writes at once: a wave's batch of hundreds of actions or blocks costs a
// few statements, not hundreds, and 64 rows of up to 16 columns stay far
// below SQLite's (32,766) and PostgreSQL's (65,535) parameter limits.
const RowsPerStatement = 64

// InsertRows returns head followed by n rows of cols placeholders
// ("(?, ?), (?, ?)") and then tail: a multi-row INSERT for both engines.
// Only constants go into the text; every value is a parameter. An upsert
// (tail "ON CONFLICT ...") must not hold two rows with one key:
// PostgreSQL refuses to update a row twice in one statement.
func InsertRows(head string, n, cols int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + len(tail) + n*(cols*3+2))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	b.WriteString(tail)
	return b.String()
}
