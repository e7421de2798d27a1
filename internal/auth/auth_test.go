package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func openService(t *testing.T) *Service {
	t.Helper()
	s, err := Open(context.Background(), metatest.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenLifecycle(t *testing.T) { metatest.Engines(t, testTokenLifecycle) }

func testTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	secret, tok, err := s.CreateToken(ctx, "shipper", RoleIngest, []string{"dmz"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < 40 {
		t.Fatalf("secret %q: want %s prefix and 256 bits", secret, TokenPrefix)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "shipper" || p.Role != RoleIngest || len(p.Tags) != 1 || p.Tags[0] != "dmz" {
		t.Fatalf("principal = %+v", p)
	}
	if !p.Can(PermIngest) || p.Can(PermRead) {
		t.Errorf("ingest token: can ingest %v (want true), can read %v (want false)", p.Can(PermIngest), p.Can(PermRead))
	}
	if _, err := s.Authenticate(ctx, secret+"x"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong secret: got %v, want ErrUnauthorized", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked token (cached before): got %v, want ErrUnauthorized", err)
	}
}

func TestExpiredToken(t *testing.T) { metatest.Engines(t, testExpiredToken) }

func testExpiredToken(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	secret, _, err := s.CreateToken(ctx, "short", RoleViewer, nil, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	now = now.Add(2 * time.Minute) // the cache entry is still fresh: expiry must win
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrExpired) {
		t.Errorf("after expiry: got %v, want ErrExpired", err)
	}
}

func TestEnsureTokenIdempotent(t *testing.T) { metatest.Engines(t, testEnsureTokenIdempotent) }

func testEnsureTokenIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	const secret = "automation-secret-0123456789"
	for range 3 {
		if err := s.EnsureToken(ctx, "bootstrap", secret, RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	toks, _ := s.ListTokens(ctx)
	if len(toks) != 1 {
		t.Fatalf("got %d tokens, want 1", len(toks))
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Role != RoleAdmin {
		t.Fatalf("bootstrap token: %+v, %v", p, err)
	}
	if err := s.EnsureToken(ctx, "bootstrap", "short", RoleAdmin); err == nil {
		t.Error("a 5-character bootstrap token was accepted")
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		role Role
		perm Permission
		want bool
	}{
		{RoleAdmin, PermAdmin, true}, {RoleAnalyst, PermWrite, true}, {RoleAnalyst, PermAdmin, false},
		{RoleViewer, PermRead, true}, {RoleViewer, PermWrite, false}, {RoleViewer, PermIngest, false},
		{RoleIngest, PermIngest, true}, {RoleIngest, PermRead, false}, {Role("root"), PermRead, false},
	}
	for _, tt := range tests {
		if got := tt.role.Can(tt.perm); got != tt.want {
			t.Errorf("%s.Can(%d) = %v, want %v", tt.role, tt.perm, got, tt.want)
		}
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}

func TestUsers(t *testing.T) { metatest.Engines(t, testUsers) }

func testUsers(t *testing.T) {
	ctx := context.Background()
	s := openService(t)
	if _, err := s.CreateUser(ctx, "alice", "short", RoleAnalyst); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if _, err := s.CreateUser(ctx, "bad name!", "long enough password", RoleAnalyst); err == nil {
		t.Error("a username with a space and ! was accepted")
	}
	u, err := s.CreateUser(ctx, "alice", "correct horse battery", RoleAnalyst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "another long password", RoleViewer); err == nil {
		t.Error("a duplicate username was accepted")
	}
	p, err := s.Login(ctx, Credentials{Username: "alice", Password: "correct horse battery"})
	if err != nil || p.Role != RoleAnalyst {
		t.Fatalf("login: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		user, password string
		unknown        bool
	}{
		{"alice", "wrong password!!", false},
		{"alice", strings.Repeat("x", MaxPasswordLength+1), false},
		{"nobody", "correct horse battery", true},
		{"correct horse battery", "x", true}, // a password typed as the name
		{strings.Repeat("a", 65), "correct horse battery", true},
	} {
		_, err := s.Login(ctx, Credentials{Username: tc.user, Password: tc.password})
		if !errors.Is(err, ErrBadLogin) || errors.Is(err, ErrUnknownUser) != tc.unknown {
			t.Errorf("login %.20q: got %v, want ErrBadLogin (unknown user: %v)", tc.user, err, tc.unknown)
		}
	}
	s.SetUserDisabled(ctx, u.ID, true)
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: "correct horse battery"}); !errors.Is(err, ErrBadLogin) {
		t.Errorf("disabled user logged in: %v", err)
	}
	var hash string
	s.db.QueryRow(`SELECT hash FROM users WHERE id = ?`, u.ID).Scan(&hash)
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Errorf("stored hash %q: want an argon2id encoding without the password", hash)
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add(HashPassword("seed password 1"), "seed password 1")
	f.Add("$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "x")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		CheckPassword(enc, pw) // must not panic or allocate without bound
	})
}
