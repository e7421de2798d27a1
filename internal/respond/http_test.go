package respond

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/incident"
)

// recorder is a loopback HTTP receiver that keeps what it is sent.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, uri, body string
	header            http.Header
}

func newRecorder(t *testing.T, ip string, h http.HandlerFunc) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	rec := &recorder{}
	rec.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, string(b), r.Header.Clone()})
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	})}}
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) got() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// TestHTTPRequestEscapesEntities is finding 7 of issue 10: entity values
// from logs went raw into JSON bodies and URLs. A playbook now sends the
// intended keys with the value intact, and a query with only its own
// parameter.
func TestHTTPRequestEscapesEntities(t *testing.T) {
	hr := newRecorder(t, "127.0.0.1", nil)
	f := newFixture(t, func(o *Options, _ string) {
		o.Destinations = map[string]Destination{"hr": {
			URL:     hr.URL + "/api/users/{{.Target}}/lock?user={{.Target}}",
			Method:  "post",
			Headers: map[string]string{"Authorization": "Bearer hr-token"},
			Body:    `{"user": "{{.Target}}", "approved": false, "incident": "{{.Incident}}"}`,
		}}
	})
	p, err := Parse([]byte(`name: lock-user
trigger: {on: alert}
steps:
  - {action: http_request, target: user, with: {destination: hr}}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.r.Check(p); err != nil {
		t.Fatalf("Check: %v", err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	users := []string{hostileUser, hostileQuery}
	f.r.AlertsChanged(context.Background(), []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a1", RuleID: "r", RuleTitle: "odd login", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"user": users},
	}}})
	f.r.Flush()
	reqs := hr.got()
	if len(reqs) != 2 {
		t.Fatalf("the receiver got %d requests, want 2: %+v", len(reqs), reqs)
	}
	for i, req := range reqs {
		want := users[i]
		var body map[string]any
		if err := json.Unmarshal([]byte(req.body), &body); err != nil {
			t.Fatalf("body %s: %v", req.body, err)
		}
		if diff := cmp.Diff(map[string]any{"user": want, "approved": false, "incident": f.incID}, body); diff != "" {
			t.Errorf("body %s (-want +got):\n%s", req.body, diff)
		}
		u, err := url.ParseRequestURI(req.uri)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(url.Values{"user": {want}}, u.Query()); diff != "" {
			t.Errorf("query of %s (-want +got):\n%s", req.uri, diff)
		}
		if got := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/api/users/"), "/lock"); got != want {
			t.Errorf("path %q: user segment %q, want %q", u.Path, got, want)
		}
		if req.method != "POST" || req.header.Get("Authorization") != "Bearer hr-token" || req.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s with headers %v: want POST, the destination's Authorization and JSON", req.method, req.header)
		}
	}
	for _, a := range f.actions(t) {
		if a.Status != "ok" || strings.Contains(a.Result, "hr-token") || strings.Contains(a.Result, "127.0.0.1") {
			t.Errorf("action %+v: want ok, naming the destination but not its URL or credentials", a)
		}
	}
}

// TestHTTPRequestEgress is finding 4 of issue 10 at the runner: a
// destination that resolves to an address the policy refuses is not
// called, redirects are not followed, and the recorded result does not
// tell refused, closed and filtered apart beyond "refused by policy".
func TestHTTPRequestEgress(t *testing.T) {
	inner := newRecorder(t, "127.0.0.1", nil)
	outer := newRecorder(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/internal", http.StatusFound)
	})
	_, innerPort, _ := net.SplitHostPort(inner.Listener.Addr().String())
	closed := func() string { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	f := newFixture(t, func(o *Options, _ string) {
		o.Egress = egress.MustNew("127.0.0.2/32") // the outer receiver only
		o.Destinations = map[string]Destination{
			"by-name":  {URL: "http://localhost:" + innerPort + "/x"},
			"redirect": {URL: outer.URL + "/go"},
			"closed":   {URL: "http://" + closed + "/"},
		}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		dest, want string
	}{
		{"by-name", "POST by-name: destination refused by egress policy"},
		{"redirect", "POST redirect: 302 Found (redirects are not followed)"},
		{"closed", "POST closed: request failed"},
		{"nowhere", `unknown destination "nowhere" (respond.http_destinations)`},
	} {
		a, err := f.r.Manual(ctx, f.incID, "alice", "http_request", "", 0, map[string]string{"destination": tc.dest})
		if err != nil {
			t.Fatalf("%s: %v", tc.dest, err)
		}
		if a.Status != "failed" || a.Result != tc.want {
			t.Errorf("%s: %s %q, want failed %q", tc.dest, a.Status, a.Result, tc.want)
		}
	}
	if n := len(inner.got()); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want 0", n)
	}
	if n := len(outer.got()); n != 1 {
		t.Errorf("the allowed receiver got %d requests, want 1", n)
	}
	// A literal internal address is refused when the runner starts.
	_, err := New(ctx, f.db, f.inc, nil, Options{Destinations: map[string]Destination{"meta": {URL: "http://169.254.169.254/latest/meta-data/"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "egress.allow") {
		t.Errorf("a metadata destination: got %v, want refused at start with the way to allow it", err)
	}
}

// TestManualRefusals is findings 3 and 4 of issue 10 at the runner: a
// template bomb in a manual action's parameters and an http_request with
// a URL of the analyst's choosing are refused before anything runs or is
// recorded.
func TestManualRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bomb := `{{range 50000000}}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{{end}}`
	for _, tc := range []struct {
		action string
		with   map[string]string
		want   string
	}{
		{"comment", map[string]string{"text": bomb}, "range (a loop) is not allowed"},
		{"create_task", map[string]string{"title": bomb}, "range"},
		{"notify", map[string]string{"text": bomb}, "range"},
		{"block_ip", map[string]string{"text": bomb}, "range"},
		{"http_request", map[string]string{"url": "http://169.254.169.254/latest/meta-data/", "method": "GET"}, "with.url"},
		{"http_request", map[string]string{"destination": "firewall-team", "body": `{"x": 1}`}, "with.body"},
	} {
		start := time.Now()
		_, err := f.r.Manual(ctx, f.incID, "mallory", tc.action, "203.0.113.9", 0, tc.with)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: got %v, want an error about %q", tc.action, tc.with, err, tc.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refusing took %v", tc.action, d)
		}
	}
	if as := f.actions(t); len(as) != 0 {
		t.Errorf("refused actions were recorded: %+v", as)
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("the destination got %d requests, want 0", n)
	}
}

// TestPlaybookTemplateRefusals: playbook files are checked the same way
// when they are loaded.
func TestPlaybookTemplateRefusals(t *testing.T) {
	for _, tc := range []struct{ name, steps, want string }{
		{"loop in a comment", `[{action: comment, with: {text: "{{range 9}}x{{end}}"}}]`, "step 1: "},
		{"url in http_request", `[{action: http_request, with: {url: "http://127.0.0.1/"}}]`, "with.url"},
		{"loop in a body", `[{action: http_request, with: {destination: d, body: '{"a": "{{range .Target}}{{end}}"}'}}]`, "range"},
	} {
		_, err := Parse([]byte("name: x\ntrigger: {on: manual}\nsteps: "+tc.steps+"\n"), "pb.yml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	// A destination the runner does not know is a load error too.
	f := newFixture(t)
	p, err := Parse([]byte("name: x\ntrigger: {on: manual}\nsteps: [{action: http_request, with: {destination: nowhere}}]\n"), "pb.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.r.Check(p); err == nil || !strings.Contains(err.Error(), `destination "nowhere" is not configured`) {
		t.Errorf("Check: got %v, want the missing destination named", err)
	}
}

// TestNotifyTextIsOneLinePerValue: a notify step's values are single
// lines (finding 13 of issue 10: line breaks in entity values added lines
// to mail bodies).
func TestNotifyTextIsOneLinePerValue(t *testing.T) {
	var got []string
	f := newFixture(t, func(o *Options, _ string) {
		o.Notify = func(_ context.Context, text string, _ *incident.Incident) error { got = append(got, text); return nil }
	})
	a, err := f.r.Manual(context.Background(), f.incID, "alice", "notify", "eve\r\nBcc: all@corp.example", 0, map[string]string{"text": "Look at {{.Target}}."})
	if err != nil || a.Status != "ok" {
		t.Fatalf("notify: %+v, %v", a, err)
	}
	if len(got) != 1 || got[0] != "Look at eve  Bcc: all@corp.example." {
		t.Errorf("notify text %q, want the value on the template's one line", got)
	}
}
