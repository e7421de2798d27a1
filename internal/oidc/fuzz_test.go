package oidc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
)

// FuzzOpenState: whatever cookie a browser sends, open never panics, and
// accepts nothing but what this sealer sealed: a changed cookie fails.
func FuzzOpenState(f *testing.F) {
	s := newSealer()
	now := time.Unix(1_800_000_000, 0)
	valid := s.seal(State{State: randomString(), Nonce: randomString(), Verifier: randomString(), Next: "/alerts?x=1",
		Expires: now.Add(StateLifetime).Unix()})
	for _, seed := range []string{valid, "", ".", "a.b", valid + "x", "eyJzIjoiIn0.AAAA",
		strings.Replace(valid, ".", "..", 1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		st, err := s.open(cookie, now)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("got %v, want ErrState", err)
			}
			return
		}
		if cookie != valid && s.seal(st) != cookie {
			// Base64 has more than one spelling of some inputs only in
			// its padding bits; anything else is a forgery that passed.
			p, _, _ := strings.Cut(cookie, ".")
			vp, _, _ := strings.Cut(valid, ".")
			if len(p) != len(vp) {
				t.Fatalf("opened a cookie that was not sealed here: %q -> %+v", cookie, st)
			}
		}
		if st.State == "" || st.Nonce == "" || st.Verifier == "" || len(st.Next) > maxNext {
			t.Fatalf("opened a state without its fields: %+v", st)
		}
	})
}

// FuzzIdentify: whatever claims a provider sends, identify never panics,
// and an identity it returns has a valid user name and a person's role
// that the role map or the default gave.
func FuzzIdentify(f *testing.F) {
	for _, seed := range []string{
		`{"preferred_username":"alice","email":"alice@example.com","groups":["vigil-analysts"]}`,
		`{"preferred_username":"Alice Smith","email":"alice@example.com","email_verified":"false","groups":"vigil-admins"}`,
		`{"email":"a@b@example.com","realm_access":{"roles":["vigil-admins",1,null,{"x":1}]}}`,
		`{"groups":[` + strings.Repeat(`"g",`, 1000) + `"vigil-analysts"]}`,
		`{"preferred_username":"` + strings.Repeat("a", 65) + `","groups":["vigil-viewers"]}`,
		`{"preferred_username":"bob","groups":{"nested":true}}`, `{}`, `null`, `[]`,
	} {
		f.Add(seed, "sub-1", "groups", "none")
		f.Add(seed, "sub-2", "realm_access.roles", "viewer")
	}
	f.Fuzz(func(t *testing.T, raw, subject, roleClaim, defaultRole string) {
		var c claims
		if json.Unmarshal([]byte(raw), &c) != nil {
			return
		}
		if defaultRole != "viewer" && defaultRole != "analyst" && defaultRole != "admin" {
			defaultRole = "none"
		}
		cfg := Config{RoleClaim: roleClaim, DefaultRole: defaultRole, AllowedDomains: []string{"example.com"},
			RoleMap: map[string]string{"vigil-analysts": "analyst", "vigil-admins": "admin", "vigil-viewers": "viewer"}}
		id, err := cfg.identify("https://idp.example.com", subject, c)
		if err != nil {
			var r *Refusal
			if !errors.As(err, &r) || r.Reason == "" || len(r.Values) > MaxShownValues+1 || len(r.Who) > maxWho+3 {
				t.Fatalf("got %#v, want a bounded *Refusal", err)
			}
			return
		}
		if auth.ValidUsername(id.Username) != nil {
			t.Fatalf("user name %q is not valid", id.Username)
		}
		if rank[id.Role] == 0 {
			t.Fatalf("role %q is not a person's", id.Role)
		}
		if id.Subject != subject || subject == "" || len(subject) > maxSubject {
			t.Fatalf("subject %q from %q", id.Subject, subject)
		}
		if !strings.HasSuffix(strings.ToLower(id.Email), "@example.com") {
			t.Fatalf("email %q passed allowed_domains example.com", id.Email)
		}
		if len(id.Values) > MaxShownValues+1 {
			t.Fatalf("%d values kept, want at most %d", len(id.Values), MaxShownValues+1)
		}
	})
}
