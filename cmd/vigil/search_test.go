package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// searchDataDir writes a data directory with three events.
func searchDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var evs []*event.Event
	for i, u := range []string{"alice", "bob", "carol"} {
		ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Minute)}
		ev.Set("message", event.String("login "+u))
		ev.Set("user.name", event.String(u))
		ev.Set("source.ip", event.String("10.0.0."+string(rune('1'+i))))
		ev.Set("http.response.status_code", event.Int(int64(200+100*i)))
		evs = append(evs, ev)
	}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runSearch runs `vigil search` in process and returns its standard
// output and error streams, and an error for an exit status other than 0.
func runSearch(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	r := runCLI(t, append([]string{"search"}, args...)...)
	if r.code != 0 {
		err = fmt.Errorf("exit status %d", r.code)
	}
	return r.stdout, r.stderr, err
}

func TestSearchFieldsOrder(t *testing.T) {
	dir := searchDataDir(t)
	q := "* | sort user.name | fields user.name, source.ip, missing, http.response.status_code"
	tests := []struct {
		format string
		want   string
	}{
		{"table", "USER.NAME  SOURCE.IP  MISSING  HTTP.RESPONSE.STATUS_CODE\n" +
			"alice      10.0.0.1            200\n" +
			"bob        10.0.0.2            300\n" +
			"carol      10.0.0.3            400\n" +
			"3 of 3 matching events\n"},
		{"csv", `"user.name","source.ip","missing","http.response.status_code"` + "\n" +
			`"alice","10.0.0.1","","200"` + "\n" +
			`"bob","10.0.0.2","","300"` + "\n" +
			`"carol","10.0.0.3","","400"` + "\n"},
		{"ndjson", `{"user.name":"alice","source.ip":"10.0.0.1","missing":null,"http.response.status_code":200}` + "\n" +
			`{"user.name":"bob","source.ip":"10.0.0.2","missing":null,"http.response.status_code":300}` + "\n" +
			`{"user.name":"carol","source.ip":"10.0.0.3","missing":null,"http.response.status_code":400}` + "\n"},
		{"json", `{"total":3,"columns":["user.name","source.ip","missing","http.response.status_code"],"events":[` +
			`{"user.name":"alice","source.ip":"10.0.0.1","missing":null,"http.response.status_code":200},` +
			`{"user.name":"bob","source.ip":"10.0.0.2","missing":null,"http.response.status_code":300},` +
			`{"user.name":"carol","source.ip":"10.0.0.3","missing":null,"http.response.status_code":400}],` +
			`"warnings":["no event has field \"missing\""]}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, errOut, err := runSearch(t, "--data", dir, "--format", tt.format, q)
			if err != nil {
				t.Fatalf("vigil search: %v\n%s", err, errOut)
			}
			if out != tt.want {
				t.Errorf("stdout:\n got %q\nwant %q", out, tt.want)
			}
			if want := "warning: no event has field \"missing\"\n"; errOut != want {
				t.Errorf("stderr: got %q, want %q", errOut, want)
			}
		})
	}
}

func TestSearchAggregateFormats(t *testing.T) {
	dir := searchDataDir(t)
	q := "* | stats count() as n by user.name | sort user.name | fields n, user.name | limit 2"
	tests := []struct{ format, want string }{
		{"table", "N  USER.NAME\n1  alice\n1  bob\n"},
		{"csv", `"n","user.name"` + "\n" + `"1","alice"` + "\n" + `"1","bob"` + "\n"},
		{"ndjson", `{"n":1,"user.name":"alice"}` + "\n" + `{"n":1,"user.name":"bob"}` + "\n"},
		{"json", `{"columns":["n","user.name"],"rows":[[1,"alice"],[1,"bob"]]}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, errOut, err := runSearch(t, "--data", dir, "--format", tt.format, q)
			if err != nil {
				t.Fatalf("vigil search: %v\n%s", err, errOut)
			}
			if out != tt.want || errOut != "" {
				t.Errorf("got stdout %q stderr %q, want stdout %q and no stderr", out, errOut, tt.want)
			}
		})
	}
}

// TestSearchWarns checks that what used to find nothing without a word
// now says why, on standard error, and that ranges work.
func TestSearchWarns(t *testing.T) {
	dir := searchDataDir(t)
	tests := []struct {
		q       string
		total   string
		wantErr string
		warn    string
	}{
		{q: "user.name:bob and source.ip:10.0.0.2", total: "0 of 0", warn: `warning: query:1:15: lowercase "and" is searched as a word; write AND for the operator` + "\n"},
		{q: "soruce.ip:10.0.0.2", total: "0 of 0", warn: `warning: no event has field "soruce.ip"; did you mean "source.ip"?` + "\n"},
		{q: "user.name=bob", total: "0 of 0", warn: `warning: "user.name=bob" is searched as text; write user.name:bob to match the field` + "\n"},
		{q: "http.response.status_code:[250 TO 400]", total: "2 of 2"},
		{q: "http.response.status_code:{300 TO 400]", total: "1 of 1"},
		{q: "http.response.status_code:[400 TO 250]", wantErr: `query:1:27: range [400 TO 250] matches no value: its lower bound "400" is not below its upper bound "250"`},
		{q: "user.name:bob | head 1", wantErr: `query:1:17: unknown command "head": write "limit N" (as in | limit 10)`},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			out, errOut, err := runSearch(t, "--data", dir, tt.q)
			if tt.wantErr != "" {
				if err == nil || errOut != "vigil: "+tt.wantErr+"\n" {
					t.Fatalf("got %v, stderr %q; want exit status 1 and stderr %q", err, errOut, "vigil: "+tt.wantErr+"\n")
				}
				return
			}
			if err != nil {
				t.Fatalf("vigil search: %v", err)
			}
			if !strings.Contains(out, tt.total+" matching events") {
				t.Errorf("stdout %q lacks %q", out, tt.total+" matching events")
			}
			if errOut != tt.warn {
				t.Errorf("stderr: got %q, want %q", errOut, tt.warn)
			}
		})
	}
}
