package auth

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// storeSession adds a console session as package web makes it, and
// returns its short ID.
func storeSession(t testing.TB, db *sql.DB, user, secret string, created, lastSeen time.Time) string {
	t.Helper()
	h := sha256.Sum256([]byte(secret))
	id := SessionID(h[:])
	_, err := db.Exec(`INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen, short_id, source, user_agent) VALUES (?, ?, 'csrf', ?, ?, ?, '192.0.2.1', 'test agent')`,
		h[:], user, created.UnixNano(), lastSeen.UnixNano(), id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSessionID(t *testing.T) {
	h := sha256.Sum256([]byte("secret"))
	got := SessionID(h[:])
	if len(got) != SessionIDLength || got != fmt.Sprintf("%x", h[:8]) {
		t.Fatalf("SessionID: got %q, want the first 8 bytes of the hash in hex", got)
	}
	if _, err := ParseSessionID(got); err != nil {
		t.Errorf("ParseSessionID(SessionID): %v", err)
	}
}

func TestParseSessionID(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"0123456789abcdef", false},
		{"0123456789ABCDEF", true}, // listings are lower case
		{"0123456789abcde", true},
		{"0123456789abcdef0", true},
		{"", true},
		{"0123456789abcdeg", true},
		{"../../../etc/pas", true},
		{strings.Repeat("a", 10000), true},
	}
	for _, tt := range tests {
		_, err := ParseSessionID(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSessionID(%.20q): got %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("ParseSessionID(%.20q): error of %d bytes echoes the input", tt.in, len(err.Error()))
		}
	}
}

func FuzzParseSessionID(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", "", "0123456789ABCDEF", "\x00\xff", strings.Repeat("f", 17)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseSessionID(in)
		valid := len(in) == SessionIDLength && strings.Trim(in, "0123456789abcdef") == ""
		if valid != (err == nil) {
			t.Fatalf("%q: got %q, %v; want accepted %v", in, got, err, valid)
		}
		if err == nil && got != in {
			t.Fatalf("%q: got %q", in, got)
		}
	})
}

func TestListSessions(t *testing.T) { metatest.Engines(t, testListSessions) }

