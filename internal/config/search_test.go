package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/searchlimit"
)

// TestValidateSearch hits every search bound at its edge: the edge is
// valid, one step past it is an error naming the key.
func TestValidateSearch(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*searchlimit.Config)
		wantErr string
	}{
		{"defaults", func(*searchlimit.Config) {}, ""},
		{"one group", func(s *searchlimit.Config) { s.MaxGroups = 1 }, ""},
		{"no groups", func(s *searchlimit.Config) { s.MaxGroups = 0 }, "search.max_groups: must be at least 1"},
		{"1MiB of memory", func(s *searchlimit.Config) { s.MaxQueryMemory = 1 << 20 }, ""},
		{"under 1MiB", func(s *searchlimit.Config) { s.MaxQueryMemory = 1<<20 - 1 }, "search.max_query_memory: must be at least 1MiB"},
		{"shortest timeout", func(s *searchlimit.Config) { s.Timeout = 100 * time.Millisecond }, ""},
		{"too short timeout", func(s *searchlimit.Config) { s.Timeout = 99 * time.Millisecond }, "search.timeout: 99ms is outside 100ms..1h"},
		{"longest timeout", func(s *searchlimit.Config) { s.Timeout = time.Hour }, ""},
		{"too long timeout", func(s *searchlimit.Config) { s.Timeout = time.Hour + time.Second }, "search.timeout: 1h0m1s is outside"},
		{"one at a time", func(s *searchlimit.Config) { s.MaxConcurrent, s.MaxConcurrentPerUser = 1, 1 }, ""},
		{"none at a time", func(s *searchlimit.Config) { s.MaxConcurrent, s.MaxConcurrentPerUser = 0, 0 }, "search.max_concurrent: must be at least 1"},
		{"per user zero", func(s *searchlimit.Config) { s.MaxConcurrentPerUser = 0 }, "search.max_concurrent_per_user: 0 is outside 1..search.max_concurrent (4)"},
		{"per user over all", func(s *searchlimit.Config) { s.MaxConcurrentPerUser = 5 }, "search.max_concurrent_per_user: 5 is outside"},
		{"no waiting", func(s *searchlimit.Config) { s.QueueWait = 0 }, ""},
		{"negative wait", func(s *searchlimit.Config) { s.QueueWait = -time.Second }, "search.queue_wait: -1s is outside 0..1m"},
		{"longest wait", func(s *searchlimit.Config) { s.QueueWait = time.Minute }, ""},
		{"too long wait", func(s *searchlimit.Config) { s.QueueWait = time.Minute + time.Second }, "search.queue_wait: 1m1s is outside"},
		{"no queue", func(s *searchlimit.Config) { s.MaxQueued = 0 }, "search.max_queued: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c.Search)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSearchKeysLoad(t *testing.T) {
	d := Default().Search
	want := searchlimit.Config{MaxGroups: 1_000_000, MaxQueryMemory: 256 << 20, Timeout: 30 * time.Second,
		MaxConcurrent: 4, MaxConcurrentPerUser: 3, QueueWait: 2 * time.Second, MaxQueued: 64}
	if d != want {
		t.Errorf("defaults: got %+v, want %+v", d, want)
	}
	path := filepath.Join(t.TempDir(), "vigil.yml")
	yml := "search:\n  max_groups: 500\n  max_query_memory: 32MiB\n  timeout: 5s\n  queue_wait: 0s\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"VIGIL_SEARCH_MAX_CONCURRENT=8", "VIGIL_SEARCH_MAX_CONCURRENT_PER_USER=2", "VIGIL_SEARCH_TIMEOUT=9s"})
	if err != nil {
		t.Fatal(err)
	}
	want = searchlimit.Config{MaxGroups: 500, MaxQueryMemory: 32 << 20, Timeout: 9 * time.Second,
		MaxConcurrent: 8, MaxConcurrentPerUser: 2, QueueWait: 0, MaxQueued: 64}
	if c.Search != want {
		t.Errorf("got %+v, want %+v (file, then environment, over defaults)", c.Search, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("got %v, want valid", err)
	}
}
