package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
)

// searchStore answers searches with search.
type searchStore struct {
	search func(ctx context.Context, req store.SearchRequest) (*store.Result, error)
}

func (f *searchStore) Append(context.Context, []*event.Event) error { return nil }
func (f *searchStore) Search(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
	return f.search(ctx, req)
}
func (f *searchStore) Stats(context.Context) (store.Stats, error) { return store.Stats{}, nil }
func (f *searchStore) Close() error                               { return nil }

// searchServer serves the API over st with limits, and returns two viewer
// tokens.
func searchServer(t *testing.T, st store.Store, limits searchlimit.Limits) (srv *httptest.Server, alice, bob string) {
	t.Helper()
	ctx := context.Background()
	as, err := auth.Open(ctx, metatest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, name := range []string{"alice", "bob"} {
		secret, _, err := as.CreateToken(ctx, name, auth.RoleViewer, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, secret)
	}
	a := New(Options{Store: st, Auth: as, Metrics: metrics.New(), Search: searchlimit.New(limits)})
	mux := http.NewServeMux()
	a.Register(mux)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, tokens[0], tokens[1]
}

func getSearch(t *testing.T, srv *httptest.Server, token, q string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/search?"+url.Values{"q": {q}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct{ Error string }
	json.Unmarshal(b, &body)
	return resp, body.Error
}

func TestSearchErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"too many groups", fmt.Errorf("searching segment %q: %w", "/data/events/x.db", &store.LimitError{Err: store.ErrTooManyGroups, Limit: 10000}),
			http.StatusUnprocessableEntity, "too many groups (limit 10000): narrow the query or raise search.max_groups"},
		{"memory", &store.LimitError{Err: store.ErrMemoryBudget, Limit: 64 << 20},
			http.StatusUnprocessableEntity, "query memory budget exceeded (limit 64 MiB): narrow the query or raise search.max_query_memory"},
		{"bad request", fmt.Errorf("offset 1 + limit 10000 over 10000: %w", store.ErrBadRequest), http.StatusBadRequest, "offset 1 + limit 10000 over 10000: bad search request"},
		{"internal", errors.New(`reading segment "/data/events/x.db": disk I/O error`), http.StatusInternalServerError, "search failed (details in the server log)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &searchStore{search: func(context.Context, store.SearchRequest) (*store.Result, error) { return nil, tt.err }}
			srv, alice, _ := searchServer(t, st, searchlimit.Limits{})
			resp, msg := getSearch(t, srv, alice, "| stats count() by source.ip")
			if resp.StatusCode != tt.status || msg != tt.msg {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, msg, tt.status, tt.msg)
			}
		})
	}
}

func TestSearchTimeout(t *testing.T) {
	st := &searchStore{search: func(ctx context.Context, _ store.SearchRequest) (*store.Result, error) {
		<-ctx.Done() // runs until the limiter's deadline
		return nil, ctx.Err()
	}}
	srv, alice, _ := searchServer(t, st, searchlimit.Limits{Timeout: 100 * time.Millisecond})
	resp, msg := getSearch(t, srv, alice, "x")
	if want := "query exceeded 0.1 s: narrow the time range or the filter, or raise search.timeout"; resp.StatusCode != http.StatusServiceUnavailable || msg != want {
		t.Errorf("got %d %q, want 503 %q", resp.StatusCode, msg, want)
	}
}

// TestSearchBusy: past the per-user bound a token is answered 429 with
// Retry-After; another token still gets its turn.
func TestSearchBusy(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	st := &searchStore{search: func(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
		if req.Query != nil && req.Query.Filter != nil && req.Query.Filter.String() == "hold" {
			started <- struct{}{}
			<-release
		}
		return &store.Result{}, nil
	}}
	srv, alice, bob := searchServer(t, st, searchlimit.Limits{MaxConcurrent: 2, MaxPerUser: 1, QueueWait: -1})
	held := make(chan int, 1)
	go func() {
		resp, _ := getSearch(t, srv, alice, "hold")
		held <- resp.StatusCode
	}()
	<-started
	resp, msg := getSearch(t, srv, alice, "x")
	if want := "too many searches of yours running (limit 1 per user): retry in 1 s"; resp.StatusCode != http.StatusTooManyRequests || msg != want {
		t.Errorf("alice's second: got %d %q, want 429 %q", resp.StatusCode, msg, want)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After: got %q, want 1", got)
	}
	if resp, msg := getSearch(t, srv, bob, "x"); resp.StatusCode != http.StatusOK {
		t.Errorf("bob: got %d %q, want 200", resp.StatusCode, msg)
	}
	close(release)
	if code := <-held; code != http.StatusOK {
		t.Errorf("alice's first: got %d, want 200", code)
	}
}
