package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/oidc/oidctest"
)

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func testConfig(p *oidctest.Provider) Config {
	return Config{Issuer: p.URL, ClientID: p.ClientID, ClientSecret: Secret(p.ClientSecret),
		RedirectURL: "http://127.0.0.1:8080" + CallbackPath,
		RoleMap:     map[string]string{"vigil-analysts": "analyst", "vigil-admins": "admin", "vigil-viewers": "viewer"}}
}

func newRP(t *testing.T, p *oidctest.Provider, mod func(*Config), o Options) *RP {
	t.Helper()
	cfg := testConfig(p)
	if mod != nil {
		mod(&cfg)
	}
	rp, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rp
}

// noRedirects is a client that returns redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize follows authURL to the provider and returns the query it sends
// the browser back with.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorization: HTTP %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "http://127.0.0.1:8080"+CallbackPath {
		t.Fatalf("the provider sent the browser to %s, want the redirect_url", got)
	}
	return loc.Query()
}

// signIn runs a whole sign-in.
func signIn(t *testing.T, rp *RP) (Identity, string, error) {
	t.Helper()
	authURL, cookie, err := rp.Begin(t.Context(), "/alerts?status=open")
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return rp.Finish(t.Context(), cookie, authorize(t, authURL))
}

// TestBeginRequest: the authorization request asks for a code with PKCE
// (S256), a state and a nonce of 256 bits each, the configured scopes and
// redirect URL; the state and nonce differ at every sign-in.
func TestBeginRequest(t *testing.T) {
	p := oidctest.New(t)
	rp := newRP(t, p, nil, Options{})
	seen := map[string]bool{}
	for range 2 {
		authURL, cookie, err := rp.Begin(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		q := u.Query()
		for k, want := range map[string]string{"response_type": "code", "client_id": "vigil", "code_challenge_method": "S256",
			"scope": "openid profile email", "redirect_uri": "http://127.0.0.1:8080/auth/oidc/callback"} {
			if got := q.Get(k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if v := q.Get(k); len(v) != 43 || seen[v] {
				t.Errorf("%s: got %q, want 43 fresh characters", k, v)
			}
			seen[q.Get(k)] = true
		}
		if q.Get("client_secret") != "" || strings.Contains(authURL, p.ClientSecret) {
			t.Errorf("the authorization URL holds the client secret: %s", authURL)
		}
		if strings.Contains(cookie, p.ClientSecret) || len(cookie) > MaxCookie {
			t.Errorf("cookie: %d bytes, or holds the secret", len(cookie))
		}
	}
}

// TestFinish: the callback's checks. Each row changes the provider or the
// configuration, and says what the sign-in gives.
func TestFinish(t *testing.T) {
	past := time.Now().Add(-time.Hour).Unix()
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("group-%d", i)
		}
		out[n-1] = "vigil-analysts"
		return out
	}
	person := func(extra map[string]any) map[string]any {
		m := map[string]any{"sub": "sub-1", "preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
			"groups": []string{"vigil-analysts"}}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name   string
		setup  func(p *oidctest.Provider)
		cfg    func(c *Config)
		want   Identity // Issuer and Subject are checked when Username is set
		err    error    // errors.Is
		reason string   // a *Refusal's
		msg    string   // the error says
	}{
		{name: "analyst", want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "expired ID token", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["exp"] = past })
		}, err: ErrToken, msg: "expired"},
		{name: "wrong audience", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["aud"] = "another-client" })
		}, err: ErrToken, msg: "audience"},
		{name: "wrong issuer", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["iss"] = "https://evil.example" })
		}, err: ErrToken, msg: "issued by a different provider"},
		{name: "bad nonce", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["nonce"] = "a nonce of another sign-in" })
		}, err: ErrToken, msg: "nonce"},
		{name: "no nonce", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { delete(c, "nonce") })
		}, err: ErrToken, msg: "nonce"},
		{name: "foreign signing key", setup: func(p *oidctest.Provider) { p.SignWithForeignKey(true) }, err: ErrToken, msg: "signature"},
		{name: "several audiences without azp", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["aud"] = []string{"vigil", "other"} })
		}, err: ErrToken, msg: "azp"},
		{name: "several audiences, azp vigil", setup: func(p *oidctest.Provider) {
			p.Tamper(func(c map[string]any) { c["aud"], c["azp"] = []string{"vigil", "other"}, "vigil" })
		}, want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "unmapped role", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": []string{"contractors", "vpn-users"}}), nil)
		}, reason: ReasonNoRole, msg: "none of the values of the groups claim (contractors, vpn-users) is mapped"},
		{name: "no role claim", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": nil}), nil)
		}, reason: ReasonNoRole, msg: "sent no groups claim"},
		{name: "unmapped, default role viewer", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": []string{"contractors"}}), nil)
		}, cfg: func(c *Config) { c.DefaultRole = "viewer" },
			want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleViewer, Values: []string{"contractors"}}},
		{name: "the most powerful role", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": []any{"vigil-viewers", 7, "vigil-admins", "vigil-analysts"}}), nil)
		}, want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAdmin,
			Values: []string{"vigil-viewers", "vigil-admins", "vigil-analysts"}}},
		{name: "a string claim", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"role": "vigil-admins"}), nil)
		}, cfg: func(c *Config) { c.RoleClaim = "role" },
			want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAdmin, Values: []string{"vigil-admins"}}},
		{name: "a nested claim (Keycloak)", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"realm_access": map[string]any{"roles": []string{"vigil-analysts"}}}), nil)
		}, cfg: func(c *Config) { c.RoleClaim = "realm_access.roles" },
			want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "role values at the bound", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": many(MaxRoleValues)}), nil)
		}, want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst}},
		{name: "role values past the bound", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"groups": many(MaxRoleValues + 1)}), nil)
		}, reason: ReasonTooMany, msg: "1001 values, more than 1000"},
		{name: "claims from userinfo only", setup: func(p *oidctest.Provider) {
			p.SetPerson(map[string]any{"sub": "sub-1"}, person(nil))
		}, want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "the token's claims win over userinfo", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(nil), person(map[string]any{"groups": []string{"vigil-admins"}}))
		}, want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "userinfo of another subject", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(nil), person(map[string]any{"sub": "sub-2"}))
		}, err: ErrToken, msg: "another subject"},
		{name: "user name from the email", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"preferred_username": "Alice Smith"}), nil)
		}, want: Identity{Username: "alice@example.com", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "no usable user name", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"preferred_username": "Alice Smith", "email": nil}), nil)
		}, reason: ReasonUsername, msg: "neither a preferred_username nor an email"},
		{name: "allowed domain", cfg: func(c *Config) { c.AllowedDomains = []string{"other.example", "EXAMPLE.com"} },
			want: Identity{Username: "alice", Email: "alice@example.com", Role: auth.RoleAnalyst, Values: []string{"vigil-analysts"}}},
		{name: "domain not allowed", cfg: func(c *Config) { c.AllowedDomains = []string{"corp.example"} },
			reason: ReasonDomain, msg: "alice may not sign in: a verified email address in corp.example is required"},
		{name: "a look-alike domain", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"email": "alice@corp.example@evil.example"}), nil)
		}, cfg: func(c *Config) { c.AllowedDomains = []string{"corp.example"} }, reason: ReasonDomain},
		{name: "unverified email", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"email_verified": "false"}), nil)
		}, cfg: func(c *Config) { c.AllowedDomains = []string{"example.com"} }, reason: ReasonDomain},
		{name: "email without email_verified", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"email_verified": nil}), nil)
		}, cfg: func(c *Config) { c.AllowedDomains = []string{"example.com"} }, reason: ReasonDomain},
		{name: "subject past the bound", setup: func(p *oidctest.Provider) {
			p.SetPerson(person(map[string]any{"sub": strings.Repeat("s", 256)}), nil)
		}, reason: ReasonBadSubject, msg: "longer than 255 bytes"},
		{name: "access denied", setup: func(p *oidctest.Provider) { p.AuthError("access_denied") },
			msg: "refused or cancelled at the provider (access_denied)"},
		{name: "an error code no standard has", setup: func(p *oidctest.Provider) { p.AuthError("<script>alert(1)</script>") },
			msg: "answered with an error (unknown_error)"},
		{name: "a wrong client secret", cfg: func(c *Config) { c.ClientSecret = "not the secret" }, err: ErrProvider, msg: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			if tt.setup != nil {
				tt.setup(p)
			}
			rp := newRP(t, p, tt.cfg, Options{})
			id, next, err := signIn(t, rp)
			var ref *Refusal
			var pe *ProviderError
			switch {
			case tt.want.Username != "":
				if err != nil {
					t.Fatalf("got %v, want %s signed in", err, tt.want.Username)
				}
				if id.Issuer != p.URL || id.Subject != "sub-1" {
					t.Errorf("got issuer %q subject %q, want %q sub-1", id.Issuer, id.Subject, p.URL)
				}
				if tt.want.Values == nil {
					tt.want.Values = id.Values
				}
				tt.want.Issuer, tt.want.Subject = id.Issuer, id.Subject
				if fmt.Sprint(id) != fmt.Sprint(tt.want) {
					t.Errorf("got %+v, want %+v", id, tt.want)
				}
				if next != "/alerts?status=open" {
					t.Errorf("next: got %q, want /alerts?status=open", next)
				}
				return
			case err == nil:
				t.Fatalf("got %+v signed in, want refused", id)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("got %v, want %v", err, tt.err)
			case tt.reason != "" && (!errors.As(err, &ref) || ref.Reason != tt.reason):
				t.Errorf("got %v, want a refusal: %s", err, tt.reason)
			case tt.err == nil && tt.reason == "" && !errors.As(err, &pe):
				t.Errorf("got %v, want a *ProviderError", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q, want it to say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), p.ClientSecret) || strings.Contains(err.Error(), "eyJ") {
				t.Errorf("the error holds the secret or a token: %v", err)
			}
		})
	}
}

