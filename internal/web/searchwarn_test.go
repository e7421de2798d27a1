package web

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// TestSearchPageWarnings: the search page says why a query may have found
// nothing, and a fields pipe keeps its columns in its order on the page and
// in both exports.
func TestSearchPageWarnings(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	ev := &event.Event{Time: now, Received: now}
	ev.SetString("message", "warnpage login")
	ev.SetString("user.name", "bob")
	ev.SetString("source.ip", "10.0.0.9")
	if err := e.db.Append(t.Context(), []*event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	for _, tt := range []struct{ q, want string }{
		{"user.name:bob and source.ip:10.0.0.9", `query:1:15: lowercase "and" is searched as a word; write AND for the operator`},
		{"soruce.ip:10.0.0.9", `no event has field "soruce.ip"; did you mean "source.ip"?`},
	} {
		resp, body := c.get("/search?" + url.Values{"q": {tt.q}, "range": {"all"}}.Encode())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("search %q: got %d", tt.q, resp.StatusCode)
		}
		if !strings.Contains(html.UnescapeString(body), `<p class="flash warn" role="status">`+tt.want+`</p>`) {
			t.Errorf("search %q: page lacks the warning %q", tt.q, tt.want)
		}
	}

	q := url.Values{"q": {"warnpage | fields source.ip, user.name, @timestamp"}, "range": {"all"}}
	resp, body := c.get("/search?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: got %d", resp.StatusCode)
	}
	ts := now.Format(time.RFC3339Nano)
	if !strings.Contains(body, "<th>source.ip</th><th>user.name</th><th>@timestamp</th>") ||
		!strings.Contains(body, "<td>10.0.0.9</td><td>bob</td><td>"+ts+"</td>") {
		t.Errorf("page does not show the fields in their order:\n%s", body)
	}
	if !strings.Contains(body, "1 events") {
		t.Errorf("page does not count the events")
	}

	q.Set("format", "csv")
	_, csvBody := c.get("/search/export?" + q.Encode())
	if want := `"source.ip","user.name","@timestamp"` + "\n" + `"10.0.0.9","bob","` + ts + `"` + "\n"; csvBody != want {
		t.Errorf("CSV export:\n got %q\nwant %q", csvBody, want)
	}
	q.Set("format", "json")
	_, jsonBody := c.get("/search/export?" + q.Encode())
	var raw struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal([]byte(jsonBody), &raw); err != nil || len(raw.Events) != 1 {
		t.Fatalf("JSON export %s: %v", jsonBody, err)
	}
	if got, want := string(raw.Events[0]), `{"source.ip":"10.0.0.9","user.name":"bob","@timestamp":"`+ts+`"}`; got != want {
		t.Errorf("JSON export event:\n got %s\nwant %s", got, want)
	}
}
