package web

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// TestSearchExportHostileFieldName: a field name from a log is a header
// cell; a formula, a comma, a quote and a line break in it are escaped as
// in any value, and the file still has one column per field.
func TestSearchExportHostileFieldName(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	hostile := "=cmd|' /C calc'!A0,\"x\"\ny"
	ev := &event.Event{Time: now, Received: now}
	ev.SetString("message", "hostile header")
	ev.SetString(hostile, "@SUM(1+1)*cmd|' /C calc'!A0")
	if err := e.db.Append(t.Context(), []*event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	resp, body := c.get("/search/export?q=hostile&range=all&format=csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CSV export: got %d: %.300s", resp.StatusCode, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV export does not parse: %v\n%s", err, body)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d records, want a header and one event: %q", len(rows), rows)
	}
	col := slices.Index(rows[0], "'"+hostile)
	if col < 0 {
		t.Fatalf("header %q: want the hostile field name prefixed with '", rows[0])
	}
	if got := rows[1][col]; got != "'@SUM(1+1)*cmd|' /C calc'!A0" {
		t.Errorf("value: got %q, want it prefixed with '", got)
	}
	if rows[0][0] != "@timestamp" {
		t.Errorf("first column: got %q, want @timestamp", rows[0][0])
	}
	// Every cell is quoted: a reader that splits lines or commas naively
	// still sees the formula inside quotes.
	if !strings.HasPrefix(body, `"@timestamp",`) || strings.Contains(body, ",=") || strings.Contains(body, "\n=") {
		t.Errorf("raw CSV has an unquoted cell or formula: %q", body)
	}
}
