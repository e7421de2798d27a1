package web

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/respond"
)

// TestManualHTTPRequestFromConsole: an analyst runs http_request from the
// incident page by choosing one of the destinations an admin configured;
// the page offers them, and the destination gets its request.
func TestManualHTTPRequestFromConsole(t *testing.T) {
	bodies := make(chan string, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- r.Method + " " + r.URL.Path + " " + string(b)
	}))
	defer recv.Close()
	var runner *respond.Runner
	e := newEnv(t, func(o *Options) {
		var err error
		runner, err = respond.New(context.Background(), o.Store.(interface{ Meta() *sql.DB }).Meta(), o.Incidents, nil, respond.Options{
			Egress:       egress.MustNew("127.0.0.1/32"), // the receiver is on loopback
			Destinations: map[string]respond.Destination{"ticketing": {URL: recv.URL + "/tickets", Body: `{"incident": "{{.Incident}}"}`}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Runner = runner
	})
	t.Cleanup(runner.Close)
	ids := e.addAlerts(t, 1)
	inc, err := e.o.Incidents.Create(context.Background(), "admin", "Needs a ticket", "high", ids)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("analyst")
	_, page := c.get("/incidents/" + inc.ID)
	if !strings.Contains(page, `<option value="ticketing">ticketing</option>`) {
		t.Fatalf("the incident page offers no destination to choose")
	}
	resp, _ := c.post("/incidents/"+inc.ID+"/actions", url.Values{"action": {"http_request"}, "destination": {"ticketing"}})
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "msg=Action+http_request%3A+ok") {
		t.Fatalf("after the action: redirected to %q, want the ok message", loc)
	}
	if got, want := <-bodies, `POST /tickets {"incident": "`+inc.ID+`"}`; got != want {
		t.Errorf("the destination got %q, want %q", got, want)
	}
	// A destination that is not configured is refused.
	resp, _ = c.post("/incidents/"+inc.ID+"/actions", url.Values{"action": {"http_request"}, "destination": {"elsewhere"}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "err=") && !strings.Contains(loc, "failed") {
		t.Errorf("an unknown destination: redirected to %q, want a refusal", loc)
	}
}
