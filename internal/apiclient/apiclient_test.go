package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ten":
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"invalid or missing token"}`))
				return
			}
			w.Write([]byte("0123456789"))
		case "/hostile":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"bad \u001b[2Jquery"}`))
		case "/plain":
			http.Error(w, "not json", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, path, token string
		limit             int64
		want, wantErr     string
	}{
		{name: "at the bound", path: "/ten", token: "tok", limit: 10, want: "0123456789"},
		{name: "past the bound", path: "/ten", token: "tok", limit: 9, wantErr: "is larger than 9 bytes"},
		{name: "server's message", path: "/ten", limit: 10, wantErr: "server answered 401 Unauthorized: invalid or missing token"},
		{name: "hostile message", path: "/hostile", limit: 10, wantErr: "server answered 400 Bad Request: bad ?[2Jquery"},
		{name: "no message", path: "/plain", limit: 10, wantErr: "server answered 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Call(context.Background(), "testing", srv.URL, tt.token, "GET", tt.path, nil, nil, tt.limit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Call(context.Background(), "testing", "http://127.0.0.1:1", "", "GET", "/", nil, nil, 10); err == nil || !strings.HasPrefix(err.Error(), "testing http://127.0.0.1:1:") {
		t.Errorf("unreachable server: got %v, want an error saying what was being done where", err)
	}
}

func TestToken(t *testing.T) {
	t.Setenv(TokenEnv, "from-env")
	tests := []struct{ flag, want string }{
		{"", "from-env"},
		{"from-flag", "from-flag"},
	}
	for _, tt := range tests {
		if got := Token(tt.flag); got != tt.want {
			t.Errorf("Token(%q): got %q, want %q", tt.flag, got, tt.want)
		}
	}
}
