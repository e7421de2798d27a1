package intel

import (
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/event"
)

// loopback allows the tests' feed servers, which listen on 127.0.0.1:
// the egress policy refuses loopback unless an admin allows it.
var loopback = egress.MustNew("127.0.0.1/32")

// feedServer serves a feed body with an ETag and answers conditional
// requests with 304, recording what it was asked.
type feedServer struct {
	mu       sync.Mutex
	body     string
	etag     string
	status   int // when not 0, answer with this status instead
	requests int
	inm      []string // If-None-Match of each request
	auth     []string // Authorization of each request
}

func (s *feedServer) set(body, etag string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, etag, status
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	if s.status != 0 {
		http.Error(w, "broken", s.status)
		return
	}
	if s.etag != "" && r.Header.Get("If-None-Match") == s.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", s.etag)
	fmt.Fprint(w, s.body)
}

func matchIPs(m *Manager, ip string) []string {
	var got []string
	m.Match(newEvent("source.ip", ip), func(h Hit) {
		got = append(got, h.Indicator.Context.Feed+":"+h.Indicator.Value)
	})
	return got
}

func TestManagerHTTPConditional(t *testing.T) {
	fs := &feedServer{}
	fs.set("198.51.100.1\n198.51.100.2\n", `"v1"`, 0)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	var clock atomic.Int64 // Unix seconds
	clock.Store(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	m, err := New([]FeedConfig{{Name: "web", URL: srv.URL + "/feed.txt?key=secret", Headers: map[string]string{"Authorization": "Bearer t0k"}}}, Options{Egress: loopback, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		t.Fatalf("first load: %v", err)
	}
	if got := matchIPs(m, "198.51.100.2"); len(got) != 1 {
		t.Errorf("got hits %v, want web:198.51.100.2", got)
	}
	st := m.Status()[0]
	if st.Indicators != 2 || st.LastError != "" || st.LastLoad.IsZero() {
		t.Errorf("got status %+v, want 2 indicators, no error", st)
	}
	if strings.Contains(st.Source, "secret") {
		t.Errorf("got source %q, want the query left out", st.Source)
	}
	first := st.LastLoad

	// Unchanged: the server answers 304 and the indicators stay.
	clock.Add(60)
	if err := m.Load(ctx); err != nil {
		t.Fatalf("second load: %v", err)
	}
	st = m.Status()[0]
	if st.Indicators != 2 || !st.LastLoad.After(first) {
		t.Errorf("after 304: got status %+v, want 2 indicators and a later load", st)
	}
	if got := matchIPs(m, "198.51.100.1"); len(got) != 1 {
		t.Errorf("after 304: got hits %v, want web:198.51.100.1", got)
	}

	// Changed.
	fs.set("203.0.113.9\n", `"v2"`, 0)
	if err := m.Load(ctx); err != nil {
		t.Fatalf("third load: %v", err)
	}
	if got := matchIPs(m, "198.51.100.1"); len(got) != 0 {
		t.Errorf("after change: got hits %v for a removed indicator, want none", got)
	}
	if got := matchIPs(m, "203.0.113.9"); len(got) != 1 {
		t.Errorf("after change: got hits %v, want web:203.0.113.9", got)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if want := []string{"", `"v1"`, `"v1"`}; fmt.Sprint(fs.inm) != fmt.Sprint(want) {
		t.Errorf("got If-None-Match %q, want %q", fs.inm, want)
	}
	for _, a := range fs.auth {
		if a != "Bearer t0k" {
			t.Errorf("got Authorization %q, want the configured header", a)
		}
	}
}

func TestManagerBadFeedKeepsIndicators(t *testing.T) {
	fs := &feedServer{}
	fs.set("id,ip\n1,198.51.100.1\n2,198.51.100.2\n", `"v1"`, 0)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	dir := t.TempDir()
	stixPath := filepath.Join(dir, "bundle.json")
	good := `{"type":"bundle","objects":[{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '203.0.113.1']","pattern_type":"stix"}]}`
	if err := os.WriteFile(stixPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := New([]FeedConfig{
		{Name: "csv", URL: srv.URL, Format: FormatCSV, CSV: CSVColumns{Value: "ip"}, MaxSize: 200},
		{Name: "stix", Path: stixPath, Format: FormatSTIX},
	}, Options{Egress: loopback})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		t.Fatalf("first load: %v", err)
	}
	check := func(step string) {
		t.Helper()
		if got := matchIPs(m, "198.51.100.2"); len(got) != 1 {
			t.Errorf("%s: got hits %v, want csv:198.51.100.2 kept", step, got)
		}
		if got := matchIPs(m, "203.0.113.1"); len(got) != 1 {
			t.Errorf("%s: got hits %v, want stix:203.0.113.1 kept", step, got)
		}
	}
	check("good")

	bad := []struct {
		name    string
		csvBody string
		status  int
		stix    string
		wantErr string
	}{
		{"server error", "", http.StatusInternalServerError, `{"type":"bundle","objects":[{"type":"indicator","pattern":"[ipv4-addr:value = 'nope']"}]}`, "status 500"},
		{"header changed", "id,address\n1,198.51.100.1\n", 0, `{"type":"bundle","objects":[{"type":"indicator"`, "column"},
		{"too large", "id,ip\n" + strings.Repeat("1,198.51.100.1\n", 20), 0, `[not json`, "too large"},
	}
	for i, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			fs.set(b.csvBody, fmt.Sprintf(`"bad%d"`, i), b.status)
			if err := os.WriteFile(stixPath, []byte(b.stix), 0o600); err != nil {
				t.Fatal(err)
			}
			err := m.Load(ctx)
			if err == nil || !strings.Contains(err.Error(), b.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, b.wantErr)
			}
			for _, st := range m.Status() {
				if st.LastError == "" || st.Indicators != 1 && st.Name == "stix" || st.Indicators != 2 && st.Name == "csv" {
					t.Errorf("got status %+v, want an error and the previous indicators", st)
				}
			}
			check(b.name)
		})
	}

	// Recovery clears the error.
	fs.set("id,ip\n1,198.51.100.3\n", `"v9"`, 0)
	if err := os.WriteFile(stixPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	for _, st := range m.Status() {
		if st.LastError != "" {
			t.Errorf("after recovery: got status %+v, want no error", st)
		}
	}
}