// TestFinishState: a callback that does not carry back the state this
// browser started with is refused before anything is sent to the
// provider.
func TestFinishState(t *testing.T) {
	p := oidctest.New(t)
	clk := newClock()
	rp := newRP(t, p, nil, Options{Now: clk.Now})
	other := newRP(t, p, nil, Options{Now: clk.Now})
	ctx := t.Context()
	begin := func() (url.Values, string) {
		authURL, cookie, err := rp.Begin(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		return authorize(t, authURL), cookie
	}
	tests := []struct {
		name string
		run  func() error
		msg  string
	}{
		{"no cookie", func() error {
			q, _ := begin()
			_, _, err := rp.Finish(ctx, "", q)
			return err
		}, "no sign-in cookie"},
		{"another sign-in's state", func() error {
			q, _ := begin()
			_, cookie := begin()
			_, _, err := rp.Finish(ctx, cookie, q)
			return err
		}, "not this browser's"},
		{"no state", func() error {
			q, cookie := begin()
			q.Del("state")
			_, _, err := rp.Finish(ctx, cookie, q)
			return err
		}, "not this browser's"},
		{"a forged cookie", func() error {
			q, cookie := begin()
			b := []byte(cookie)
			b[3] ^= 1
			_, _, err := rp.Finish(ctx, string(b), q)
			return err
		}, "signature does not match"},
		{"another server's cookie", func() error {
			authURL, cookie, err := other.Begin(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = rp.Finish(ctx, cookie, authorize(t, authURL))
			return err
		}, "signature does not match"},
		{"cookie at the bound", func() error {
			q, _ := begin()
			_, _, err := rp.Finish(ctx, strings.Repeat("a", MaxCookie), q)
			return err
		}, "malformed cookie"},
		{"cookie past the bound", func() error {
			q, _ := begin()
			_, _, err := rp.Finish(ctx, strings.Repeat("a", MaxCookie+1), q)
			return err
		}, "4097 bytes, more than 4096"},
		{"expired", func() error {
			q, cookie := begin()
			clk.Advance(StateLifetime + time.Second)
			defer clk.Advance(-StateLifetime - time.Second)
			_, _, err := rp.Finish(ctx, cookie, q)
			return err
		}, "more than 10m0s ago"},
		{"an error with another state", func() error {
			_, cookie := begin()
			_, _, err := rp.Finish(ctx, cookie, url.Values{"state": {"made-up"}, "error": {"access_denied"}})
			return err
		}, "not this browser's"},
	}
	hits := p.TokenHits.Load()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, ErrState) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want ErrState saying %q", err, tt.msg)
			}
		})
	}
	if n := p.TokenHits.Load() - hits; n != 0 {
		t.Errorf("%d requests reached the token endpoint, want none", n)
	}
}

