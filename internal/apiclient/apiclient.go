// Package apiclient calls Vigil's REST API for the command-line tools
// (vigil search, vigil user with --server): a bearer token, an answer read
// up to a bound, and the server's own message when it refuses.
package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/vigilsec/vigil/internal/termsafe"
)

// TokenEnv is the environment variable that holds the API token when
// none is given on the command line.
const TokenEnv = "VIGIL_TOKEN"

// Token is the API token of a command that talks to a server: its
// --token, or env VIGIL_TOKEN when that is empty.
func Token(token string) string {
	if token == "" {
		return os.Getenv(TokenEnv)
	}
	return token
}

// Call sends one request to the REST API of the server at base
// (with the bearer token, when given) and returns the body of a 2xx
// answer of at most limit bytes (a longer one is an error, not cut
// short). Any other answer is an error that carries the server's own
// message. what says what the command was doing, for the error of a
// failed connection ("searching").
func Call(ctx context.Context, what, base, token, method, path string, query url.Values, body io.Reader, limit int64) ([]byte, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, base, err)
	}
	defer resp.Body.Close()
	// An error's message is read whatever limit the answer has.
	b, err := io.ReadAll(io.LimitReader(resp.Body, max(limit, 64<<10)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			// The message is printed: it may not drive the terminal.
			return nil, fmt.Errorf("server answered %s: %s", resp.Status, termsafe.String(e.Error))
		}
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the answer of %s is larger than %d bytes; narrow the request", base, limit)
	}
	return b, nil
}
