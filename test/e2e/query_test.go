package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// queryFixture is a server holding three web events, and the way to ask
// it through the API and through `vigil search --server`.
type queryFixture struct {
	s *server
}

func newQueryFixture(t *testing.T) *queryFixture {
	t.Helper()
	s := startServer(t, serverOpts{})
	events := `{"message":"ql GET /admin 404","marker":"ql","user.name":"bob","host.name":"web1","source.ip":"10.0.0.1","http.response.status_code":404}
{"message":"ql GET / 200","marker":"ql","user.name":"alice","host.name":"web2","source.ip":"10.0.0.2","http.response.status_code":200}
{"message":"ql POST /login 500","marker":"ql","user.name":"carol","host.name":"web1","source.ip":"10.0.0.3","http.response.status_code":500}
`
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(events))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	if r := s.waitTotal("marker:ql", 3, 20*time.Second); r.Total != 3 {
		t.Fatalf("events not searchable: total %d, want 3", r.Total)
	}
	return &queryFixture{s: s}
}

// apiResult is GET /api/v1/search's answer, or its error.
type apiResult struct {
	status   int
	Total    int64             `json:"total"`
	Columns  []string          `json:"columns"`
	Events   []json.RawMessage `json:"events"`
	Warnings []string          `json:"warnings"`
	Error    string            `json:"error"`
}

func (f *queryFixture) api(t *testing.T, q string) apiResult {
	t.Helper()
	resp, b := f.s.request("GET", "/api/v1/search?"+url.Values{"q": {q}}.Encode(), testToken, nil)
	r := apiResult{status: resp.StatusCode}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("search %q: HTTP %d: %v: %s", q, resp.StatusCode, err, b)
	}
	return r
}

// cli runs vigil search against the server and returns its standard
// output, standard error and exit status.
func (f *queryFixture) cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	args = append([]string{"search", "--server", "http://" + f.s.http, "--token", testToken, "--since", "1h"}, args...)
	cmd := exec.Command(vigilBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running vigil search: %v", err)
	}
	return out.String(), errb.String(), code
}