func testListSessions(t *testing.T) {
	ctx := t.Context()
	s, _, db := openAudited(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	lt := SessionLifetimes{Idle: 30 * time.Minute, Max: 12 * time.Hour}
	a1 := storeSession(t, db, "alice", "a1", now.Add(-time.Hour), now.Add(-time.Minute))
	a2 := storeSession(t, db, "alice", "a2", now.Add(-2*time.Hour), now.Add(-10*time.Minute))
	b1 := storeSession(t, db, "bob", "b1", now.Add(-time.Minute), now.Add(-5*time.Second))
	storeSession(t, db, "alice", "idle", now.Add(-time.Hour), now.Add(-31*time.Minute))
	storeSession(t, db, "alice", "old", now.Add(-13*time.Hour), now.Add(-time.Minute))
	ids := func(ss []Session) []string {
		var out []string
		for _, x := range ss {
			out = append(out, x.ID)
		}
		return out
	}
	tests := []struct {
		name      string
		user      string
		want      []string
		wantTotal int
	}{
		{"everyone, most recently used first, no expired ones", "", []string{b1, a1, a2}, 3},
		{"one user", "alice", []string{a1, a2}, 2},
		{"nobody's", "carol", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListSessions(ctx, SessionFilter{User: tt.user, Lifetimes: lt, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" || total != tt.wantTotal {
				t.Errorf("got %v (total %d), want %v (total %d)", ids(got), total, tt.want, tt.wantTotal)
			}
		})
	}
	got, _, err := s.ListSessions(ctx, SessionFilter{User: "alice", Lifetimes: lt, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := Session{ID: a1, Username: "alice", Created: now.Add(-time.Hour), LastSeen: now.Add(-time.Minute), Source: "192.0.2.1",
		UserAgent: "test agent", Expires: now.Add(29 * time.Minute)}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
}

func TestListSessionsBound(t *testing.T) {
	s, _, db := openAudited(t)
	now := time.Now()
	for i := range MaxSessionsListed + 1 {
		storeSession(t, db, "alice", fmt.Sprint("s", i), now, now.Add(time.Duration(i)*time.Millisecond))
	}
	got, total, err := s.ListSessions(t.Context(), SessionFilter{Now: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxSessionsListed || total != MaxSessionsListed+1 {
		t.Fatalf("got %d sessions of total %d, want %d of %d", len(got), total, MaxSessionsListed, MaxSessionsListed+1)
	}
	if got[0].LastSeen.Before(got[len(got)-1].LastSeen) {
		t.Errorf("not most recently used first: %v before %v", got[0].LastSeen, got[len(got)-1].LastSeen)
	}
}

func TestRevokeSession(t *testing.T) { metatest.Engines(t, testRevokeSession) }

func testRevokeSession(t *testing.T) {
	ctx := t.Context()
	s, l, db := openAudited(t)
	now := time.Now()
	a1 := storeSession(t, db, "alice", "alice's secret one", now, now)
	a2 := storeSession(t, db, "alice", "alice's secret two", now, now)
	b1 := storeSession(t, db, "bob", "bob's secret", now, now)
	ch := Change{Actor: "admin-token", Audit: l.RecordTx}
	tests := []struct {
		name, id, owner string
		wantErr         error  // nil: revoked
		wantMsg         string // with wantErr nil: ""
	}{
		{"another user's, as its owner would", b1, "alice", ErrNoSession, "no such session"},
		{"unknown", "0000000000000000", "", ErrNoSession, "no such session"},
		{"not an id", "alice", "", nil, "want the 16 hex digits"},
		{"own", a1, "alice", nil, ""},
		{"already revoked", a1, "alice", ErrNoSession, "no such session"},
		{"anyone's, as an admin", b1, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RevokeSession(ctx, ch, tt.id, tt.owner)
			switch {
			case tt.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("got %v, want an error saying %q", err, tt.wantMsg)
				}
			case err != nil:
				t.Fatalf("got %v, want revoked", err)
			case got.ID != tt.id:
				t.Fatalf("revoked %q, want %q", got.ID, tt.id)
			}
		})
	}
	var left []string
	rows, err := db.Query(`SELECT short_id FROM console_sessions ORDER BY short_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		left = append(left, id)
	}
	rows.Close()
	if diff := cmp.Diff([]string{a2}, left); diff != "" {
		t.Errorf("sessions left (-want +got):\n%s", diff)
	}
	entries, err := l.List(ctx, audit.Filter{Action: "session.revoke"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("session.revoke entries: got %d, want 2", len(entries))
	}
	for _, e := range entries {
		if e.Actor != "admin-token" || (e.Target != a1 && e.Target != b1) {
			t.Errorf("entry: got actor %q target %q, want admin-token and %s or %s", e.Actor, e.Target, a1, b1)
		}
		for _, secret := range []string{"alice's secret one", "bob's secret"} {
			h := sha256.Sum256([]byte(secret))
			if strings.Contains(string(e.Before), secret) || strings.Contains(string(e.Before), fmt.Sprintf("%x", h[:])) {
				t.Errorf("entry %s holds a session's secret or whole hash: %s", e.ID, e.Before)
			}
		}
	}
}

func TestRevokeSessionAmbiguous(t *testing.T) { metatest.Engines(t, testRevokeSessionAmbiguous) }

func testRevokeSessionAmbiguous(t *testing.T) {
	s, _, db := openAudited(t)
	now := time.Now().UnixNano()
	for _, h := range [][]byte{{1, 2, 3, 4, 5, 6, 7, 8, 0xaa}, {1, 2, 3, 4, 5, 6, 7, 8, 0xbb}} {
		if _, err := db.Exec(`INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen, short_id) VALUES (?, 'alice', 'c', ?, ?, '0102030405060708')`, h, now, now); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.RevokeSession(t.Context(), Change{}, "0102030405060708", "")
	if err == nil || !strings.Contains(err.Error(), "names 2 sessions") {
		t.Fatalf("got %v, want a refusal naming 2 sessions", err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM console_sessions`).Scan(&n)
	if n != 2 {
		t.Errorf("sessions left: got %d, want 2", n)
	}
}

func TestRevokeOtherSessions(t *testing.T) { metatest.Engines(t, testRevokeOtherSessions) }

func testRevokeOtherSessions(t *testing.T) {
	ctx := t.Context()
	s, l, db := openAudited(t)
	now := time.Now()
	keep := storeSession(t, db, "alice", "a1", now, now)
	storeSession(t, db, "alice", "a2", now, now)
	storeSession(t, db, "alice", "a3", now, now)
	bob := storeSession(t, db, "bob", "b1", now, now)
	n, err := s.RevokeOtherSessions(ctx, Change{Actor: "alice", Audit: l.RecordTx}, "alice", keep)
	if err != nil || n != 2 {
		t.Fatalf("got %d, %v; want 2 ended", n, err)
	}
	got, _, err := s.ListSessions(ctx, SessionFilter{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if len(ids) != 2 || !strings.Contains(strings.Join(ids, ","), keep) || !strings.Contains(strings.Join(ids, ","), bob) {
		t.Errorf("sessions left: got %v, want %s and %s", ids, keep, bob)
	}
	entries, err := l.List(ctx, audit.Filter{Action: "session.revoke_others"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Actor != "alice" || !strings.Contains(string(entries[0].After), `"sessions_ended":2`) {
		t.Errorf("audit: got %+v, want one entry by alice with sessions_ended 2", entries)
	}
	if _, err := s.RevokeOtherSessions(ctx, Change{}, "alice", "not-an-id"); err == nil {
		t.Error("keep not an id: got nil, want an error")
	}
	// Keeping none ends every session of the user.
	if n, err := s.RevokeOtherSessions(ctx, Change{}, "alice", ""); err != nil || n != 1 {
		t.Errorf("keep none: got %d, %v; want 1", n, err)
	}
}

func TestParseTokenRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr string
	}{
		{"", "", "role is required: one of ingest, viewer, analyst, admin"},
		{"ingest", RoleIngest, ""},
		{"viewer", RoleViewer, ""},
		{"analyst", RoleAnalyst, ""},
		{"admin", RoleAdmin, ""},
		{"Admin", "", `unknown role "Admin": want one of ingest, viewer, analyst, admin`},
		{"root", "", `unknown role "root": want one of ingest, viewer, analyst, admin`},
	}
	for _, tt := range tests {
		got, err := ParseTokenRole(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseTokenRole(%q): got %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTokenRole(%q): got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseTokenRole(""); !errors.Is(err, ErrRoleRequired) {
		t.Errorf("no role: got %v, want ErrRoleRequired", err)
	}
}