// TestManagerRunReloadsUnderMatch: Run loads the feeds, then reloads a
// changed one on its refresh interval, while matchers run throughout. In a
// testing/synctest bubble: the refresh interval is fake time, and the
// matchers match once per fake millisecond, so the reloads happen among
// them.
func TestManagerRunReloadsUnderMatch(t *testing.T) {
	synctest.Test(t, testManagerRunReloadsUnderMatch)
}

func testManagerRunReloadsUnderMatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(path, []byte("198.51.100.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const refresh = time.Second
	m, err := New([]FeedConfig{{Name: "file", Path: path, Refresh: refresh}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	// Matchers run throughout the reloads.
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		matched atomic.Int64
	)
	for range 2 {
		wg.Go(func() {
			ev := newEvent("source.ip", "198.51.100.1", "destination.ip", "198.51.100.2")
			for !stop.Load() {
				m.Match(ev, func(Hit) { matched.Add(1) })
				time.Sleep(time.Millisecond) // fake time: the matcher's pace
			}
		})
	}
	synctest.Wait() // the first load is done
	if got := matchIPs(m, "198.51.100.1"); len(got) != 1 {
		t.Fatalf("after the first load: got hits %v, want file:198.51.100.1; status %+v", got, m.Status())
	}
	if err := os.WriteFile(path, []byte("198.51.100.2\n198.51.100.3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The refresh interval, with its jitter of up to 10%, passes.
	time.Sleep(refresh + refresh/10 + time.Millisecond) // fake time
	synctest.Wait()
	if got := matchIPs(m, "198.51.100.3"); len(got) != 1 {
		t.Fatalf("after the refresh interval: got hits %v, want file:198.51.100.3; status %+v", got, m.Status())
	}
	if got := matchIPs(m, "198.51.100.1"); len(got) != 0 {
		t.Errorf("got hits %v after reload, want none", got)
	}
	stop.Store(true)
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if matched.Load() == 0 {
		t.Error("concurrent matchers saw no hits")
	}
	if err := m.Run(context.Background()); err == nil {
		t.Error("second Run: got nil error, want one")
	}
}

func TestManagerConcurrentLoadAndMatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	m, err := New([]FeedConfig{{Name: "file", Path: path}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for range 2 {
		wg.Go(func() {
			ev := newEvent("source.ip", "198.51.100.1", "dns.question.name", "a.evil.example")
			for !stop.Load() {
				m.Match(ev, func(h Hit) {
					if h.Indicator == nil || h.Indicator.Context == nil {
						t.Error("hit without indicator context")
					}
				})
				_ = m.Status()
			}
		})
	}
	for i := range 20 {
		body := strings.Repeat("#\n", i) + "198.51.100.1\nevil.example\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := m.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if got := m.Index().Len(); got != 2 {
		t.Errorf("got %d indicators, want 2", got)
	}
}

func TestFeedConfigValidate(t *testing.T) {
	off := false
	tests := []struct {
		name string
		cfg  FeedConfig
		want string // substring of the error, "" for none
	}{
		{"ok path", FeedConfig{Name: "a", Path: "/x"}, ""},
		{"ok url", FeedConfig{Name: "a", URL: "https://x.example/f", Format: FormatSTIX, Enabled: &off}, ""},
		{"no name", FeedConfig{Path: "/x"}, "name not set"},
		{"no source", FeedConfig{Name: "a"}, "neither path nor url"},
		{"both", FeedConfig{Name: "a", Path: "/x", URL: "http://x.example"}, "both path and url"},
		{"ftp", FeedConfig{Name: "a", URL: "ftp://x.example/f"}, "http or https"},
		{"csv without value", FeedConfig{Name: "a", Path: "/x", Format: FormatCSV}, "value column"},
		{"bad format", FeedConfig{Name: "a", Path: "/x", Format: "yaml"}, "unknown format"},
		{"refresh", FeedConfig{Name: "a", Path: "/x", Refresh: time.Millisecond}, "refresh"},
		{"confidence", FeedConfig{Name: "a", Path: "/x", Confidence: 101}, "confidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New([]FeedConfig{{Name: "a", Path: "/x"}, {Name: "a", Path: "/y"}}, Options{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate names: got %v, want an error", err)
	}
	var f Format
	if err := f.UnmarshalText([]byte("STIX")); err != nil || f != FormatSTIX {
		t.Errorf("Format.UnmarshalText(STIX): got %v, %v", f, err)
	}
}

func TestManagerDisabledAndGzip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt.gz")
	writeGzip(t, path, "198.51.100.5\n")
	off := false
	m, err := New([]FeedConfig{
		{Name: "gz", Path: path},
		{Name: "off", Path: filepath.Join(dir, "missing"), Enabled: &off},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := matchIPs(m, "198.51.100.5"); len(got) != 1 {
		t.Errorf("got hits %v, want gz:198.51.100.5", got)
	}
	if st := m.Status()[1]; st.Enabled || !st.LastAttempt.IsZero() {
		t.Errorf("got status %+v for a disabled feed, want not attempted", st)
	}
	var nilEvent event.Event
	m.Match(&nilEvent, func(Hit) { t.Error("empty event matched") })
}

func writeGzip(t *testing.T, path, body string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestManagerHTTPIfModifiedSince(t *testing.T) {
	modified := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var (
		mu   sync.Mutex
		ims  []string
		sent int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ims = append(ims, r.Header.Get("If-Modified-Since"))
		mu.Unlock()
		// ServeContent answers 304 when If-Modified-Since is not older.
		rw := &countingWriter{ResponseWriter: w}
		http.ServeContent(rw, r, "feed.txt", modified, strings.NewReader("198.51.100.4\n"))
		mu.Lock()
		sent += rw.n
		mu.Unlock()
	}))
	defer srv.Close()
	m, err := New([]FeedConfig{{Name: "lm", URL: srv.URL}}, Options{Egress: loopback})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := m.Load(context.Background()); err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		if got := matchIPs(m, "198.51.100.4"); len(got) != 1 {
			t.Errorf("load %d: got hits %v, want lm:198.51.100.4", i, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", modified.Format(http.TimeFormat)}; fmt.Sprint(ims) != fmt.Sprint(want) {
		t.Errorf("got If-Modified-Since %q, want %q", ims, want)
	}
	if sent != len("198.51.100.4\n") {
		t.Errorf("got %d body bytes sent, want the body once", sent)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += n
	return n, err
}

// TestFeedEgress is finding 4 of issue 10 for feeds: a feed URL on an
// address the policy refuses, by name or behind a redirect from an
// allowed server, is not fetched, and the status viewers read says
// "refused" without the address.
func TestFeedEgress(t *testing.T) {
	var innerHits atomic.Int32
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		innerHits.Add(1)
		fmt.Fprintln(w, "198.51.100.9")
	}))
	defer inner.Close()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	outer := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/feed.txt", http.StatusFound)
	})}}
	outer.Start()
	defer outer.Close()
	_, port, _ := net.SplitHostPort(inner.Listener.Addr().String())
	m, err := New([]FeedConfig{
		{Name: "by-name", URL: "http://localhost:" + port + "/feed.txt"},
		{Name: "redirected", URL: outer.URL + "/feed.txt"},
	}, Options{Egress: egress.MustNew("127.0.0.2/32")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err == nil {
		t.Fatal("Load: nil error, want both feeds refused")
	}
	for _, st := range m.Status() {
		if !strings.HasSuffix(st.LastError, ": destination refused by egress policy") || strings.Contains(st.LastError, "127.0.0.1:") {
			t.Errorf("feed %s: last error %q, want the refusal without the address", st.Name, st.LastError)
		}
	}
	if n := innerHits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}
}
