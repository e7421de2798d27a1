package alert

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestCheckSuppression(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	max := 30 * 24 * time.Hour
	in := func(d time.Duration) time.Time { return now.Add(d) }
	for _, tc := range []struct {
		name      string
		s         Suppression
		admin     bool
		forbidden bool   // wraps ErrForbidden
		wantErr   string // "" for none
	}{
		{"analyst, one rule, a week", Suppression{RuleID: "r1", Expires: in(7 * 24 * time.Hour)}, false, false, ""},
		{"analyst, one rule, empty query, at the limit", Suppression{RuleID: "r1", Expires: in(max)}, false, false, ""},
		{"analyst, one rule, past the limit", Suppression{RuleID: "r1", Expires: in(max + time.Second)}, false, true, "more than 30d from now"},
		{"analyst, one rule, permanent", Suppression{RuleID: "r1"}, false, true, "needs an expiry (expires) of at most 30d"},
		{"analyst, every rule", Suppression{RuleID: "*", Expires: in(time.Hour)}, false, true, `rule_id "*" silences every rule: only an admin may add it`},
		{"analyst, every rule, padded", Suppression{RuleID: " * ", Query: "user.name:backup", Expires: in(time.Hour)}, false, true, "only an admin"},
		{"analyst, every rule, permanent", Suppression{RuleID: "*"}, false, true, "only an admin"},
		{"analyst, partial wildcard", Suppression{RuleID: "ssh-*", Expires: in(time.Hour)}, false, false, "do not take wildcards"},
		{"admin, every rule, no expiry", Suppression{RuleID: "*"}, true, false, `rule_id "*" silences every rule: it needs an expiry`},
		{"admin, every rule, a year", Suppression{RuleID: "*", Expires: in(365 * 24 * time.Hour)}, true, false, ""},
		{"admin, one rule, permanent", Suppression{RuleID: "r1"}, true, false, ""},
		{"admin, partial wildcard", Suppression{RuleID: "*x"}, true, false, "do not take wildcards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			err := CheckSuppression(&s, tc.admin, now, max)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrForbidden); got != tc.forbidden {
				t.Errorf("errors.Is(err, ErrForbidden): got %v, want %v (%v)", got, tc.forbidden, err)
			}
		})
	}
}

// TestAddSuppressionPolicy: the recorder applies CheckSuppression with its
// configured limit, and stores nothing it refuses.
func TestAddSuppressionPolicy(t *testing.T) { metatest.Engines(t, testAddSuppressionPolicy) }

func testAddSuppressionPolicy(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	rec, s := newRecorder(t, metatest.Open(t), Options{Now: func() time.Time { return now }, SuppressionMaxExpiry: 24 * time.Hour})
	ctx := t.Context()
	refused := []*Suppression{
		{RuleID: "*", Reason: "all", Expires: now.Add(time.Hour)},
		{RuleID: "r1", Reason: "long", Expires: now.Add(25 * time.Hour)},
	}
	for _, sp := range refused {
		if err := rec.AddSuppression(ctx, sp, false); !errors.Is(err, ErrForbidden) {
			t.Errorf("AddSuppression(%+v) as analyst: got %v, want ErrForbidden", sp, err)
		}
	}
	if err := rec.AddSuppression(ctx, &Suppression{RuleID: "r1", Reason: "day", Expires: now.Add(24 * time.Hour)}, false); err != nil {
		t.Errorf("analyst, one rule, a day: %v", err)
	}
	if err := rec.AddSuppression(ctx, &Suppression{RuleID: "*", Reason: "maintenance", Expires: now.Add(48 * time.Hour)}, true); err != nil {
		t.Errorf("admin, every rule, two days: %v", err)
	}
	list, err := s.ListSuppressions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range list {
		got = append(got, sp.RuleID+" "+sp.Reason)
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, ","), "r1 day") || !strings.Contains(strings.Join(got, ","), "* maintenance") {
		t.Errorf("stored: got %q, want the analyst's day on r1 and the admin's maintenance on *", got)
	}
}
