package notify

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestOutputTypes(t *testing.T) {
	want := []string{TypeEmail, TypeSlack, TypeSyslog, TypeWebhook}
	if got := types(); !slices.Equal(got, want) {
		t.Errorf("types: got %v, want %v", got, want)
	}
	if got, want := typeList(), "email, slack, syslog or webhook"; got != want {
		t.Errorf("typeList: got %q, want %q", got, want)
	}
	for _, typ := range types() {
		r := &Route{Name: "r", Type: typ}
		r.normalize()
		err := r.Validate()
		// No settings: every output asks for them.
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s without settings: got %v, want ErrInvalid", typ, err)
		}
		if s := outputs[typ].newSender(nil); s == nil {
			t.Errorf("%s: newSender returned nil", typ)
		}
	}
}

func TestOutputUnknownType(t *testing.T) {
	tests := []struct{ typ, want string }{
		{"", `route "r": type is required (email, slack, syslog or webhook)`},
		{"pager", `route "r": unknown type "pager" (want email, slack, syslog or webhook)`},
	}
	for _, tt := range tests {
		r := &Route{Name: "r", Type: tt.typ}
		r.normalize()
		err := r.Validate()
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("type %q: got %v, want %q (ErrInvalid)", tt.typ, err, tt.want)
		}
		n := &Notifier{}
		if err := n.newSender(r).send(t.Context(), &message{route: r}); err == nil || !strings.Contains(err.Error(), "unknown route type") {
			t.Errorf("type %q: sender got %v, want an unknown route type error", tt.typ, err)
		}
	}
}

func TestOutputHost(t *testing.T) {
	tests := []struct {
		name       string
		r          Route
		host, what string
	}{
		{"webhook", Route{Type: TypeWebhook, URL: "https://hooks.example.com:8443/x"}, "hooks.example.com", "url host"},
		{"slack", Route{Type: TypeSlack, URL: "https://[::1]/x"}, "::1", "url host"},
		{"webhook bad url", Route{Type: TypeWebhook, URL: "http://%zz"}, "", ""},
		{"email", Route{Type: TypeEmail, Email: &EmailConfig{Host: "smtp.example.com"}}, "smtp.example.com", "email host"},
		{"email without settings", Route{Type: TypeEmail}, "", ""},
		{"syslog", Route{Type: TypeSyslog, Syslog: &SyslogConfig{Addr: "10.0.0.1:514"}}, "10.0.0.1", "syslog host"},
		{"syslog without settings", Route{Type: TypeSyslog}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, what := outputs[tt.r.Type].host(&tt.r)
			if host != tt.host || what != tt.what {
				t.Errorf("got %q, %q, want %q, %q", host, what, tt.host, tt.what)
			}
		})
	}
}

// TestOutputSecretsOfOtherTypes: a route keeps the settings of a type it
// had before; their secrets are masked, refused as the mask and restored
// like its own type's.
func TestOutputSecretsOfOtherTypes(t *testing.T) {
	stored := Route{Name: "r", Type: TypeSyslog, URL: "https://h.example/in", Secret: "hmac-1",
		Email:  &EmailConfig{Host: "smtp.example.com", Password: "pw-1"},
		Syslog: &SyslogConfig{Addr: "10.0.0.1:514"}}
	m := stored.Masked()
	if m.Secret != masked || m.Email.Password != masked {
		t.Errorf("Masked: got secret %q password %q, want both %q", m.Secret, m.Email.Password, masked)
	}
	if stored.Secret != "hmac-1" || stored.Email.Password != "pw-1" {
		t.Errorf("Masked changed the stored route: secret %q password %q", stored.Secret, stored.Email.Password)
	}
	if !m.holdsMask() {
		t.Error("holdsMask of a masked route: got false, want true")
	}
	if stored.holdsMask() {
		t.Error("holdsMask of the stored route: got true, want false")
	}

	sent := m.Masked() // as read, sent back
	sent.restoreSecrets(&stored)
	if sent.Secret != "hmac-1" || sent.Email.Password != "pw-1" {
		t.Errorf("restoreSecrets: got secret %q password %q, want the stored ones", sent.Secret, sent.Email.Password)
	}

	// A password sent as the mask where none is stored becomes empty,
	// never the mask.
	sent = Route{Name: "r", Type: TypeEmail, Secret: masked, Email: &EmailConfig{Password: masked}}
	sent.restoreSecrets(&Route{Name: "r", Type: TypeEmail})
	if sent.Secret != "" || sent.Email.Password != "" {
		t.Errorf("restoreSecrets without stored secrets: got secret %q password %q, want both empty", sent.Secret, sent.Email.Password)
	}

	// A secret that is not the mask is the new value.
	sent = Route{Name: "r", Type: TypeWebhook, Secret: "hmac-2"}
	sent.restoreSecrets(&stored)
	if sent.Secret != "hmac-2" {
		t.Errorf("restoreSecrets of a new secret: got %q, want hmac-2", sent.Secret)
	}
}

// TestOutputNormalizeOtherTypes: defaults fill the settings a route has,
// whatever its type.
func TestOutputNormalizeOtherTypes(t *testing.T) {
	r := Route{Type: TypeWebhook, Email: &EmailConfig{ImplicitTLS: true}, Syslog: &SyslogConfig{Network: " UDP "}}
	r.normalize()
	want := Route{Type: TypeWebhook, Email: &EmailConfig{ImplicitTLS: true, Port: 465}, Syslog: &SyslogConfig{Network: "udp", Format: "cef"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("normalize: got %+v %+v %+v, want %+v %+v %+v", r, *r.Email, *r.Syslog, want, *want.Email, *want.Syslog)
	}
}

func TestRegisterOutputRefused(t *testing.T) {
	ok := output{validate: webhookOutput.validate, host: webhookOutput.host, newSender: webhookOutput.newSender}
	tests := []struct {
		name, typ string
		o         output
		want      string
	}{
		{"twice", TypeWebhook, ok, `output type "webhook" registered twice`},
		{"empty", "", ok, "not a lower-case name"},
		{"upper case", "Pager", ok, "not a lower-case name"},
		{"no sender", "pager", output{validate: ok.validate, host: ok.host}, "lacks validate, host or newSender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("got panic %q, want one containing %q", msg, tt.want)
				}
			}()
			registerOutput(tt.typ, tt.o)
		})
	}
}
