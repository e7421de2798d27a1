package searchcli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// base is the time of the test events; event i is i minutes later.
var base = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testEvents are four events: three logins and a text line with no
// message field (the table shows its log.original) and hostile values.
func testEvents() []*event.Event {
	var evs []*event.Event
	for i, u := range []string{"alice", "bob", "carol"} {
		ev := &event.Event{Time: base.Add(time.Duration(i) * time.Minute)}
		ev.Set("message", event.String("login "+u))
		ev.Set("host.name", event.String("web1"))
		ev.Set("event.dataset", event.String("sshd"))
		ev.Set("user.name", event.String(u))
		ev.Set("source.ip", event.String("10.0.0."+string(rune('1'+i))))
		ev.Set("http.response.status_code", event.Int(int64(200+100*i)))
		evs = append(evs, ev)
	}
	ev := &event.Event{Time: base.Add(3 * time.Minute), Raw: "raw\x1b[2J\tline\nforged"}
	ev.Set("host.name", event.String("=HYPERLINK(\"http://evil.example\")"))
	ev.Set("user.name", event.String("mallory\u009b31m"))
	evs = append(evs, ev)
	return evs
}

// dataDir writes the test events into a new data directory.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, testEvents()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// request is what the server was asked.
type request struct {
	query url.Values
	auth  string
}

// apiServer serves the real REST API (api.New, with authentication) over
// a data directory holding the test events, and returns a viewer's
// token and the requests it was sent.
func apiServer(t *testing.T) (srv *httptest.Server, token string, sent func() []request) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dataDir(t), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	as, err := auth.Open(ctx, metatest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	token, _, err = as.CreateToken(ctx, "viewer", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Options{Store: st, Auth: as, Metrics: metrics.New()}).Register(mux)
	var (
		mu   sync.Mutex
		reqs []request
	)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, request{r.URL.Query(), r.Header.Get("Authorization")})
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, token, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return reqs
	}
}

// TestSearch checks the output of every format for the kinds of answer
// (events, a fields pipe, an aggregate), from a server and from a data
// directory: both give the same bytes.
func TestSearch(t *testing.T) {
	srv, token, _ := apiServer(t)
	dir := dataDir(t)
	tests := []struct {
		name, q, format string
		want, warn      string
	}{
		{name: "events table", q: "user.name:*", format: "table",
			want: "@TIMESTAMP            HOST.NAME                          EVENT.DATASET  MESSAGE\n" +
				"2026-03-04T05:09:07Z  =HYPERLINK(\"http://evil.example\")                 raw?[2J line forged\n" +
				"2026-03-04T05:08:07Z  web1                               sshd           login carol\n" +
				"2026-03-04T05:07:07Z  web1                               sshd           login bob\n" +
				"2026-03-04T05:06:07Z  web1                               sshd           login alice\n" +
				"4 of 4 matching events\n"},
		{name: "events csv", q: "user.name:bob OR user.name:mallory*", format: "csv",
			want: `"@timestamp","_id","event.dataset","host.name","http.response.status_code","log.original","message","source.ip","user.name"` + "\n" +
				`"2026-03-04T05:09:07Z","2026-03-04/1-000000:4","","'=HYPERLINK(""http://evil.example"")","","raw` + "\x1b[2J\tline\nforged" + `","","","mallory` + "\u009b31m\"\n" +
				`"2026-03-04T05:07:07Z","2026-03-04/1-000000:2","sshd","web1","300","","login bob","10.0.0.2","bob"` + "\n"},
		{name: "fields table", q: "* | sort user.name | fields user.name, source.ip, missing, http.response.status_code", format: "table",
			want: "USER.NAME    SOURCE.IP  MISSING  HTTP.RESPONSE.STATUS_CODE\n" +
				"alice        10.0.0.1            200\n" +
				"bob          10.0.0.2            300\n" +
				"carol        10.0.0.3            400\n" +
				"mallory?31m                      \n" +
				"4 of 4 matching events\n",
			warn: "warning: no event has field \"missing\"\n"},
		{name: "fields csv", q: "user.name:bob | fields user.name, missing, http.response.status_code", format: "csv",
			want: `"user.name","missing","http.response.status_code"` + "\n" + `"bob","","300"` + "\n",
			warn: "warning: no event has field \"missing\"\n"},
		{name: "fields ndjson", q: "user.name:(alice OR bob) | sort user.name | fields user.name, missing, http.response.status_code", format: "ndjson",
			want: `{"user.name":"alice","missing":null,"http.response.status_code":200}` + "\n" +
				`{"user.name":"bob","missing":null,"http.response.status_code":300}` + "\n",
			warn: "warning: no event has field \"missing\"\n"},
		{name: "fields json", q: "user.name:bob | fields user.name, source.ip", format: "json",
			want: `{"total":1,"columns":["user.name","source.ip"],"events":[{"user.name":"bob","source.ip":"10.0.0.2"}]}` + "\n"},
		{name: "aggregate table", q: "* | stats count() as n by host.name | sort host.name | fields n, host.name", format: "table",
			want: "N  HOST.NAME\n1  =HYPERLINK(\"http://evil.example\")\n3  web1\n"},
		{name: "aggregate csv", q: "* | stats count() as n by host.name | sort host.name", format: "csv",
			want: `"host.name","n"` + "\n" + `"'=HYPERLINK(""http://evil.example"")","1"` + "\n" + `"web1","3"` + "\n"},
		{name: "aggregate ndjson", q: "* | stats count() as n by host.name | sort host.name | fields n, host.name", format: "ndjson",
			want: `{"n":1,"host.name":"=HYPERLINK(\"http://evil.example\")"}` + "\n" + `{"n":3,"host.name":"web1"}` + "\n"},
		{name: "aggregate json", q: "event.dataset:sshd | stats count() as n", format: "json",
			want: `{"columns":["n"],"rows":[[3]]}` + "\n"},
		{name: "query warning", q: "user.name:bob and source.ip:10.0.0.2", format: "table",
			want: "@TIMESTAMP  HOST.NAME  EVENT.DATASET  MESSAGE\n0 of 0 matching events\n",
			warn: `warning: query:1:15: lowercase "and" is searched as a word; write AND for the operator` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Request{Query: tt.q, Limit: 100}
			c := &Client{Base: srv.URL, Token: token}
			fromServer, err := c.Search(context.Background(), r)
			if err != nil {
				t.Fatalf("server: %v", err)
			}
			fromDir, err := Dir(context.Background(), dir, r)
			if err != nil {
				t.Fatalf("data directory: %v", err)
			}
			for where, body := range map[string][]byte{"server": fromServer, "data directory": fromDir} {
				var out, errb bytes.Buffer
				if err := Print(&out, &errb, body, tt.format); err != nil {
					t.Fatalf("%s: Print: %v", where, err)
				}
				if diff := cmp.Diff(tt.want, out.String()); diff != "" {
					t.Errorf("%s: output (-want +got):\n%s", where, diff)
				}
				if got := errb.String(); got != tt.warn {
					t.Errorf("%s: warnings: got %q, want %q", where, got, tt.warn)
				}
			}
		})
	}
}

