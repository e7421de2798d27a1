package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzRouteJSON feeds route bodies as the API receives them: decoding,
// validation and matching must not panic, and a valid route survives a
// round trip through its stored form.
func FuzzRouteJSON(f *testing.F) {
	f.Add(`{"name":"soc","type":"webhook","url":"https://h.example/x","secret":"s","min_level":"high","tags":["attack.t1110"],"digest":"5m"}`)
	f.Add(`{"name":"m","type":"email","email":{"host":"smtp","port":25,"from":"a@example.org","to":["b@example.org"],"starttls":false}}`)
	f.Add(`{"name":"s","type":"syslog","syslog":{"addr":"siem:514","network":"udp","format":"rfc5424"},"entities":{"source.ip":["10.0.0.0/8"]},"rate_limit":5}`)
	f.Add(`{"name":"x","type":"slack","url":"http://h","digest":90,"tags":["a*",""]}`)
	f.Fuzz(func(t *testing.T, body string) {
		if checkFields([]byte(body)) != nil {
			return
		}
		var r Route
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		r.normalize()
		nt := alertN("x", "high", "rule")
		r.Matches(&nt)
		if r.Validate() != nil {
			return
		}
		b, err := json.Marshal(&r)
		if err != nil {
			t.Fatalf("marshal valid route: %v", err)
		}
		var back Route
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if diff := cmp.Diff(r, back, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-before +after):\n%s", diff)
		}
	})
}

// FuzzRetryAfter checks that any Retry-After header gives a bounded,
// non-negative delay.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > 24*time.Hour {
			t.Errorf("parseRetryAfter(%q) = %s", v, d)
		}
	})
}