// TestFinishCode: a code is used once, and only with the PKCE verifier of
// the sign-in that asked for it; a callback without code or error fails.
func TestFinishCode(t *testing.T) {
	p := oidctest.New(t)
	rp := newRP(t, p, nil, Options{})
	ctx := t.Context()
	authURL, cookie, err := rp.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, authURL)
	if _, _, err := rp.Finish(ctx, cookie, q); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.Finish(ctx, cookie, q); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("the same code again: got %v, want ErrProvider (invalid_grant)", err)
	}

	// The state cookie of this sign-in, signed by this server, but with
	// another verifier: the provider refuses the code.
	authURL, cookie, err = rp.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rp.seal.open(cookie, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st.Verifier = randomString()
	if _, _, err := rp.Finish(ctx, rp.seal.seal(st), authorize(t, authURL)); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("another verifier: got %v, want ErrProvider (invalid_grant)", err)
	}

	_, cookie, err = rp.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	st, _ = rp.seal.open(cookie, time.Now())
	if _, _, err := rp.Finish(ctx, cookie, url.Values{"state": {st.State}}); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "neither a code nor an error") {
		t.Errorf("no code: got %v, want ErrProvider", err)
	}
}

// TestMaxExchanges: past MaxExchanges callbacks talking to the provider,
// the next is refused at once with ErrBusy; once they are done, sign-ins
// go through again.
func TestMaxExchanges(t *testing.T) {
	const max = 2
	p := oidctest.New(t)
	rp := newRP(t, p, nil, Options{MaxExchanges: max})
	ctx := t.Context()
	entered, release := make(chan struct{}), make(chan struct{})
	p.TokenHook(func() {
		entered <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	errs := make(chan error, max)
	for range max {
		authURL, cookie, err := rp.Begin(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		q := authorize(t, authURL)
		wg.Go(func() {
			_, _, err := rp.Finish(ctx, cookie, q)
			errs <- err
		})
	}
	for range max {
		<-entered // both hold a slot and wait at the provider
	}
	authURL, cookie, err := rp.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, authURL)
	if _, _, err := rp.Finish(ctx, cookie, q); !errors.Is(err, ErrBusy) {
		t.Errorf("exchange %d: got %v, want ErrBusy", max+1, err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a held exchange: %v", err)
		}
	}
	p.TokenHook(nil)
	if _, _, err := rp.Finish(ctx, cookie, q); err != nil {
		t.Errorf("after the others ended: %v", err)
	}
}

// TestDiscovery: discovery happens at the first sign-in; a failure is
// remembered for RetryDiscovery (the provider is not asked again before),
// then tried again; an answer past MaxResponse fails.
func TestDiscovery(t *testing.T) {
	p := oidctest.New(t)
	clk := newClock()
	rp := newRP(t, p, nil, Options{Now: clk.Now, RetryDiscovery: time.Minute})
	if n := p.DiscoveryHits.Load(); n != 0 {
		t.Fatalf("New asked the provider %d times, want none", n)
	}
	p.Down(true)
	ctx := t.Context()
	for i := range 3 {
		if _, _, err := rp.Begin(ctx, "/"); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("try %d: got %v, want ErrProvider (503)", i, err)
		}
	}
	if n := p.DiscoveryHits.Load(); n != 1 {
		t.Errorf("got %d discovery requests within the retry time, want 1", n)
	}
	p.Down(false)
	clk.Advance(time.Minute)
	if _, _, err := rp.Begin(ctx, "/"); err != nil {
		t.Fatalf("after the retry time: %v", err)
	}
	if _, _, err := rp.Begin(ctx, "/"); err != nil || p.DiscoveryHits.Load() != 2 {
		t.Errorf("got %v and %d discovery requests, want the discovered provider kept (2)", err, p.DiscoveryHits.Load())
	}

	for _, tt := range []struct {
		name string
		pad  int
		err  error
	}{
		{"under the bound", MaxResponse - 2048, nil},
		{"past the bound", MaxResponse, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t)
			p.PadDiscovery(tt.pad)
			_, _, err := newRP(t, p, nil, Options{}).Begin(ctx, "/")
			if !errors.Is(err, tt.err) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
}

// TestClientUsed: every request goes through the client given (the egress
// policy's in the server).
func TestClientUsed(t *testing.T) {
	p := oidctest.New(t)
	var n atomic.Int64
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	rp := newRP(t, p, nil, Options{Client: client})
	if _, _, err := signIn(t, rp); err != nil {
		t.Fatal(err)
	}
	// Discovery, keys, token, userinfo.
	if got := n.Load(); got < 4 {
		t.Errorf("got %d requests through the client, want discovery, keys, token and userinfo (4)", got)
	}
	refuse := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("destination refused by egress policy")
	})}
	_, _, err := newRP(t, p, nil, Options{Client: refuse}).Begin(context.Background(), "/")
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "egress") {
		t.Errorf("a refusing client: got %v, want ErrProvider from it", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