// TestClientRequest checks what the client sends: the query, the limit,
// the time range in RFC 3339 and the bearer token.
func TestClientRequest(t *testing.T) {
	srv, token, sent := apiServer(t)
	c := &Client{Base: srv.URL + "/", Token: token}
	from, to := base.Add(90*time.Second), base.Add(150*time.Second)
	body, err := c.Search(context.Background(), Request{Query: "user.name:*", From: from, To: to, Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"total":1,`)) || !bytes.Contains(body, []byte(`"user.name":"carol"`)) {
		t.Errorf("answer for 05:07:37-05:08:37: got %s, want carol's event only", body)
	}
	reqs := sent()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	want := url.Values{"q": {"user.name:*"}, "limit": {"7"}, "from": {"2026-03-04T05:07:37Z"}, "to": {"2026-03-04T05:08:37Z"}}
	if diff := cmp.Diff(want, reqs[0].query); diff != "" {
		t.Errorf("query parameters (-want +got):\n%s", diff)
	}
	if got, want := reqs[0].auth, "Bearer "+token; got != want {
		t.Errorf("Authorization: got %q, want %q", got, want)
	}
	// No range: no from or to parameter.
	if _, err := c.Search(context.Background(), Request{Query: "*", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if q := sent()[1].query; q.Has("from") || q.Has("to") {
		t.Errorf("query parameters without a range: got %v, want no from or to", q)
	}
}

func TestClientErrors(t *testing.T) {
	srv, token, _ := apiServer(t)
	tests := []struct {
		name    string
		c       Client
		q       string
		wantErr string
	}{
		{"no token", Client{Base: srv.URL}, "*", "server answered 401 Unauthorized: "},
		{"bad query", Client{Base: srv.URL, Token: token}, "user.name:bob | head 1", `server answered 400 Bad Request: query:1:17: unknown command "head"`},
		{"answer past the bound", Client{Base: srv.URL, Token: token, MaxAnswer: 100}, "*", "is larger than 100 bytes; narrow the request"},
		{"no server", Client{Base: "http://127.0.0.1:1"}, "*", "searching http://127.0.0.1:1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Search(context.Background(), Request{Query: tt.q, Limit: 100})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	// At the bound: the answer's own size is accepted.
	full, err := (&Client{Base: srv.URL, Token: token}).Search(context.Background(), Request{Query: "*", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Base: srv.URL, Token: token, MaxAnswer: int64(len(full))}
	if got, err := c.Search(context.Background(), Request{Query: "*", Limit: 100}); err != nil || !bytes.Equal(got, full) {
		t.Errorf("answer of exactly MaxAnswer bytes: got %d bytes, %v; want %d bytes", len(got), err, len(full))
	}
}

func TestDirErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, err := Dir(context.Background(), missing, Request{Query: "*"}); err == nil || !strings.HasPrefix(err.Error(), "--data: ") {
		t.Errorf("missing data directory: got %v, want a --data error", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a search created %s: %v", missing, err)
	}
	want := `query:1:17: unknown command "head": write "limit N" (as in | limit 10)`
	if _, err := Dir(context.Background(), dataDir(t), Request{Query: "user.name:bob | head 1"}); err == nil || err.Error() != want {
		t.Errorf("bad query: got %v, want %q", err, want)
	}
}

func TestPrintErrors(t *testing.T) {
	tests := []struct {
		name, body, format, wantErr string
	}{
		{"unknown format", `{"total":0,"events":[]}`, "xml", `unknown format "xml" (want table, json, ndjson, csv)`},
		{"not JSON", `<html>`, "table", "decoding search result: "},
		{"event not an object", `{"total":1,"events":[1]}`, "table", "decoding search result: event 0 is not an object"},
		{"row shorter than columns", `{"columns":["a","b"],"rows":[[1]]}`, "ndjson", "decoding search result: a row has 1 cells for 2 columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Print(&out, &errb, []byte(tt.body), tt.format)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestPrintHostileWarning(t *testing.T) {
	body, _ := json.Marshal(map[string]any{"total": 0, "events": []any{}, "warnings": []string{"no event has field \"x\x1b[2J\u009b\""}})
	var out, errb bytes.Buffer
	if err := Print(&out, &errb, body, "table"); err != nil {
		t.Fatal(err)
	}
	if got, want := errb.String(), "warning: no event has field \"x?[2J?\"\n"; got != want {
		t.Errorf("stderr: got %q, want %q", got, want)
	}
}

// existsStore answers an exists query with one event when its field is in
// have.
type existsStore struct {
	store.Store
	have    map[string]bool
	queries []string
}

func (s *existsStore) Search(_ context.Context, req store.SearchRequest) (*store.Result, error) {
	s.queries = append(s.queries, req.Query.String())
	t, ok := req.Query.Filter.(*query.Term)
	if ok && t.Op == query.OpExists && s.have[t.Field] {
		return &store.Result{Total: 1}, nil
	}
	return &store.Result{}, nil
}

func TestDirFields(t *testing.T) {
	event.Intern("dirfields.seen")
	st := &existsStore{have: map[string]bool{"dirfields.stored": true}}
	d := dirFields{ctx: context.Background(), st: st}
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"dirfields.seen", true},     // known to the process: no search
		{"dirfields.stored", true},   // found in the store
		{"dirfields.nowhere", false}, // in neither
	} {
		if got := d.Has(tt.name); got != tt.want {
			t.Errorf("Has(%q): got %v, want %v", tt.name, got, tt.want)
		}
	}
	if diff := cmp.Diff([]string{"dirfields.stored:*", "dirfields.nowhere:*"}, st.queries); diff != "" {
		t.Errorf("store searches (-want +got):\n%s", diff)
	}
}

// FuzzPrint feeds Print answers a server could send: it answers or
// fails, in every format, never panics, and writes no control character
// to standard error or, in a table, to standard output.
func FuzzPrint(f *testing.F) {
	for _, s := range []string{
		`{"total":1,"events":[{"_id":"a","@timestamp":"2026-11-22T10:00:00Z","message":"x"}]}`,
		`{"total":1,"columns":["a","b"],"events":[{"a":1,"b":[1,"x",null]}],"warnings":["w"]}`,
		`{"columns":["n","u"],"rows":[[1,"a"],[2]]}`,
		`{"total":1,"events":[1]}`, `{"columns":null,"rows":[[{}]]}`, `[]`, `{"warnings":["\u001b[2J"]}`,
		`{"total":1,"events":[{"message":"a\u001b[2J\tb\nc\u009b"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, format := range Formats {
			var out, errb bytes.Buffer
			Print(&out, &errb, body, format)
			check := errb.String()
			if format == "table" {
				check += out.String()
			}
			for _, r := range check {
				if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
					t.Fatalf("%s: output holds control character %U: %q", format, r, check)
				}
			}
		}
	})
}
