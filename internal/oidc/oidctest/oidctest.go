// Package oidctest is an OpenID provider in the test's own process, for
// the tests of single sign-on: discovery, signing keys, an authorization
// endpoint that signs the configured person in at once (or answers with
// an error), a token endpoint that checks the client, the code, the
// redirect URL and the PKCE verifier, and a userinfo endpoint. Its knobs
// make it misbehave the ways a relying party must notice: an expired ID
// token, another audience, issuer or nonce, a foreign signing key.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Provider is a running test provider.
type Provider struct {
	// URL is the issuer (no trailing slash).
	URL string
	// ClientID and ClientSecret are the one client it knows.
	ClientID     string
	ClientSecret string
	// DiscoveryHits, TokenHits count the requests to those endpoints.
	DiscoveryHits atomic.Int64
	TokenHits     atomic.Int64

	key, otherKey *rsa.PrivateKey
	srv           *httptest.Server

	mu sync.Mutex
	// person's claims in the ID token and userinfo (sub included).
	idClaims, infoClaims map[string]any
	tamper               func(map[string]any)
	foreignKey           bool
	authError            string
	down                 bool
	discoveryPad         int
	tokenHook            func()
	codes                map[string]grant
	tokens               map[string]string // access token -> sub
}

type grant struct {
	nonce, challenge, redirect string
}

// New starts a provider for client id "vigil" with secret "s3cret", whose
// person is subject "sub-1", preferred_username "alice", email
// alice@example.com, groups [vigil-analysts] (all in the ID token; the
// userinfo endpoint answers the same).
func New(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{ClientID: "vigil", ClientSecret: "s3cret", codes: map[string]grant{}, tokens: map[string]string{}}
	k, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	p.key, p.otherKey = k[0], k[1]
	p.SetPerson(map[string]any{"sub": "sub-1", "preferred_username": "alice", "email": "alice@example.com",
		"email_verified": true, "groups": []string{"vigil-analysts"}}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.keys)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// keys are made once per process: an RSA key takes a while, and tests
// start many providers.
var keys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var k [2]*rsa.PrivateKey
	for i := range k {
		var err error
		if k[i], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return k, err
		}
	}
	return k, nil
})

// SetPerson sets who signs in: claims go into the ID token and, unless
// info is given, the userinfo answer; info (when not nil) is the userinfo
// answer instead.
func (p *Provider) SetPerson(claims, info map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idClaims = claims
	p.infoClaims = info
	if info == nil {
		p.infoClaims = maps.Clone(claims)
	}
}

// Tamper changes the ID token's claims after the provider has made them
// (iss, aud, exp, iat, nonce, ...) and before it signs them.
func (p *Provider) Tamper(f func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// SignWithForeignKey signs ID tokens with a key the provider does not
// publish.
func (p *Provider) SignWithForeignKey(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.foreignKey = on
}

// AuthError makes the authorization endpoint answer with this error code
// ("" signs the person in).
func (p *Provider) AuthError(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authError = code
}

// Down makes discovery answer 503.
func (p *Provider) Down(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// PadDiscovery makes the discovery document n bytes longer.
func (p *Provider) PadDiscovery(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discoveryPad = n
}

// TokenHook runs at the start of every token request (a test blocks it to
// hold exchanges in flight).
func (p *Provider) TokenHook(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenHook = f
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.DiscoveryHits.Add(1)
	p.mu.Lock()
	down, pad := p.down, p.discoveryPad
	p.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if pad > 0 {
		doc["padding"] = strings.Repeat("x", pad)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) keys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize signs the person in at once and sends the browser back.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("redirect_uri") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	p.mu.Lock()
	if p.authError != "" {
		v.Set("error", p.authError)
		v.Set("error_description", "the person said no")
	} else {
		code := random()
		p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		v.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.TokenHits.Add(1)
	p.mu.Lock()
	hook := p.tokenHook
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	g, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != g.redirect ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		oauthError(w, "invalid_grant")
		return
	}
	p.mu.Lock()
	claims := maps.Clone(p.idClaims)
	tamper, foreign := p.tamper, p.foreignKey
	access := random()
	p.tokens[access] = str(claims["sub"])
	p.mu.Unlock()
	now := time.Now()
	claims["iss"], claims["aud"], claims["iat"], claims["exp"] = p.URL, p.ClientID, now.Unix(), now.Add(time.Hour).Unix()
	claims["nonce"] = g.nonce
	if tamper != nil {
		tamper(claims)
	}
	key := p.key
	if foreign {
		key = p.otherKey
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600,
		"id_token": sign(key, claims)})
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	p.mu.Lock()
	sub, ok := "", false
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		sub, ok = p.tokens[h[len(prefix):]]
	}
	info := maps.Clone(p.infoClaims)
	p.mu.Unlock()
	if !ok || sub == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// sign makes a compact RS256 JWT of claims.
func sign(key *rsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	obj, err := signer.Sign(b)
	if err != nil {
		panic(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}

func oauthError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
