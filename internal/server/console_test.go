package server

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/config"
)

// TestRootServesConsoleAndShippers checks that GET / gives a browser the
// console (a redirect to its login page) and an Elasticsearch shipper the
// version document, on one listener.
func TestRootServesConsoleAndShippers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	const token = "root-test-token-0123456789"
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Syslog.UDP, cfg.Syslog.TCP, cfg.Syslog.TLS = "", "", ""
	cfg.BootstrapToken = token
	s, _ := startServer(t, cfg)
	base := "http://" + s.HTTPAddr.String()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, _ := get(map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("browser: got %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:"+token))
	for name, hdr := range map[string]map[string]string{
		"basic auth":        {"Authorization": basic},
		"basic auth, html":  {"Authorization": basic, "Accept": "text/html"},
		"bearer, no accept": {"Authorization": "Bearer " + token},
		"api key":           {"Authorization": "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id:"+token))},
	} {
		resp, body := get(hdr)
		var doc struct {
			Version struct{ Number string } `json:"version"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &doc) != nil || doc.Version.Number == "" {
			t.Errorf("%s: got %d %.200s, want 200 with the Elasticsearch version document", name, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s: no X-Elastic-Product header", name)
		}
	}
	if resp, _ := get(nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("shipper without credentials: got %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:wrong-token-xxxxxxxx"))}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("shipper with a wrong token: got %d, want 401", resp.StatusCode)
	}
	for _, p := range []string{"/login", "/static/console.css", "/static/htmx.min.js"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", p, resp.StatusCode)
		}
	}
}
