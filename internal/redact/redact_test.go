package redact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "https://example.com/hook", "https://example.com/hook"},
		{"port and path kept", "http://10.0.0.5:8080/alerts/in", "http://10.0.0.5:8080/alerts/in"},
		{"password", "https://user:pass@host.example/x", "https://user:***@host.example/x"},
		{"user only is a token", "https://ghp_0123456789abcdef@github.com/o/r", "https://***@github.com/o/r"},
		{"escaped password", "https://u:p%40ss%3Aw@h/x", "https://u:***@h/x"},
		{"api_key", "https://h/x?api_key=K1&level=high", "https://h/x?api_key=***&level=high"},
		{"many secret keys", "https://h/?key=a&apikey=b&token=c&secret=d&password=e&sig=f&signature=g&access_token=h&x=1",
			"https://h/?key=***&apikey=***&token=***&secret=***&password=***&sig=***&signature=***&access_token=***&x=1"},
		{"key case and spelling", "https://h/?API-Key=a&ApiKey=b&X-Amz-Signature=c&routing_key=d",
			"https://h/?API-Key=***&ApiKey=***&X-Amz-Signature=***&routing_key=***"},
		{"escaped key name", "https://h/?api%5Fkey=a", "https://h/?api%5Fkey=***"},
		{"empty secret value kept", "https://h/?token=&a=b", "https://h/?token=&a=b"},
		{"slack", "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX", "https://hooks.slack.com/***"},
		{"discord", "https://discord.com/api/webhooks/123456/abcdefTOKEN", "https://discord.com/***"},
		{"office", "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/x/y", "https://contoso.webhook.office.com/***"},
		{"telegram", "https://api.telegram.org/bot123456:ABC-DEF/sendMessage", "https://api.telegram.org/***"},
		{"google chat", "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K&token=T", "https://chat.googleapis.com/***?key=***&token=***"},
		{"webhook host with port", "https://hooks.slack.com:443/services/T/B/X", "https://hooks.slack.com:443/***"},
		{"not a lookalike", "https://hooks.slack.com.evil.example/services/a", "https://hooks.slack.com.evil.example/services/a"},
		{"generic hooks path", "https://chat.example.com/hooks/abc/def", "https://chat.example.com/hooks/***/***"},
		{"token-like segment", "https://h.example/in/4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c/x", "https://h.example/in/***/x"},
		{"uuid-free short segments kept", "https://h.example/api/v2/events", "https://h.example/api/v2/events"},
		{"fragment token", "https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=***&state=1"},
		{"everything", "https://u:p@hooks.slack.com/services/T/B/X?token=t#secret=s", "https://u:***@hooks.slack.com/***?token=***#secret=***"},
		{"mailto", "mailto:a@example.com?password=x", "mailto:a@example.com?password=***"},
		{"unparsable keeps host", "https://host.example/%zz?token=abc", "https://host.example/***"},
		{"unparsable no scheme", "%zz token=abc", "***"},
		{"relative", "/x?token=abc", "/x?token=***"},
		{"already masked", "https://u:***@h/x?api_key=***", "https://u:***@h/x?api_key=***"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := URL(tc.in); got != tc.want {
				t.Errorf("URL(%q):\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIsSecretName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"key", true}, {"api_key", true}, {"apikey", true}, {"API-Key", true}, {"x-api-key", true},
		{"token", true}, {"access_token", true}, {"X-Auth-Token", true}, {"secret", true}, {"client_secret", true},
		{"password", true}, {"db_passwd", true}, {"sig", true}, {"signature", true}, {"Authorization", true},
		{"Cookie", true}, {"routing_key", true}, {"header.Authorization", true}, {"headers.X-Api-Key", true},
		{"url", false}, {"method", false}, {"body", false}, {"content_type", false}, {"title", false},
		{"text", false}, {"route", false}, {"assignee", false}, {"level", false}, {"author", false}, {"", false},
	} {
		if got := IsSecretName(tc.name); got != tc.want {
			t.Errorf("IsSecretName(%q): got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"Authorization", "Bearer abc.def.ghi", "Bearer ***"},
		{"authorization", "Basic dXNlcjpwYXNz", "Basic ***"},
		{"Authorization", "rawtoken", "***"},
		{"Proxy-Authorization", "Bearer x", "Bearer ***"},
		{"X-Api-Key", "k-123", "***"},
		{"X-Auth-Token", "t", "***"},
		{"X-Webhook-Secret", "s", "***"},
		{"Cookie", "session=abc", "***"},
		{"Content-Type", "application/json", "application/json"},
		{"Referer", "https://h/?token=abc", "https://h/?token=***"},
		{"X-Anything", "", ""},
	} {
		if got := Header(tc.name, tc.value); got != tc.want {
			t.Errorf("Header(%q, %q): got %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"result with url", "POST https://h.example/x?api_key=K1: 200 OK", "POST https://h.example/x?api_key=***: 200 OK"},
		{"sentence end", "sent to https://u:p@h/x.", "sent to https://u:***@h/x."},
		{"two urls", "a https://hooks.slack.com/services/T/B/X b http://h/?token=t", "a https://hooks.slack.com/*** b http://h/?token=***"},
		{"bearer", "header Authorization: Bearer abcdef123456", "header Authorization: Bearer ***"},
		{"kv", "token=abc123 and password: hunter2 level=high", "token=*** and password: *** level=high"},
		{"json", `{"api_key": "abc", "user": "bob"}`, `{"api_key": "***", "user": "bob"}`},
		{"time is not a secret", "at 12:30:00 by key-less user", "at 12:30:00 by key-less user"},
		{"nothing", "blocked 203.0.113.7 for 1h", "blocked 203.0.113.7 for 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q):\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParams(t *testing.T) {
	in := map[string]string{
		"url":                  "https://u:p@h.example/x?api_key=K",
		"method":               "POST",
		"body":                 `{"user": "{{.Target}}", "token": "T0"}`,
		"api_token":            "T1",
		"header.Authorization": "Bearer T2",
		"custom":               "T3",
		"empty_secret":         "",
	}
	got := Params(in, []string{"custom", "empty_secret"})
	want := map[string]string{
		"url":                  "https://u:***@h.example/x?api_key=***",
		"method":               "POST",
		"body":                 `{"user": "{{.Target}}", "token": "***"}`,
		"api_token":            Mask,
		"header.Authorization": Mask,
		"custom":               Mask,
		"empty_secret":         "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
	if in["api_token"] != "T1" {
		t.Errorf("Params changed its input: api_token = %q", in["api_token"])
	}
	if Params(nil, nil) != nil {
		t.Error("Params(nil): want nil")
	}
}

// FuzzURL checks that masking never panics, is idempotent, and leaves no
// password or secret query value in a URL that parses (read back with the
// same parser).
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"https://user:pass@host/x", "https://h/x?api_key=K&a=b", "https://hooks.slack.com/services/T/B/X",
		"http://[::1]:80/x?token=t#frag", "https://u@h", "mailto:x@y?password=p", "%zz", "//h/x?sig=1",
		"https://h/x?a=1&&token=%41%42&token=2", "ftp://a:b@c:21/d;type=i", "https://h/hooks/abc?secret=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := URL(s)
		if again := URL(got); again != got {
			t.Fatalf("URL not idempotent: URL(%q) = %q, URL of that = %q", s, got, again)
		}
		if _, err := url.Parse(s); err != nil {
			return
		}
		m, err := url.Parse(got)
		if err != nil {
			t.Fatalf("URL(%q) = %q does not parse: %v", s, got, err)
		}
		if m.User != nil {
			if p, ok := m.User.Password(); ok && p != Mask {
				t.Fatalf("URL(%q) = %q: password %q left", s, got, p)
			} else if !ok && m.User.Username() != Mask {
				t.Fatalf("URL(%q) = %q: user information %q left", s, got, m.User.Username())
			}
		}
		for k, vs := range m.Query() {
			if !IsSecretName(k) {
				continue
			}
			for _, v := range vs {
				if v != "" && v != Mask {
					t.Fatalf("URL(%q) = %q: %s=%q left", s, got, k, v)
				}
			}
		}
		if IsWebhookHost(m.Host) && m.Path != "" && m.Path != "/" && m.Path != "/"+Mask {
			t.Fatalf("URL(%q) = %q: webhook path %q left", s, got, m.Path)
		}
	})
}

// FuzzText checks that Text never panics, is idempotent, and that a
// secret planted in a URL or after a secret name does not survive.
func FuzzText(f *testing.F) {
	f.Add("POST ", "https://h/x?api_key=", "s3cr3tvalue", ": 200 OK")
	f.Add("", "token=", "abcdefgh", "")
	f.Add("error: ", "https://u:", "hunter2hunter2", "@h/x")
	f.Add("x ", "Bearer ", "abcdef0123", " y")
	f.Add("blocked ", "", "203.0.113.7", " for 1h")
	f.Add("", "BASIC ", "dXNlcjpwYXNz", "")
	f.Fuzz(func(t *testing.T, before, lead, secret, after string) {
		s := before + lead + secret + after
		got := Text(s)
		if !mayHoldSecret(s) && maskText(s) != s {
			t.Fatalf("Text(%q) takes its shortcut, but masking would give %q", s, maskText(s))
		}
		if again := Text(got); again != got {
			t.Fatalf("Text not idempotent: Text(%q) = %q, Text of that = %q", s, got, again)
		}
		// A planted secret: an alphanumeric value of 8+ characters after a
		// lead that names it, at the start of a field.
		if len(secret) < 8 || !alnum(secret) || strings.Contains(before+after, secret) || strings.Contains(lead, secret) {
			return
		}
		if after != "" && alnum(after[:1]) {
			return // the value runs on into after
		}
		if before != "" && !strings.ContainsAny(before[len(before)-1:], " \t\n") {
			return // the lead is glued to before and is no longer a name
		}
		switch lead {
		case "https://h/x?api_key=", "token=", "https://u:", "Bearer ":
			if lead == "https://u:" && !strings.HasPrefix(after, "@h") {
				return
			}
			if strings.Contains(got, secret) {
				t.Fatalf("Text(%q) = %q: secret %q left", s, got, secret)
			}
		}
	})
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}
