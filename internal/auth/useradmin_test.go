package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// openAudited returns a Service and the audit log over one migrated
// database opened the way the server opens it.
func openAudited(t *testing.T) (*Service, *audit.Log, *sql.DB) {
	t.Helper()
	db := metatest.Open(t)
	s, err := Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s, l, db
}

func ptr[T any](v T) *T { return &v }

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		wantErr  string // "" accepts
	}{
		{"empty", "", "the password is empty"},
		{"one short", strings.Repeat("x", MinPasswordLength-1), "at least 12 characters, got 11"},
		{"shortest", strings.Repeat("x", MinPasswordLength), ""},
		{"characters, not bytes", strings.Repeat("é", MinPasswordLength), ""},
		{"eleven wide characters", strings.Repeat("é", MinPasswordLength-1), "at least 12 characters, got 11"},
		{"longest", strings.Repeat("x", MaxPasswordLength), ""},
		{"one byte too long", strings.Repeat("x", MaxPasswordLength+1), "at most 1024 bytes, got 1025"},
		{"too long in bytes", strings.Repeat("é", MaxPasswordLength/2+1), "at most 1024 bytes, got 1026"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.password)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
			case err != nil && !errors.Is(err, ErrPasswordPolicy):
				t.Errorf("got %v, want it to wrap ErrPasswordPolicy", err)
			case err != nil && len(tt.password) > 0 && strings.Contains(err.Error(), tt.password):
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestAddUserAudited(t *testing.T) { metatest.Engines(t, testAddUserAudited) }

func testAddUserAudited(t *testing.T) {
	ctx := t.Context()
	s, l, db := openAudited(t)
	const pw = "alice's own passphrase"
	u, err := s.AddUser(ctx, Change{Actor: "cli:root", Audit: l.RecordTx}, "alice", pw, RoleAnalyst)
	if err != nil {
		t.Fatal(err)
	}
	es, err := l.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "user.create" || es[0].Actor != "cli:root" || es[0].Target != u.ID {
		t.Fatalf("audit: got %+v, want one user.create by cli:root on %s", es, u.ID)
	}
	checkNoSecret(t, db, pw)
	for _, tc := range []struct {
		name, user, password string
		role                 Role
		want                 string
	}{
		{"duplicate", "alice", pw, RoleViewer, `user "alice" already exists`},
		{"ingest role", "bob", pw, RoleIngest, "role ingest is for tokens"},
		{"unknown role", "bob", pw, Role("root"), `unknown role "root"`},
		{"short password", "bob", "short", RoleViewer, "at least 12 characters"},
		{"bad name", "bob smith", pw, RoleViewer, "use letters, digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddUser(ctx, Change{Actor: "cli:root", Audit: l.RecordTx}, tc.user, tc.password, tc.role)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if es, _ := l.List(ctx, audit.Filter{}); len(es) != 1 {
		t.Errorf("refused additions: got %d audit entries, want the 1 of alice", len(es))
	}
}

// checkNoSecret fails when any audit entry holds secret.
func checkNoSecret(t *testing.T, db *sql.DB, secret string) {
	t.Helper()
	rows, err := db.Query(`SELECT actor || action || target || before || after FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		if strings.Contains(s, secret) {
			t.Errorf("audit entry %q holds the password", s)
		}
	}
}

// addSession stores a console session the way package web does.
func addSession(t *testing.T, db *sql.DB, user, id string) {
	t.Helper()
	now := time.Now().UnixNano()
	if _, err := db.Exec(`INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen) VALUES (?, ?, 'c', ?, ?)`,
		[]byte(id), user, now, now); err != nil {
		t.Fatal(err)
	}
}

func sessionsOf(t *testing.T, db *sql.DB, user string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM console_sessions WHERE username = ?`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUpdateUser(t *testing.T) { metatest.Engines(t, testUpdateUser) }

func testUpdateUser(t *testing.T) {
	const oldPW, newPW = "alice's old passphrase", "alice's new passphrase"
	tests := []struct {
		name        string
		up          UserUpdate
		wantErr     error  // nil: applied
		wantErrText string // with wantErr
		wantEnded   int    // alice's sessions ended
		wantLogin   string // the password alice signs in with after ("": none)
		wantRole    Role
	}{
		{name: "password", up: UserUpdate{Password: ptr(newPW)}, wantEnded: 2, wantLogin: newPW, wantRole: RoleAnalyst},
		{name: "disable", up: UserUpdate{Disabled: ptr(true)}, wantEnded: 2, wantRole: RoleAnalyst},
		{name: "enable", up: UserUpdate{Disabled: ptr(false)}, wantLogin: oldPW, wantRole: RoleAnalyst},
		{name: "role", up: UserUpdate{Role: ptr(RoleViewer)}, wantLogin: oldPW, wantRole: RoleViewer},
		{name: "all three", up: UserUpdate{Password: ptr(newPW), Disabled: ptr(true), Role: ptr(RoleAdmin)}, wantEnded: 2, wantRole: RoleAdmin},
		{name: "nothing", up: UserUpdate{}, wantErrText: "nothing to change"},
		{name: "short password", up: UserUpdate{Password: ptr("short")}, wantErr: ErrPasswordPolicy},
		{name: "empty password", up: UserUpdate{Password: ptr("")}, wantErr: ErrPasswordPolicy},
		{name: "ingest", up: UserUpdate{Role: ptr(RoleIngest)}, wantErrText: "role ingest is for tokens"},
		{name: "unknown role", up: UserUpdate{Role: ptr(Role("root"))}, wantErrText: `unknown role "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, l, db := openAudited(t)
			if _, err := s.CreateUser(ctx, "root", "the admin's passphrase", RoleAdmin); err != nil {
				t.Fatal(err)
			}
			u, err := s.CreateUser(ctx, "alice", oldPW, RoleAnalyst)
			if err != nil {
				t.Fatal(err)
			}
			addSession(t, db, "alice", "a1")
			addSession(t, db, "alice", "a2")
			addSession(t, db, "root", "r1")
			res, err := s.UpdateUser(ctx, Change{Actor: "admin-token", Audit: l.RecordTx}, "alice", tt.up)
			es, _ := l.List(ctx, audit.Filter{Action: "user.update"})
			if tt.wantErr != nil || tt.wantErrText != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("got %v, want %v %q", err, tt.wantErr, tt.wantErrText)
				}
				if n := sessionsOf(t, db, "alice"); n != 2 {
					t.Errorf("refused change: alice has %d sessions, want 2", n)
				}
				if len(es) != 0 {
					t.Errorf("refused change: got audit entries %+v, want none", es)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.SessionsEnded != tt.wantEnded || res.PasswordChanged != (tt.up.Password != nil) {
				t.Errorf("got %+v, want %d sessions ended, password changed %v", res, tt.wantEnded, tt.up.Password != nil)
			}
			if n := sessionsOf(t, db, "alice"); n != 2-tt.wantEnded {
				t.Errorf("alice has %d sessions, want %d", n, 2-tt.wantEnded)
			}
			if n := sessionsOf(t, db, "root"); n != 1 {
				t.Errorf("root has %d sessions, want 1 (another user's)", n)
			}
			for _, pw := range []string{oldPW, newPW} {
				p, err := s.Login(ctx, Credentials{Username: "alice", Password: pw})
				if ok := err == nil; ok != (pw == tt.wantLogin) {
					t.Errorf("sign-in with %q: got %v, %v; want signed in %v", pw, p, err, pw == tt.wantLogin)
				}
			}
			got, err := s.GetUser(ctx, "alice")
			if err != nil || got.Role != tt.wantRole {
				t.Errorf("GetUser: got %+v, %v; want role %s", got, err, tt.wantRole)
			}
			if len(es) != 1 || es[0].Actor != "admin-token" || es[0].Target != u.ID {
				t.Fatalf("audit: got %+v, want one user.update by admin-token on %s", es, u.ID)
			}
			var after struct {
				Username        string
				Role            Role
				Disabled        bool
				PasswordChanged bool `json:"password_changed"`
				SessionsEnded   int  `json:"sessions_ended"`
			}
			if err := json.Unmarshal(es[0].After, &after); err != nil {
				t.Fatal(err)
			}
			if after.Username != "alice" || after.Role != tt.wantRole || after.PasswordChanged != res.PasswordChanged || after.SessionsEnded != tt.wantEnded {
				t.Errorf("audit after: got %+v, want alice, role %s, %+v", after, tt.wantRole, res)
			}
			checkNoSecret(t, db, oldPW)
			checkNoSecret(t, db, newPW)
		})
	}
}

func TestUpdateUserUnknown(t *testing.T) { metatest.Engines(t, testUpdateUserUnknown) }

func testUpdateUserUnknown(t *testing.T) {
	s, _, _ := openAudited(t)
	for _, name := range []string{"nobody", "", strings.Repeat("a", 65), "bad name"} {
		if _, err := s.UpdateUser(t.Context(), Change{}, name, UserUpdate{Disabled: ptr(true)}); !errors.Is(err, ErrNoUser) {
			t.Errorf("%q: got %v, want ErrNoUser", name, err)
		}
		if _, err := s.GetUser(t.Context(), name); !errors.Is(err, ErrNoUser) {
			t.Errorf("GetUser %q: got %v, want ErrNoUser", name, err)
		}
	}
}

// TestUpdateUserAuditFails: a change whose audit entry cannot be written
// is not made, and the sessions stay.
func TestUpdateUserAuditFails(t *testing.T) { metatest.Engines(t, testUpdateUserAuditFails) }

func testUpdateUserAuditFails(t *testing.T) {
	ctx := t.Context()
	s, _, db := openAudited(t)
	if _, err := s.CreateUser(ctx, "alice", "alice's old passphrase", RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	addSession(t, db, "alice", "a1")
	boom := errors.New("disk full")
	fail := Change{Actor: "x", Audit: func(context.Context, *sql.Tx, ...audit.Entry) error { return boom }}
	if _, err := s.UpdateUser(ctx, fail, "alice", UserUpdate{Password: ptr("alice's new passphrase")}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the audit error", err)
	}
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: "alice's old passphrase"}); err != nil {
		t.Errorf("old password after a failed change: %v, want it still to work", err)
	}
	if n := sessionsOf(t, db, "alice"); n != 1 {
		t.Errorf("sessions after a failed change: got %d, want 1", n)
	}
	if _, err := s.AddUser(ctx, fail, "bob", "bob's own passphrase", RoleViewer); !errors.Is(err, boom) {
		t.Fatalf("AddUser: got %v, want the audit error", err)
	}
	if _, err := s.GetUser(ctx, "bob"); !errors.Is(err, ErrNoUser) {
		t.Errorf("bob after a failed AddUser: got %v, want ErrNoUser", err)
	}
}

// TestLastAdmin: the last enabled admin can be neither disabled nor
// demoted; with a second admin, either can.
func TestLastAdmin(t *testing.T) { metatest.Engines(t, testLastAdmin) }

func testLastAdmin(t *testing.T) {
	ctx := t.Context()
	s, _, _ := openAudited(t)
	if _, err := s.CreateUser(ctx, "root", "the admin's passphrase", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "off", "a disabled admin's pass", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, Change{}, "off", UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	for _, up := range []UserUpdate{{Disabled: ptr(true)}, {Role: ptr(RoleAnalyst)}} {
		if _, err := s.UpdateUser(ctx, Change{}, "root", up); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("%+v of the only enabled admin: got %v, want ErrLastAdmin", up, err)
		}
	}
	// A password change of the last admin is fine.
	if _, err := s.UpdateUser(ctx, Change{}, "root", UserUpdate{Password: ptr("the admin's new passphrase")}); err != nil {
		t.Errorf("password of the last admin: got %v, want changed", err)
	}
	if _, err := s.UpdateUser(ctx, Change{}, "off", UserUpdate{Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, Change{}, "root", UserUpdate{Role: ptr(RoleViewer)}); err != nil {
		t.Errorf("demoting one of two admins: got %v, want done", err)
	}
	if _, err := s.UpdateUser(ctx, Change{}, "off", UserUpdate{Disabled: ptr(true)}); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("disabling the admin left: got %v, want ErrLastAdmin", err)
	}
}

func TestChangeOwnPassword(t *testing.T) { metatest.Engines(t, testChangeOwnPassword) }

func testChangeOwnPassword(t *testing.T) {
	ctx := t.Context()
	s, l, db := openAudited(t)
	const oldPW, newPW = "alice's old passphrase", "alice's new passphrase"
	if _, err := s.CreateUser(ctx, "alice", oldPW, RoleViewer); err != nil {
		t.Fatal(err)
	}
	addSession(t, db, "alice", "a1")
	c := Change{Actor: "alice", Audit: l.RecordTx}
	for _, tc := range []struct {
		name, cur, next string
		want            error
	}{
		{"wrong current", "not the passphrase!", newPW, ErrBadLogin},
		{"same", oldPW, oldPW, ErrPasswordPolicy},
		{"short", oldPW, "short", ErrPasswordPolicy},
	} {
		if _, err := s.ChangeOwnPassword(ctx, c, Credentials{Username: "alice", Password: tc.cur}, tc.next); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := sessionsOf(t, db, "alice"); n != 1 {
		t.Fatalf("after refused changes: %d sessions, want 1", n)
	}
	res, err := s.ChangeOwnPassword(ctx, c, Credentials{Username: "alice", Password: oldPW}, newPW)
	if err != nil || res.SessionsEnded != 1 || !res.PasswordChanged {
		t.Fatalf("got %+v, %v; want changed with 1 session ended", res, err)
	}
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: newPW}); err != nil {
		t.Errorf("new password: %v", err)
	}
	checkNoSecret(t, db, oldPW)
	checkNoSecret(t, db, newPW)
}

// TestLastLogin: the last sign-in comes from the newest console.login
// entry about the user, found through an index.
func TestLastLogin(t *testing.T) { metatest.Engines(t, testLastLogin) }

func testLastLogin(t *testing.T) {
	ctx := t.Context()
	s, l, db := openAudited(t)
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.CreateUser(ctx, n, "a long enough passphrase", RoleViewer); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := func(action, target string, at time.Time) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.RecordTx(ctx, tx, audit.Entry{Time: at, Actor: target, Action: action, Target: target}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	rec("console.login", "alice", t0)
	rec("console.login", "alice", t0.Add(time.Hour))
	rec("console.logout", "alice", t0.Add(2*time.Hour))
	rec("console.login_failed", "alice", t0.Add(3*time.Hour))
	us, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, u := range us {
		got[u.Username] = u.LastLogin
	}
	if want := t0.Add(time.Hour); !got["alice"].Equal(want) {
		t.Errorf("alice: got last sign-in %v, want %v", got["alice"], want)
	}
	if !got["bob"].IsZero() {
		t.Errorf("bob: got last sign-in %v, want none", got["bob"])
	}
	b, _ := json.Marshal(us)
	if strings.Count(string(b), "last_login") != 1 {
		t.Errorf("JSON %s: want last_login only for alice", b)
	}
	metatest.CheckIndexed(t, db, []metatest.Statement{{Name: "lastLoginQuery", Query: lastLoginQuery, Args: []any{"alice"}, Index: "audit_log_target"}})
}
