package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPublic(t *testing.T) {
	const path = "/var/lib/vigil/events/2026-12-07/1-000000.db"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"disk full", fmt.Errorf("appending 3 events: %w: segment %q: commit: database or disk is full (13)", ErrDiskFull, path), "disk full: the event store cannot write until space is freed"},
		{"partial, disk full", &PartialError{Err: fmt.Errorf("%w: segment %q", ErrDiskFull, path)}, "disk full: the event store cannot write until space is freed"},
		{"closed", fmt.Errorf("search: %w", ErrClosed), "store closed"},
		{"bad request keeps its text", fmt.Errorf("limit 20000: %w", ErrBadRequest), "limit 20000: bad search request"},
		{"limit keeps its text", fmt.Errorf("segment %q: %w", path, &LimitError{Err: ErrTooManyGroups, Limit: 10}), "too many groups (limit 10)"},
		{"timeout", fmt.Errorf("reading %q: %w", path, context.DeadlineExceeded), "timed out"},
		{"cancelled", context.Canceled, "cancelled"},
		{"anything else", fmt.Errorf("reading segment %q: file is not a database", path), "internal storage error (details in the server log)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Public(tt.err)
			if got != tt.want {
				t.Errorf("Public(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if strings.Contains(got, "/var/lib") {
				t.Errorf("Public(%v) = %q shows a path", tt.err, got)
			}
		})
	}
}

func TestPartialErrorUnwraps(t *testing.T) {
	pe := &PartialError{Err: fmt.Errorf("x: %w", ErrDiskFull)}
	if !errors.Is(pe, ErrDiskFull) {
		t.Error("PartialError does not unwrap to its cause")
	}
}
