package oidc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is what one sign-in carries from its start to the provider's
// callback, in a cookie signed by the server: the state and nonce the
// provider must send back, the PKCE verifier of the code, where to go
// after, and when it expires.
type State struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Bounds of the state cookie.
const (
	// StateLifetime is how long a sign-in may take at the provider.
	StateLifetime = 10 * time.Minute
	// MaxCookie bounds the cookie's length; a longer one is refused
	// before it is decoded.
	MaxCookie = 4096
	// maxNext bounds the page to return to (package web's bound).
	maxNext = 2048
	// maxRandom bounds state, nonce and verifier: they are 43 characters
	// when made here.
	maxRandom = 128
)

// Errors of the state cookie.
var (
	// ErrState means the callback's state is missing, forged, expired or
	// not the one this browser started with.
	ErrState = errors.New("the sign-in could not be matched to one started in this browser")
	// ErrStateExpired means the sign-in took longer than StateLifetime.
	ErrStateExpired = fmt.Errorf("%w: it was started more than %v ago", ErrState, StateLifetime)
)

// sealer signs and checks state cookies with a key of its own.
type sealer struct{ key []byte }

// newSealer makes a sealer with a new random key: a restart ends the
// sign-ins in progress, which then start again.
func newSealer() *sealer {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return &sealer{key: k}
}

// stateContext separates this MAC from any other use of the key.
const stateContext = "vigil oidc state v1\x00"

func (s *sealer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(stateContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// seal encodes st as payload "." MAC, both base64url.
func (s *sealer) seal(st State) string {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // strings and an integer always marshal
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

// open checks a cookie's MAC, decodes it and checks its fields and expiry.
// The cookie comes from the browser: anything may be in it.
func (s *sealer) open(cookie string, now time.Time) (State, error) {
	if cookie == "" {
		return State{}, fmt.Errorf("%w: no sign-in cookie (cookies blocked, or the sign-in was started elsewhere)", ErrState)
	}
	if len(cookie) > MaxCookie {
		return State{}, fmt.Errorf("%w: the cookie is %d bytes, more than %d", ErrState, len(cookie), MaxCookie)
	}
	p, m, ok := strings.Cut(cookie, ".")
	if !ok {
		return State{}, fmt.Errorf("%w: malformed cookie", ErrState)
	}
	got, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return State{}, fmt.Errorf("%w: the cookie's signature does not match", ErrState)
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return State{}, fmt.Errorf("%w: malformed cookie", ErrState)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%w: malformed cookie: %w", ErrState, err)
	}
	for _, f := range []string{st.State, st.Nonce, st.Verifier} {
		if f == "" || len(f) > maxRandom {
			return State{}, fmt.Errorf("%w: malformed cookie", ErrState)
		}
	}
	if len(st.Next) > maxNext {
		return State{}, fmt.Errorf("%w: malformed cookie", ErrState)
	}
	if now.Unix() > st.Expires {
		return State{}, ErrStateExpired
	}
	return st, nil
}

// randomString is 256 random bits, base64url: 43 characters.
func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
