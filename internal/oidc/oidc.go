// Package oidc signs console users in through an OpenID Connect provider:
// the authorization-code flow with PKCE, a state and a nonce carried in a
// short-lived cookie the server signs, the ID token verified by go-oidc
// (signature, issuer, audience, expiry, nonce), the userinfo endpoint's
// claims added to the token's, and the role read from a claim through the
// configured role map.
//
// Every request to the provider (discovery, keys, token, userinfo) goes
// through the client it is given, which is the egress policy's in the
// server, and every answer is bounded (MaxResponse). The package returns
// errors and never logs: no token, code or secret leaves it but to the
// provider.
package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	coreoidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Bounds and timeouts of the requests to the provider.
const (
	// MaxResponse bounds every answer of the provider; a longer one fails
	// the sign-in.
	MaxResponse = 1 << 20
	// DefaultMaxExchanges bounds the callbacks talking to the provider at
	// once: anyone may start a sign-in and call back with a made-up code,
	// and each such call costs a request to the provider.
	DefaultMaxExchanges = 16
	// DefaultRetryDiscovery is how long a failed discovery is answered
	// from memory before the provider is asked again.
	DefaultRetryDiscovery = 10 * time.Second
	// exchangeTimeout bounds one callback's requests to the provider.
	exchangeTimeout = 30 * time.Second
	// discoveryTimeout bounds one discovery.
	discoveryTimeout = 15 * time.Second
)

// Errors of a sign-in. ErrState (state.go) and *Refusal (claims.go) are
// the others.
var (
	// ErrProvider means the provider could not be reached, or answered
	// in a way Vigil cannot use (discovery, the code exchange, userinfo).
	ErrProvider = errors.New("the sign-in provider could not be used")
	// ErrToken means the provider's ID token failed verification: its
	// signature, issuer, audience, expiry or nonce.
	ErrToken = errors.New("the sign-in provider's ID token failed verification")
	// ErrBusy means DefaultMaxExchanges (Options.MaxExchanges) callbacks
	// are talking to the provider already.
	ErrBusy = errors.New("too many sign-ins in progress")
	// ErrTooLarge means an answer of the provider was longer than
	// MaxResponse.
	ErrTooLarge = fmt.Errorf("the provider's answer is longer than %d bytes", MaxResponse)
)

// ProviderError is an error the provider sent back to the callback
// (error=access_denied, ...).
type ProviderError struct {
	// Code is the error code when it is one the standards define,
	// otherwise "unknown_error": the query is the browser's, and anyone
	// can write one.
	Code string
	// Description is the provider's error_description, cut to 200 bytes
	// of printable text, for the server log.
	Description string
}

func (e *ProviderError) Error() string {
	if e.Code == "access_denied" {
		return "the sign-in was refused or cancelled at the provider (access_denied)"
	}
	return "the sign-in provider answered with an error (" + e.Code + ")"
}

// providerCodes are the error codes of RFC 6749 (4.1.2.1) and OpenID
// Connect Core (3.1.2.6).
var providerCodes = []string{"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable", "interaction_required", "login_required",
	"account_selection_required", "consent_required", "invalid_request_uri", "invalid_request_object",
	"request_not_supported", "request_uri_not_supported", "registration_not_supported"}

// Options are what an RP runs with.
type Options struct {
	// Client makes every request to the provider; the server gives the
	// egress policy's. nil: a client with a 30 s timeout and no policy.
	Client *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// MaxExchanges bounds the callbacks talking to the provider at once
	// (0: DefaultMaxExchanges).
	MaxExchanges int
	// RetryDiscovery is how long a failed discovery is remembered (0:
	// DefaultRetryDiscovery).
	RetryDiscovery time.Duration
}

// RP is Vigil as an OpenID Connect relying party. It discovers the
// provider at the first sign-in, not at start-up: the server starts
// whether or not the provider answers, and password sign-in keeps working.
type RP struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	seal   *sealer
	slots  chan struct{}
	retry  time.Duration

	mu       sync.Mutex
	provider *coreoidc.Provider
	failed   error
	failedAt time.Time
}

