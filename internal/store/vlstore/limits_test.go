package vlstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

func TestLimits(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	if err := db.Append(ctx, genEvents(300, 0)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		req     store.SearchRequest
		wantErr error
		limit   int64
	}{
		{"groups at the bound", store.SearchRequest{Query: mustParse(t, "| stats count() by user.name"), MaxGroups: 300}, nil, 0},
		{"groups past the bound", store.SearchRequest{Query: mustParse(t, "| stats count() by user.name"), MaxGroups: 299}, store.ErrTooManyGroups, 299},
		{"timechart groups", store.SearchRequest{Query: mustParse(t, "| timechart span=1s count() by host.name"), MaxGroups: 2}, store.ErrTooManyGroups, 2},
		{"no group bound", store.SearchRequest{Query: mustParse(t, "| stats count() by user.name"), MaxGroups: -1}, nil, 0},
		{"memory past the budget", store.SearchRequest{Query: mustParse(t, "| sort user.name"), MaxBytes: 4096}, store.ErrMemoryBudget, 4096},
		{"memory of groups", store.SearchRequest{Query: mustParse(t, "| stats dc(user.name) by seq"), MaxBytes: 2048}, store.ErrMemoryBudget, 2048},
		{"memory unbounded", store.SearchRequest{Query: mustParse(t, "| sort user.name"), MaxBytes: -1}, nil, 0},
		{"limit over MaxLimit", store.SearchRequest{Limit: store.MaxLimit + 1}, store.ErrBadRequest, 0},
		{"offset+limit over MaxLimit", store.SearchRequest{Limit: store.MaxLimit, Offset: 1}, store.ErrBadRequest, 0},
		{"negative offset", store.SearchRequest{Offset: -1}, store.ErrBadRequest, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Search(ctx, tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if tc.limit != 0 {
				le, ok := errors.AsType[*store.LimitError](err)
				if !ok || le.Limit != tc.limit {
					t.Errorf("got %#v, want a *LimitError with limit %d", err, tc.limit)
				}
			}
		})
	}
}

func TestSearchCanceled(t *testing.T) {
	db := openTest(t, "", Options{})
	if err := db.Append(context.Background(), genEvents(100, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Search(ctx, store.SearchRequest{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Search with a canceled context: got %v, want context.Canceled", err)
	}
}

// TestPaging: newest first, offset and limit, exact total, and a time
// range that bounds the events.
func TestPaging(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	if err := db.Append(ctx, genEvents(1000, 0)); err != nil {
		t.Fatal(err)
	}
	res, err := db.Search(ctx, store.SearchRequest{Limit: 10, Offset: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1000 || len(res.Events) != 10 {
		t.Fatalf("got total %d and %d events, want 1000 and 10", res.Total, len(res.Events))
	}
	if got, want := res.Events[0].Event.Str("user.name"), "u994"; got != want {
		t.Errorf("first event of page: got %s, want %s", got, want)
	}
	res, err = db.Search(ctx, store.SearchRequest{From: t0.Add(100 * time.Millisecond), To: t0.Add(199 * time.Millisecond), Query: mustParse(t, "host.name:web-1")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 34 {
		t.Errorf("host.name:web-1 in [100ms, 199ms]: got %d, want 34", res.Total)
	}
	if res.Events[0].ID == "" || res.Events[0].ID == res.Events[1].ID {
		t.Errorf("IDs %q and %q: want distinct, not empty", res.Events[0].ID, res.Events[1].ID)
	}
}

// TestAppendOutOfRange: events older than the backfill age or too far in
// the future are refused and listed, never dropped silently; the others
// are stored.
func TestAppendOutOfRange(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{Retention: 48 * time.Hour})
	now := time.Now()
	old := &event.Event{Time: now.Add(-72 * time.Hour)}
	future := &event.Event{Time: now.Add(72 * time.Hour)}
	ok := &event.Event{Time: now.Add(-time.Hour)}
	err := db.Append(ctx, []*event.Event{old, ok, future})
	pe, isPartial := errors.AsType[*store.PartialError](err)
	if !isPartial || !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("got %v, want a *PartialError wrapping ErrOutOfRange", err)
	}
	if len(pe.Unstored) != 2 || pe.Unstored[0] != old || pe.Unstored[1] != future {
		t.Errorf("Unstored: got %d events, want the old and the future one", len(pe.Unstored))
	}
	if got := count(t, db); got != 1 {
		t.Errorf("stored: got %d, want 1", got)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"retention under a day", Options{Retention: time.Hour}},
		{"negative disk bound", Options{MaxDiskBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(context.Background(), t.TempDir(), tc.opts); !errors.Is(err, store.ErrBadRequest) {
				t.Errorf("got %v, want ErrBadRequest", err)
			}
		})
	}
	t.Run("not a directory", func(t *testing.T) {
		// A file where the data directory should be: the engine would end
		// the process, Open returns an error first.
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), file, Options{})
		if err == nil || !strings.Contains(err.Error(), "opening store") {
			t.Errorf("got %v, want an error opening the store", err)
		}
	})
}

// TestInjection stores hostile values in every position and searches for
// them: each query finds exactly its events.
func TestInjection(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	hostile := []string{`" | delete`, `*`, `\`, "a\nb", `") OR *`, `x" | stats count() by (_msg)`, `_time:5m`, "\xff\xfe"}
	var evs []*event.Event
	for i, v := range hostile {
		ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Second), Raw: v, Input: v, Tags: []string{v}}
		ev.Set("user.name", event.String(v))
		ev.Set("_time", event.String(v))
		ev.Set(`odd"name*`, event.String(v))
		evs = append(evs, ev)
	}
	if err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, v := range hostile {
		for _, f := range []string{"user.name", "_time", "tags", "vigil.input", "log.original"} {
			q := f + `:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
			pq, err := query.Parse(q)
			if err != nil {
				continue // not expressible in the language
			}
			res, err := db.Search(ctx, store.SearchRequest{Query: pq})
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			ran++
			if res.Total != 1 {
				t.Errorf("%s: got %d events, want 1", q, res.Total)
			}
		}
	}
	if want := len(hostile) * 4; ran < want {
		t.Errorf("ran %d hostile queries, want at least %d", ran, want)
	}
}

// TestLocked: a second Open of a store in use fails with ErrLocked (the
// engine itself would end the process).
func TestLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	if _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: got %v, want ErrLocked", err)
	}
}
