package ids

import (
	"encoding/hex"
	"sync"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	id := New()
	if got := len(id); got != Len {
		t.Fatalf("len(New()): got %d, want %d", got, Len)
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		t.Fatalf("New(): got %q, want hexadecimal: %v", id, err)
	}
	if hex.EncodeToString(b) != id {
		t.Errorf("New(): got %q, want lower-case hexadecimal", id)
	}
}

func TestTimePrefix(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"epoch", time.UnixMilli(0), "000000000000"},
		{"one millisecond", time.UnixMilli(1), "000000000001"},
		{"2025-11-13 (1762992000000 ms)", time.Date(2025, 11, 13, 0, 0, 0, 0, time.UTC), "019a7a830c00"},
		{"sub-millisecond dropped", time.UnixMilli(1).Add(999 * time.Microsecond), "000000000001"},
		{"largest", time.UnixMilli(1<<48 - 1), "ffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newAt(tt.t)[:12]; got != tt.want {
				t.Errorf("newAt(%v) prefix: got %s, want %s", tt.t, got, tt.want)
			}
		})
	}
}

func TestSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := newAt(base)
	for i := 1; i < 2000; i++ {
		id := newAt(base.Add(time.Duration(i) * time.Millisecond))
		if id <= prev {
			t.Fatalf("id made %d ms later sorts first: %s <= %s", i, id, prev)
		}
		prev = id
	}
}

func TestUnique(t *testing.T) {
	// Many ids in the same millisecond, from several goroutines, differ in
	// their random part.
	now := time.Now()
	const workers, per = 4, 5000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*per)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := make([]string, per)
			for i := range local {
				local[i] = newAt(now)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("id %s made twice", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
	if got := len(seen); got != workers*per {
		t.Errorf("distinct ids: got %d, want %d", got, workers*per)
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		_ = New()
	}
}