// New validates cfg and returns its relying party.
func New(cfg Config, o Options) (*RP, error) {
	if !cfg.Enabled() {
		return nil, errors.New("oidc: no issuer configured")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxExchanges <= 0 {
		o.MaxExchanges = DefaultMaxExchanges
	}
	if o.RetryDiscovery <= 0 {
		o.RetryDiscovery = DefaultRetryDiscovery
	}
	client := &http.Client{Timeout: exchangeTimeout}
	if o.Client != nil {
		c := *o.Client
		client = &c
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = limitTransport{base: base, max: MaxResponse}
	return &RP{cfg: cfg, client: client, now: o.Now, seal: newSealer(),
		slots: make(chan struct{}, o.MaxExchanges), retry: o.RetryDiscovery}, nil
}

// Name is the provider's name for the sign-in button.
func (rp *RP) Name() string { return rp.cfg.Name }

// ctx makes the provider's requests go through rp's client.
func (rp *RP) ctx(ctx context.Context) context.Context { return coreoidc.ClientContext(ctx, rp.client) }

// discover returns the provider, fetching its discovery document the
// first time, or again once a failure is RetryDiscovery old. Callers wait
// for one discovery rather than each making their own.
func (rp *RP) discover(ctx context.Context) (*coreoidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	if rp.failed != nil && rp.now().Sub(rp.failedAt) < rp.retry {
		return nil, rp.failed
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	p, err := coreoidc.NewProvider(rp.ctx(ctx), rp.cfg.Issuer)
	if err != nil {
		rp.failed, rp.failedAt = fmt.Errorf("%w: discovery of %s: %w", ErrProvider, rp.cfg.Issuer, err), rp.now()
		return nil, rp.failed
	}
	if p.Endpoint().AuthURL == "" || p.Endpoint().TokenURL == "" {
		rp.failed, rp.failedAt = fmt.Errorf("%w: discovery of %s: no authorization or token endpoint", ErrProvider, rp.cfg.Issuer), rp.now()
		return nil, rp.failed
	}
	rp.provider, rp.failed = p, nil
	return p, nil
}

func (rp *RP) oauth2(p *coreoidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret.Reveal(),
		Endpoint: p.Endpoint(), RedirectURL: rp.cfg.RedirectURL, Scopes: rp.cfg.Scopes}
}

// Begin starts a sign-in that returns to next (a path the caller has
// checked): it returns the provider's authorization URL to send the
// browser to and the state cookie's value, to set for the callback.
func (rp *RP) Begin(ctx context.Context, next string) (authURL, cookie string, err error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", "", err
	}
	if len(next) > maxNext {
		next = "/"
	}
	st := State{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Expires: rp.now().Add(StateLifetime).Unix()}
	authURL = rp.oauth2(p).AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), coreoidc.Nonce(st.Nonce))
	return authURL, rp.seal.seal(st), nil
}

// Finish completes a sign-in at the callback: cookie is the state
// cookie's value (empty when the browser sent none) and q the callback's
// query. It returns who signed in and the path to go to.
//
// The state is checked before anything else, so that an error or a code
// in a link someone was sent is never acted on.
func (rp *RP) Finish(ctx context.Context, cookie string, q url.Values) (Identity, string, error) {
	st, err := rp.seal.open(cookie, rp.now())
	if err != nil {
		return Identity{}, "", err
	}
	if got := q.Get("state"); subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: the state the provider sent back is not this browser's", ErrState)
	}
	if e := q.Get("error"); e != "" {
		code := "unknown_error"
		if slices.Contains(providerCodes, e) {
			code = e
		}
		return Identity{}, "", &ProviderError{Code: code, Description: printable(q.Get("error_description"), 200)}
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", fmt.Errorf("%w: the callback carries neither a code nor an error", ErrProvider)
	}
	select {
	case rp.slots <- struct{}{}:
		defer func() { <-rp.slots }()
	default:
		return Identity{}, "", ErrBusy
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	p, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	ctx = rp.ctx(ctx)
	tok, err := rp.oauth2(p).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: exchanging the code: %w", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token answer has no id_token", ErrToken)
	}
	idt, err := p.VerifierContext(ctx, &coreoidc.Config{ClientID: rp.cfg.ClientID, Now: rp.now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: %w", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: its nonce is not the one this sign-in sent", ErrToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, "", fmt.Errorf("%w: %w", ErrToken, err)
		}
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, "", fmt.Errorf("%w: reading its claims: %w", ErrToken, err)
	}
	// With several audiences, the token must say it was issued to Vigil
	// (OpenID Connect Core 3.1.3.7, items 4 and 5).
	if len(idt.Audience) > 1 && c.str("azp") != rp.cfg.ClientID {
		return Identity{}, "", fmt.Errorf("%w: it has several audiences and its azp is not %q", ErrToken, rp.cfg.ClientID)
	}
	if p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, "", fmt.Errorf("%w: userinfo: %w", ErrProvider, err)
		}
		if ui.Subject != idt.Subject {
			return Identity{}, "", fmt.Errorf("%w: userinfo is about another subject than the ID token", ErrToken)
		}
		var extra claims
		if err := ui.Claims(&extra); err != nil {
			return Identity{}, "", fmt.Errorf("%w: reading userinfo: %w", ErrProvider, err)
		}
		// The signed token's claims win; userinfo fills in the others.
		for k, v := range extra {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
	}
	id, err := rp.cfg.identify(idt.Issuer, idt.Subject, c)
	if err != nil {
		return Identity{}, "", err
	}
	return id, st.Next, nil
}

// printable keeps at most n bytes of s's printable ASCII.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// limitTransport reads each answer whole, up to its bound, before the
// caller sees it: past the bound the request fails with ErrTooLarge,
// which the libraries above hand back as it is (they would only describe
// an error of their own body reads).
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > t.max {
		return nil, ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, t.max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > t.max {
		return nil, ErrTooLarge
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	return resp, nil
}
