package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestSSOLogin: the first sign-in makes a user without a password linked
// to the provider's subject; later ones find it by the subject (whatever
// name the provider sends then) and re-apply the role; a taken name, a
// disabled user and bad identities are refused; each change is audited
// once.
func TestSSOLogin(t *testing.T) { metatest.Engines(t, testSSOLogin) }

func testSSOLogin(t *testing.T) {
	ctx := t.Context()
	s, l, _ := openAudited(t)
	if _, err := s.AddUser(ctx, Change{}, "root", "a local admin passphrase", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ch := Change{Actor: "oidc", Audit: l.RecordTx}
	const iss = "https://idp.example.com/"
	alice := SSOIdentity{Issuer: iss, Subject: "sub-1", Username: "alice", Role: RoleAnalyst}

	u, err := s.SSOLogin(ctx, ch, alice)
	if err != nil {
		t.Fatalf("first sign-in: %v", err)
	}
	if u.Username != "alice" || u.Role != RoleAnalyst || u.SSO != iss {
		t.Fatalf("got %+v, want alice, analyst, of %s", u, iss)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil || got.SSO != iss || got.ID != u.ID {
		t.Fatalf("GetUser: got %+v, %v, want the SSO user %s", got, err, u.ID)
	}
	// No password signs her in, and none may be set.
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: ""}); !errors.Is(err, ErrBadLogin) {
		t.Errorf("password sign-in with an empty password: got %v, want ErrBadLogin", err)
	}
	if _, err := s.UpdateUser(ctx, ch, "alice", UserUpdate{Password: ptr("a new passphrase here")}); !errors.Is(err, ErrSSOUser) {
		t.Errorf("setting a password: got %v, want ErrSSOUser", err)
	}
	if _, err := s.ChangeOwnPassword(ctx, ch, Credentials{Username: "alice"}, "a new passphrase here"); !errors.Is(err, ErrSSOUser) {
		t.Errorf("changing her own password: got %v, want ErrSSOUser", err)
	}

	// Again with the same role: nothing changes, nothing is audited.
	if _, err := s.SSOLogin(ctx, ch, alice); err != nil {
		t.Fatal(err)
	}
	// The provider now says admin, under another name: same user, new role.
	renamed := alice
	renamed.Username, renamed.Role = "alice.new", RoleAdmin
	u2, err := s.SSOLogin(ctx, ch, renamed)
	if err != nil {
		t.Fatal(err)
	}
	if u2.ID != u.ID || u2.Username != "alice" || u2.Role != RoleAdmin {
		t.Errorf("got %+v, want user %s still named alice, now admin", u2, u.ID)
	}

	es, err := l.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
		if e.Actor != "oidc" || e.Target != u.ID {
			t.Errorf("entry %s: actor %q target %q, want oidc on %s", e.Action, e.Actor, e.Target, u.ID)
		}
	}
	if strings.Join(actions, ",") != "user.update,user.create" && strings.Join(actions, ",") != "user.create,user.update" {
		t.Errorf("audit: got %v, want one user.create and one user.update", actions)
	}

	tests := []struct {
		name string
		id   SSOIdentity
		want error  // errors.Is
		msg  string // or a message
	}{
		{"name of a local user", SSOIdentity{Issuer: iss, Subject: "sub-2", Username: "root", Role: RoleAdmin}, ErrSSONameTaken, ""},
		{"name of another SSO user", SSOIdentity{Issuer: iss, Subject: "sub-3", Username: "alice", Role: RoleViewer}, ErrSSONameTaken, ""},
		{"same subject of another issuer", SSOIdentity{Issuer: "https://other.example/", Subject: "sub-1", Username: "alice", Role: RoleViewer}, ErrSSONameTaken, ""},
		{"no issuer", SSOIdentity{Subject: "x", Username: "bob", Role: RoleViewer}, nil, "issuer"},
		{"subject at the bound", SSOIdentity{Issuer: iss, Subject: strings.Repeat("s", maxSSOSubject), Username: "bob", Role: RoleViewer}, nil, ""},
		{"subject past the bound", SSOIdentity{Issuer: iss, Subject: strings.Repeat("s", maxSSOSubject+1), Username: "carol", Role: RoleViewer}, nil, "subject (1 to 255)"},
		{"issuer past the bound", SSOIdentity{Issuer: "https://" + strings.Repeat("i", maxSSOIssuer), Subject: "x", Username: "carol", Role: RoleViewer}, nil, "issuer (1 to 2048 bytes)"},
		{"ingest role", SSOIdentity{Issuer: iss, Subject: "sub-4", Username: "dave", Role: RoleIngest}, nil, "role ingest is for tokens"},
		{"bad name", SSOIdentity{Issuer: iss, Subject: "sub-5", Username: "eve smith", Role: RoleViewer}, nil, "use letters, digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SSOLogin(ctx, ch, tt.id)
			switch {
			case tt.want == nil && tt.msg == "":
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
				t.Fatalf("got %v, want an error saying %q", err, tt.msg)
			}
		})
	}

	// A disabled user is refused, and stays disabled.
	if _, err := s.UpdateUser(ctx, Change{Actor: "root"}, "alice", UserUpdate{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SSOLogin(ctx, ch, alice); !errors.Is(err, ErrSSODisabled) {
		t.Errorf("disabled: got %v, want ErrSSODisabled", err)
	}
	if got, _ := s.GetUser(ctx, "alice"); !got.Disabled || got.Role != RoleAdmin {
		t.Errorf("after a refused sign-in: got %+v, want alice disabled and her role unchanged", got)
	}
}
