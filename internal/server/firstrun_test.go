package server

import (
	"net"
	"testing"
)

func TestSetupURL(t *testing.T) {
	tests := []struct {
		addr  string
		https bool
		want  string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080/setup"},
		{"0.0.0.0:8080", false, "http://localhost:8080/setup"},
		{"[::]:8443", true, "https://localhost:8443/setup"},
		{"[::1]:8080", false, "http://[::1]:8080/setup"},
		{"192.0.2.7:80", true, "https://192.0.2.7:80/setup"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := setupURL(addr, tt.https); got != tt.want {
			t.Errorf("setupURL(%s, https %v): got %q, want %q", tt.addr, tt.https, got, tt.want)
		}
	}
}
