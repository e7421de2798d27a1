package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
)

// TestChangePassword: a user changes their own password on the settings
// page; their other sessions end, this one goes on.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	here, other := e.client(t), e.client(t)
	here.login("viewer")
	other.login("viewer")
	const newPW = "the viewer's new passphrase"
	if _, page := here.get("/settings"); !strings.Contains(page, `action="/settings/password"`) || !strings.Contains(page, `autocomplete="current-password"`) {
		t.Fatalf("settings page: no password form")
	}
	tests := []struct {
		name    string
		form    url.Values
		wantErr string // in the redirect's err
	}{
		{"differ", url.Values{"current": {testPassword}, "password": {newPW}, "password2": {newPW + "x"}}, "the two new passwords differ"},
		{"wrong current", url.Values{"current": {"not the passphrase"}, "password": {newPW}, "password2": {newPW}}, "the current password is wrong"},
		{"short", url.Values{"current": {testPassword}, "password": {"short"}, "password2": {"short"}}, "at least 12 characters"},
		{"same", url.Values{"current": {testPassword}, "password": {testPassword}, "password2": {testPassword}}, "the new password is the current one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := here.post("/settings/password", tt.form)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc.Path != "/settings" || !strings.Contains(loc.Query().Get("err"), tt.wantErr) || loc.Fragment != "account" {
				t.Errorf("got %d to %q, want 303 to /settings#account with err %q", resp.StatusCode, resp.Header.Get("Location"), tt.wantErr)
			}
		})
	}
	if resp, _ := other.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after refused changes: the other session got %d, want 200", resp.StatusCode)
	}
	// Without the CSRF token, nothing happens.
	if resp, _ := here.do("POST", "/settings/password", url.Values{"current": {testPassword}, "password": {newPW}, "password2": {newPW}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: got %d, want 403", resp.StatusCode)
	}

	resp, _ := here.post("/settings/password", url.Values{"current": {testPassword}, "password": {newPW}, "password2": {newPW}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if want := "Password changed. Your 1 other session was signed out."; resp.StatusCode != http.StatusSeeOther || loc.Query().Get("msg") != want {
		t.Fatalf("change: got %d to %q, want 303 with %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp, _ := here.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Errorf("this session after the change: got %d, want 200 (a fresh session)", resp.StatusCode)
	}
	if resp, _ := other.get("/settings"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the other session after the change: got %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	ctx := context.Background()
	if _, err := e.o.Auth.Login(ctx, auth.Credentials{Username: "viewer", Password: testPassword}); err == nil {
		t.Error("the old password still signs in")
	}
	if _, err := e.o.Auth.Login(ctx, auth.Credentials{Username: "viewer", Password: newPW}); err != nil {
		t.Errorf("the new password: %v", err)
	}
	es, err := e.o.Audit.List(ctx, audit.Filter{Action: "user.update"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != "viewer" || !strings.Contains(string(es[0].After), `"password_changed":true`) {
		t.Fatalf("audit: got %+v, want one user.update by viewer with password_changed", es)
	}
	all, _ := e.o.Audit.List(ctx, audit.Filter{Limit: 1000})
	b, _ := json.Marshal(all)
	if strings.Contains(string(b), newPW) || strings.Contains(string(b), testPassword) {
		t.Errorf("the audit log holds a password: %s", b)
	}
}

// TestSettingsDisableUser: the settings page's Disable button ends the
// user's sessions and is audited in the change's transaction, and it
// cannot disable the last enabled admin.
func TestSettingsDisableUser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin, analyst := e.client(t), e.client(t)
	admin.login("admin")
	analyst.login("analyst")
	ids := map[string]string{}
	users, err := e.o.Auth.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		ids[u.Username] = u.ID
	}
	tests := []struct {
		name, id, disabled, wantErr string
	}{
		{"last admin", ids["admin"], "true", "last enabled admin"},
		{"no such user", "nope", "true", "no such user"},
		{"analyst", ids["analyst"], "true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := admin.post("/settings/users/"+tt.id, url.Values{"disabled": {tt.disabled}})
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc.Query().Get("err"), tt.wantErr) || (tt.wantErr == "") != (loc.Query().Get("err") == "") {
				t.Errorf("got %d to %q, want 303 with err %q", resp.StatusCode, resp.Header.Get("Location"), tt.wantErr)
			}
		})
	}
	var n int
	e.db.Meta().QueryRow(`SELECT count(*) FROM console_sessions WHERE username = 'analyst'`).Scan(&n)
	if n != 0 {
		t.Errorf("the disabled analyst has %d sessions, want 0", n)
	}
	if resp, _ := analyst.get("/alerts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the disabled analyst's session: got %d, want 303 to /login", resp.StatusCode)
	}
	if resp, _ := admin.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Errorf("the admin after refusing to disable them: got %d, want 200", resp.StatusCode)
	}
	es, err := e.o.Audit.List(ctx, audit.Filter{Action: "user.update"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != "admin" || es[0].Target != ids["analyst"] || !strings.Contains(string(es[0].After), `"sessions_ended":1`) {
		t.Errorf("audit: got %+v, want one user.update of the analyst by admin, 1 session ended", es)
	}
}