// TestQueryLang reproduces the queries that found nothing without a word
// (issue 11) and checks that each now finds its events, fails with a
// message that says what to write, or warns, through the API and through
// `vigil search --server`.
func TestQueryLang(t *testing.T) {
	f := newQueryFixture(t)

	t.Run("SilentEmpty", func(t *testing.T) {
		tests := []struct {
			name  string
			q     string
			total int64
			warn  string // a warning that must be given, "" for none
			err   string // the error, "" when the query runs
		}{
			{
				name: "lowercase and",
				q:    "user.name:bob and host.name:web1",
				warn: `query:1:15: lowercase "and" is searched as a word; write AND for the operator`,
			},
			{
				name: "lowercase or",
				q:    "user.name:bob or user.name:alice",
				warn: `query:1:15: lowercase "or" is searched as a word; write OR for the operator`,
			},
			{name: "upper-case AND", q: "user.name:bob AND host.name:web1", total: 1},
			{name: "range", q: "marker:ql http.response.status_code:[400 TO 499]", total: 1},
			{name: "range, both sides exclusive", q: "marker:ql http.response.status_code:{200 TO 500}", total: 1},
			{name: "range, open side", q: "marker:ql http.response.status_code:[400 TO *]", total: 2},
			{
				name: "empty range",
				q:    "http.response.status_code:[499 TO 400]",
				err:  `query:1:27: range [499 TO 400] matches no value: its lower bound "499" is not below its upper bound "400"`,
			},
			{
				name: "misspelled field",
				q:    "soruce.ip:10.0.0.1",
				warn: `no event has field "soruce.ip"; did you mean "source.ip"?`,
			},
			{
				name: "field=value",
				q:    "user.name=bob",
				warn: `"user.name=bob" is searched as text; write user.name:bob to match the field`,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := f.api(t, tt.q)
				out, stderr, code := f.cli(t, tt.q)
				if tt.err != "" {
					if r.status != 400 || r.Error != tt.err {
						t.Errorf("API: got HTTP %d %q, want 400 %q", r.status, r.Error, tt.err)
					}
					if code == 0 || !strings.Contains(stderr, tt.err) {
						t.Errorf("vigil search: exit %d, stderr %q; want a failure with %q", code, stderr, tt.err)
					}
					return
				}
				if r.status != 200 || r.Total != tt.total {
					t.Fatalf("API: got HTTP %d total %d (%s), want 200 total %d", r.status, r.Total, r.Error, tt.total)
				}
				if code != 0 {
					t.Fatalf("vigil search: exit %d: %s", code, stderr)
				}
				var wantWarnings []string
				wantStderr := ""
				if tt.warn != "" {
					wantWarnings = []string{tt.warn}
					wantStderr = "warning: " + tt.warn + "\n"
				}
				if !slices.Equal(r.Warnings, wantWarnings) {
					t.Errorf("API warnings: got %q, want %q", r.Warnings, wantWarnings)
				}
				if stderr != wantStderr {
					t.Errorf("vigil search stderr: got %q, want %q", stderr, wantStderr)
				}
				if want := " of " + str(float64(tt.total)) + " matching events\n"; !strings.HasSuffix(out, want) {
					t.Errorf("vigil search stdout %q: want it to end with %q", out, want)
				}
			})
		}
	})

	// What people type from Lucene, KQL and SPL: it works, or it fails
	// with what to write instead.
	t.Run("ForeignSyntax", func(t *testing.T) {
		tests := []struct {
			q     string
			total int64
			err   string
		}{
			{q: "marker:ql user.name:b*", total: 1},
			{q: "marker:ql _exists_:user.name", total: 3},
			{q: "marker:ql http.response.status_code:>404", total: 1},
			{q: "marker:ql NOT user.name:bob", total: 2},
			{q: "marker:ql -user.name:bob", total: 2},
			{q: `user.name="bob"`, err: `query:1:1: "user.name=" before a quoted value is not a comparison: write user.name:"..." to match the field, or quote the whole text to search for it`},
			{q: "marker:ql && user.name:bob", err: `query:1:11: "&&" is not an operator: write AND`},
			{q: "marker:ql | where user.name:bob", err: `query:1:13: unknown command "where": put conditions in the filter before the first "|" (as in status>=500 | stats count())`},
			{q: "marker:ql | head 10", err: `query:1:13: unknown command "head": write "limit N" (as in | limit 10)`},
			{q: "marker:ql | top user.name", err: `query:1:13: unknown command "top": write "stats count() by FIELD | sort -count | limit 10"`},
		}
		for _, tt := range tests {
			t.Run(tt.q, func(t *testing.T) {
				r := f.api(t, tt.q)
				if tt.err != "" {
					if r.status != 400 || r.Error != tt.err {
						t.Errorf("API: got HTTP %d %q, want 400 %q", r.status, r.Error, tt.err)
					}
					if _, stderr, code := f.cli(t, tt.q); code == 0 || !strings.Contains(stderr, tt.err) {
						t.Errorf("vigil search: exit %d, stderr %q; want a failure with %q", code, stderr, tt.err)
					}
					return
				}
				if r.status != 200 || r.Total != tt.total || len(r.Warnings) != 0 {
					t.Errorf("API: got HTTP %d total %d warnings %q (%s), want 200 total %d and no warnings", r.status, r.Total, r.Warnings, r.Error, tt.total)
				}
			})
		}
	})

	// `| fields a, b` keeps exactly those columns, in that order, in every
	// output format.
	t.Run("FieldsOrder", func(t *testing.T) {
		q := "marker:ql | sort user.name | fields user.name, source.ip, http.response.status_code"
		cols := []string{"user.name", "source.ip", "http.response.status_code"}
		wantRows := [][]string{{"alice", "10.0.0.2", "200"}, {"bob", "10.0.0.1", "404"}, {"carol", "10.0.0.3", "500"}}
		wantObjects := []string{
			`{"user.name":"alice","source.ip":"10.0.0.2","http.response.status_code":200}`,
			`{"user.name":"bob","source.ip":"10.0.0.1","http.response.status_code":404}`,
			`{"user.name":"carol","source.ip":"10.0.0.3","http.response.status_code":500}`,
		}

		r := f.api(t, q)
		if !slices.Equal(r.Columns, cols) || len(r.Events) != 3 {
			t.Fatalf("API: columns %q, %d events; want %q and 3", r.Columns, len(r.Events), cols)
		}
		for i, ev := range r.Events {
			if string(ev) != wantObjects[i] {
				t.Errorf("API event %d:\n got %s\nwant %s", i, ev, wantObjects[i])
			}
		}

		out, stderr, code := f.cli(t, "--format", "table", q)
		if code != 0 {
			t.Fatalf("table: exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 5 || !slices.Equal(strings.Fields(lines[0]), []string{"USER.NAME", "SOURCE.IP", "HTTP.RESPONSE.STATUS_CODE"}) {
			t.Fatalf("table: want a header of the three columns, three rows and a count:\n%s", out)
		}
		for i, row := range wantRows {
			if got := strings.Fields(lines[i+1]); !slices.Equal(got, row) {
				t.Errorf("table row %d: got %q, want %q", i, got, row)
			}
		}

		out, stderr, code = f.cli(t, "--format", "csv", q)
		if code != 0 {
			t.Fatalf("csv: exit %d: %s", code, stderr)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) != 4 || !slices.Equal(recs[0], cols) {
			t.Fatalf("csv: %v; want a header %q and three rows:\n%s", err, cols, out)
		}
		for i, row := range wantRows {
			if !slices.Equal(recs[i+1], row) {
				t.Errorf("csv row %d: got %q, want %q", i, recs[i+1], row)
			}
		}

		out, stderr, code = f.cli(t, "--format", "json", q)
		if code != 0 {
			t.Fatalf("json: exit %d: %s", code, stderr)
		}
		var body apiResult
		if err := json.Unmarshal([]byte(out), &body); err != nil || !slices.Equal(body.Columns, cols) || len(body.Events) != 3 {
			t.Fatalf("json: %v; want columns %q and three events:\n%s", err, cols, out)
		}
		for i, ev := range body.Events {
			if string(ev) != wantObjects[i] {
				t.Errorf("json event %d:\n got %s\nwant %s", i, ev, wantObjects[i])
			}
		}

		out, stderr, code = f.cli(t, "--format", "ndjson", q)
		if code != 0 {
			t.Fatalf("ndjson: exit %d: %s", code, stderr)
		}
		if want := strings.Join(wantObjects, "\n") + "\n"; out != want {
			t.Errorf("ndjson:\n got %s\nwant %s", out, want)
		}
	})
}
