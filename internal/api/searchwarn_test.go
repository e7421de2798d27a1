package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
)

func TestAppendResultFields(t *testing.T) {
	ev := &event.Event{Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	ev.Set("user.name", event.String("bob"))
	ev.Set("source.ip", event.String("10.0.0.1"))
	ev.Set("tags", event.String("ignored: a reserved name"))
	ev.Set("port", event.Int(22))
	ev.Set("port", event.Int(2222))
	ev.Tags = []string{"prod"}
	tests := []struct {
		name string
		res  *store.Result
		ws   []string
		want string
	}{
		{
			"fields in their order",
			&store.Result{Total: 7, Columns: []string{"source.ip", "user.name", "missing", "port", "@timestamp", "tags"}, Events: []store.Hit{{ID: "d/s:1", Event: ev}}},
			nil,
			`{"total":7,"columns":["source.ip","user.name","missing","port","@timestamp","tags"],"events":[{"source.ip":"10.0.0.1","user.name":"bob","missing":null,"port":[22,2222],"@timestamp":"2026-11-22T10:00:00Z","tags":"prod"}]}`,
		},
		{
			"fields, nothing found",
			&store.Result{Columns: []string{"b", "a"}, Events: []store.Hit{}},
			[]string{`no event has field "b"`},
			`{"total":0,"columns":["b","a"],"events":[],"warnings":["no event has field \"b\""]}`,
		},
		{
			"events without fields",
			&store.Result{Total: 1, Events: []store.Hit{{ID: "d/s:1", Event: &event.Event{Time: ev.Time}}}},
			[]string{"w1", "w2"},
			`{"total":1,"events":[{"_id":"d/s:1","@timestamp":"2026-11-22T10:00:00Z"}],"warnings":["w1","w2"]}`,
		},
		{
			"aggregate",
			&store.Result{Columns: []string{"n", "user.name"}, Rows: [][]any{{int64(2), "bob"}}},
			[]string{"w"},
			`{"columns":["n","user.name"],"rows":[[2,"bob"]],"warnings":["w"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendResult(nil, tt.res, tt.ws...))
			if got != tt.want {
				t.Errorf("AppendResult:\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("AppendResult gave invalid JSON: %s", got)
			}
		})
	}
}

// TestSearchWarnings checks that GET /api/v1/search says why a query may
// have found nothing.
func TestSearchWarnings(t *testing.T) {
	event.Intern("source.ip")
	event.Intern("user.name")
	empty := &searchStore{search: func(_ context.Context, req store.SearchRequest) (*store.Result, error) {
		if req.Query.IsAggregate() {
			return &store.Result{Columns: req.Query.OutputColumns(), Rows: [][]any{}}, nil
		}
		return &store.Result{Columns: req.Query.OutputColumns(), Events: []store.Hit{}}, nil
	}}
	srv, alice, _ := searchServer(t, empty, searchlimit.Limits{})
	tests := []struct {
		q    string
		want []string
	}{
		{"user.name:bob and source.ip:10.0.0.1", []string{`query:1:15: lowercase "and" is searched as a word; write AND for the operator`}},
		{"soruce.ip:10.0.0.1", []string{`no event has field "soruce.ip"; did you mean "source.ip"?`}},
		{"user.name=root", []string{`"user.name=root" is searched as text; write user.name:root to match the field`}},
		{"user.name:bob not usr.name:x | stats count() by source.ip", []string{
			`query:1:15: lowercase "not" is searched as a word; write NOT for the operator`,
			`no event has field "usr.name"; did you mean "user.name"?`,
		}},
		{"user.name:bob", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/search?"+url.Values{"q": {tt.q}}.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+alice)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200: %s", resp.StatusCode, b)
			}
			var body struct {
				Warnings []string `json:"warnings"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			if diff := cmp.Diff(tt.want, body.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
