package auth

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

var setupCodeShape = regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$`)

func newTestSetup(t *testing.T) (*Service, *audit.Log, *Setup) {
	t.Helper()
	s, l, _ := openAudited(t)
	st, err := s.NewSetup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("NewSetup on an empty database: got nil, want a setup")
	}
	return s, l, st
}

func TestNewSetup(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		users     []Role // made before, each enabled unless disabled says
		disable   bool
		wantSetup bool
	}{
		{"no user", nil, false, true},
		{"only an analyst and a viewer", []Role{RoleAnalyst, RoleViewer}, false, true},
		{"a disabled admin", []Role{RoleAdmin, RoleAdmin}, true, true},
		{"an admin", []Role{RoleViewer, RoleAdmin}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, db := openAudited(t)
			for i, r := range tt.users {
				u, err := s.CreateUser(ctx, "user"+string(rune('a'+i)), "a long enough password", r)
				if err != nil {
					t.Fatal(err)
				}
				if tt.disable {
					// Straight in the table: UpdateUser refuses to
					// disable the last admin.
					if _, err := db.Exec(`UPDATE users SET disabled = 1 WHERE id = ?`, u.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			st, err := s.NewSetup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := st != nil; got != tt.wantSetup {
				t.Fatalf("NewSetup: got a setup %v, want %v", got, tt.wantSetup)
			}
			if st == nil {
				return
			}
			code := st.Code()
			if !setupCodeShape.MatchString(code) {
				t.Errorf("Code() = %q, want 8 groups of 4 base32 characters", code)
			}
			if got, want := len(strings.ReplaceAll(code, "-", ""))*5, 160; got != want {
				t.Errorf("code bits: got %d, want %d", got, want)
			}
		})
	}
}

func TestSetupCodesDiffer(t *testing.T) {
	s := openService(t)
	seen := map[string]bool{}
	for range 100 {
		st, err := s.NewSetup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if seen[st.Code()] {
			t.Fatalf("code %s made twice in 100 setups", st.Code())
		}
		seen[st.Code()] = true
	}
}

func TestNormalizeSetupCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        string
	}{
		{"as shown", "ABCD-EFGH-2345", "ABCDEFGH2345", ""},
		{"lower case, spaces, tab", " abcd efgh\t2345 ", "ABCDEFGH2345", ""},
		{"empty", "", "", ""},
		{"other characters kept (they fail the comparison)", "ABCD/EFGH", "ABCD/EFGH", ""},
		{"at the bound", strings.Repeat("a", MaxSetupCodeLength), strings.Repeat("A", MaxSetupCodeLength), ""},
		{"past the bound", strings.Repeat("a", MaxSetupCodeLength+1), "", "wrong setup code: longer than 128 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeSetupCode(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrSetupCode) {
					t.Fatalf("got %q, %v; want error %q wrapping ErrSetupCode", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSetupComplete(t *testing.T) { metatest.Engines(t, testSetupComplete) }

func testSetupComplete(t *testing.T) {
	ctx := context.Background()
	s, l, st := newTestSetup(t)
	code := st.Code()
	src := netip.MustParseAddr("192.0.2.10")
	ch := Change{Actor: "setup", Audit: l.RecordTx}
	if _, err := s.CreateUser(ctx, "taken", "a long enough password", RoleViewer); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name    string
		req     SetupRequest
		wantErr error
		wantMsg string
	}{
		{"wrong code", SetupRequest{Code: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", Username: "root", Password: "a long enough password"}, ErrSetupCode, "wrong setup code"},
		{"code past the bound", SetupRequest{Code: code + strings.Repeat(" ", MaxSetupCodeLength), Username: "root", Password: "a long enough password"}, ErrSetupCode, "longer than 128"},
		{"a prefix of the code", SetupRequest{Code: code[:20], Username: "root", Password: "a long enough password"}, ErrSetupCode, "wrong setup code"},
		{"bad user name", SetupRequest{Code: code, Username: "root admin", Password: "a long enough password"}, ErrSetupName, "use letters, digits"},
		{"a user's name", SetupRequest{Code: code, Username: "taken", Password: "a long enough password"}, ErrSetupName, `user "taken" exists already`},
		{"short password", SetupRequest{Code: code, Username: "root", Password: "short"}, ErrPasswordPolicy, "at least 12 characters"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Source = src
			_, err := st.Complete(ctx, ch, tt.req)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
			if ok, _ := s.HasAdmin(ctx); ok {
				t.Fatal("an admin exists after a refused setup")
			}
			if st.Code() != code {
				t.Fatalf("code changed to %q after a refused setup", st.Code())
			}
		})
	}
	// Lower case and without dashes, from another source (the wrong codes
	// above count against 192.0.2.10).
	u, err := st.Complete(ctx, ch, SetupRequest{Code: strings.ToLower(strings.ReplaceAll(code, "-", " ")), Username: "root",
		Password: "a long enough password", Source: netip.MustParseAddr("192.0.2.11")})
	if err != nil {
		t.Fatalf("Complete with the code: %v", err)
	}
	if u.Username != "root" || u.Role != RoleAdmin || u.Disabled {
		t.Errorf("got user %+v, want enabled admin root", u)
	}
	if _, err := s.Login(ctx, Credentials{Username: "root", Password: "a long enough password", Source: src}); err != nil {
		t.Errorf("the new admin cannot sign in: %v", err)
	}
	if got := st.Code(); got != "" {
		t.Errorf("Code() after the setup: got %q, want it void", got)
	}
	if open, err := st.Open(ctx); open || err != nil {
		t.Errorf("Open() after the setup: got %v, %v; want false", open, err)
	}
	_, err = st.Complete(ctx, ch, SetupRequest{Code: code, Username: "second", Password: "a long enough password", Source: src})
	if !errors.Is(err, ErrSetupDone) {
		t.Errorf("the code again: got %v, want ErrSetupDone", err)
	}
	entries, err := l.List(ctx, audit.Filter{Action: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	var bySetup []audit.Entry
	for _, e := range entries {
		if e.Actor == "setup" {
			bySetup = append(bySetup, e)
		}
	}
	if len(bySetup) != 1 || bySetup[0].Target != u.ID || !strings.Contains(string(bySetup[0].After), `"role":"admin"`) {
		t.Errorf("user.create entries by setup: got %+v, want one for %s with role admin", bySetup, u.ID)
	}
	for _, e := range entries {
		if strings.Contains(string(e.After), "a long enough password") || strings.Contains(string(e.After), strings.ReplaceAll(code, "-", "")) {
			t.Errorf("audit entry %s holds the password or the code: %s", e.ID, e.After)
		}
	}
}

func TestSetupVoidOnceAnAdminExists(t *testing.T) {
	metatest.Engines(t, testSetupVoidOnceAnAdminExists)
}

func testSetupVoidOnceAnAdminExists(t *testing.T) {
	ctx := context.Background()
	s, l, st := newTestSetup(t)
	code := st.Code()
	// An admin made another way (vigil user add, the API) while the
	// server runs.
	if _, err := s.AddUser(ctx, Change{Actor: "cli:ops", Audit: l.RecordTx}, "ops", "a long enough password", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	_, err := st.Complete(ctx, Change{Actor: "setup"}, SetupRequest{Code: code, Username: "root", Password: "a long enough password"})
	if !errors.Is(err, ErrSetupDone) {
		t.Fatalf("Complete: got %v, want ErrSetupDone", err)
	}
	if got := st.Code(); got != "" {
		t.Errorf("Code(): got %q, want it void", got)
	}
	if _, err := s.GetUser(ctx, "root"); !errors.Is(err, ErrNoUser) {
		t.Errorf("user root: got %v, want ErrNoUser", err)
	}
}

func TestSetupOnce(t *testing.T) { metatest.Engines(t, testSetupOnce) }

func testSetupOnce(t *testing.T) {
	ctx := context.Background()
	s, _, st := newTestSetup(t)
	code := st.Code()
	const n = 4
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			// Each from its own source: the per-source hashing slots are
			// not what is tested here.
			_, errs[i] = st.Complete(ctx, Change{Actor: "setup"}, SetupRequest{Code: code, Username: "admin" + string(rune('a'+i)),
				Password: "a long enough password", Source: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		var refused *RefusedError
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrSetupDone), errors.As(err, &refused):
		default:
			t.Errorf("setup %d: got %v, want success, ErrSetupDone or a refusal", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("simultaneous setups with the code: %d succeeded, want 1 (%v)", ok, errs)
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("users: got %+v, want one admin", users)
	}
}

func TestSetupAdminMadeMeanwhile(t *testing.T) { metatest.Engines(t, testSetupAdminMadeMeanwhile) }

func testSetupAdminMadeMeanwhile(t *testing.T) {
	// The transaction's own check: an admin that appears after the code
	// was checked (another process: vigil user add --data) makes the
	// setup's insert roll back.
	ctx := context.Background()
	s, _, _ := newTestSetup(t)
	if _, err := s.CreateUser(ctx, "ops", "a long enough password", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	// Complete's Open would see ops first; the insert with the check is
	// what runs when ops arrives after it.
	_, err := s.addUser(ctx, Change{}, "root", "a long enough password", RoleAdmin, setupCheck(ctx))
	if !errors.Is(err, ErrSetupDone) {
		t.Fatalf("addUser with the setup's check: got %v, want ErrSetupDone", err)
	}
	if _, err := s.GetUser(ctx, "root"); !errors.Is(err, ErrNoUser) {
		t.Errorf("user root: got %v, want ErrNoUser (rolled back)", err)
	}
}

func TestSetupThrottled(t *testing.T) {
	ctx := context.Background()
	s, _, st := newTestSetup(t)
	clk := newFakeClock()
	s.SetLoginThrottle(NewThrottle(LoginLimits{}, clk.Now))
	code := st.Code()
	attacker, owner := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.1")
	lim := s.LoginThrottle().Limits()
	for i := range lim.MaxFailures {
		_, err := st.Complete(ctx, Change{}, SetupRequest{Code: "WRONG-" + string(rune('A'+i)), Username: "x", Password: "a long enough password", Source: attacker})
		if !errors.Is(err, ErrSetupCode) {
			t.Fatalf("wrong code %d: got %v, want ErrSetupCode", i+1, err)
		}
	}
	// Past the budget even the right code is refused from that source,
	// without being compared.
	_, err := st.Complete(ctx, Change{}, SetupRequest{Code: code, Username: "root", Password: "a long enough password", Source: attacker})
	var refused *RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, ErrLoginLocked) {
		t.Fatalf("after %d wrong codes: got %v, want a refusal (locked)", lim.MaxFailures, err)
	}
	if refused.RetryAfter != lim.LockBase {
		t.Errorf("retry after: got %v, want %v", refused.RetryAfter, lim.LockBase)
	}
	// Another source is not locked out by the attacker's failures.
	if _, err := st.Complete(ctx, Change{}, SetupRequest{Code: code, Username: "root", Password: "a long enough password", Source: owner}); err != nil {
		t.Fatalf("the owner's setup: %v", err)
	}
}

func FuzzNormalizeSetupCode(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567", "abcd efgh", "", "----", "é-ü", strings.Repeat("a", 129), "\x00-\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeSetupCode(in)
		if len(in) > MaxSetupCodeLength {
			if err == nil || !errors.Is(err, ErrSetupCode) {
				t.Fatalf("%d bytes: got %v, want a refusal", len(in), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if len(got) > len(in) {
			t.Fatalf("%q: normalized to %d bytes, more than its %d", in, len(got), len(in))
		}
		for _, c := range got {
			if c == '-' || c == ' ' || c == '\t' || c >= 'a' && c <= 'z' {
				t.Fatalf("%q: normalized %q keeps %q", in, got, c)
			}
		}
		again, err := NormalizeSetupCode(string(got))
		if err != nil || string(again) != string(got) {
			t.Fatalf("%q: not idempotent: %q then %q, %v", in, got, again, err)
		}
	})
}
