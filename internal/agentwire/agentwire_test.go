package agentwire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFrameRoundTrip(t *testing.T) {
	want := &Frame{Type: TypeHeartbeat, Heartbeat: &Heartbeat{Version: "1.2.3", OS: "linux", Arch: "amd64", UptimeSeconds: 7, RSSBytes: 9 << 20, CPUSeconds: 0.25}}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, want); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&buf, want); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := ReadFrame(&buf, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("frame %d (-want +got):\n%s", i, d)
		}
	}
	if _, err := ReadFrame(&buf, 0); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: got %v, want io.EOF", err)
	}
}

func frame(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(out, b...)
}

func TestReadFrameRefuses(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"length over the bound", string(huge), "frame too large"},
		{"length 4 GiB", "\xff\xff\xff\xff", "frame too large"},
		{"empty frame", "\x00\x00\x00\x00", "empty frame"},
		{"truncated body", "\x00\x00\x00\x10{\"type\"", "unexpected EOF"},
		{"not JSON", string(frame([]byte("hello"))), "decoding frame"},
		{"unknown type", string(frame([]byte(`{"type":"exec"}`))), `unknown frame type "exec"`},
		{"unknown field", string(frame([]byte(`{"type":"heartbeat","heartbeat":{},"cmd":"x"}`))), "unknown field"},
		{"heartbeat missing", string(frame([]byte(`{"type":"heartbeat"}`))), "without a heartbeat"},
		{"negative rss", string(frame([]byte(`{"type":"heartbeat","heartbeat":{"rss_bytes":-1}}`))), "negative"},
		{"control byte in version", string(frame([]byte(`{"type":"heartbeat","heartbeat":{"version":"1\n2"}}`))), "printable"},
		{"long os", string(frame([]byte(`{"type":"heartbeat","heartbeat":{"os":"` + strings.Repeat("a", 65) + `"}}`))), "longer than 64"},
		{"two values", string(frame([]byte(`{"type":"heartbeat","heartbeat":{}} {}`))), "more than one value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(strings.NewReader(tc.in), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReadFrameSmallerBound(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, &Frame{Type: TypeHeartbeat, Heartbeat: &Heartbeat{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(&buf, 8); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("got %v, want ErrFrameTooLarge", err)
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	f := &Frame{Type: TypeHeartbeat, Heartbeat: &Heartbeat{Version: strings.Repeat("x", MaxFrame)}}
	if err := WriteFrame(io.Discard, f); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("got %v, want ErrFrameTooLarge", err)
	}
}

func TestAgentID(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a, err := AgentID("0123456789abcdef0123456789abcdef", &k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := AgentID("0123456789abcdef0123456789abcdef", &k1.PublicKey)
	otherKey, _ := AgentID("0123456789abcdef0123456789abcdef", &k2.PublicKey)
	otherHost, _ := AgentID("fedcba9876543210fedcba9876543210", &k1.PublicKey)
	if a != again {
		t.Errorf("same machine and key: got %s and %s, want the same id", a, again)
	}
	if a == otherKey || a == otherHost {
		t.Errorf("another key or machine gave the same id %s", a)
	}
	if !IsAgentID(a) {
		t.Errorf("IsAgentID(%q) = false, want true", a)
	}
	for _, s := range []string{"", "../../etc/passwd", strings.ToUpper(a), a + "0", a[:31] + "g"} {
		if IsAgentID(s) {
			t.Errorf("IsAgentID(%q) = true, want false", s)
		}
	}
}

func TestEnrollRequestCheck(t *testing.T) {
	ok := EnrollRequest{Token: "t", MachineID: "0123456789abcdef", Hostname: "web-1.example.com", OS: "linux", Version: "dev"}
	if err := ok.Check(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(r *EnrollRequest)
		want string
	}{
		{"no token", func(r *EnrollRequest) { r.Token = "" }, "token"},
		{"long token", func(r *EnrollRequest) { r.Token = strings.Repeat("t", MaxToken+1) }, "token"},
		{"long csr", func(r *EnrollRequest) { r.CSR = strings.Repeat("c", MaxCSR+1) }, "csr"},
		{"no machine id", func(r *EnrollRequest) { r.MachineID = "" }, "machine_id"},
		{"long machine id", func(r *EnrollRequest) { r.MachineID = strings.Repeat("a", MaxMachineID+1) }, "machine_id"},
		{"machine id with slash", func(r *EnrollRequest) { r.MachineID = "../x" }, "machine_id"},
		{"no hostname", func(r *EnrollRequest) { r.Hostname = "" }, "hostname"},
		{"hostname at the bound", func(r *EnrollRequest) { r.Hostname = strings.Repeat("h", MaxHostname) }, ""},
		{"long hostname", func(r *EnrollRequest) { r.Hostname = strings.Repeat("h", MaxHostname+1) }, "hostname"},
		{"hostname with markup", func(r *EnrollRequest) { r.Hostname = "<script>" }, "hostname"},
		{"os with newline", func(r *EnrollRequest) { r.OS = "linux\n" }, "os"},
		{"long version", func(r *EnrollRequest) { r.Version = strings.Repeat("v", 65) }, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := r.Check()
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	WriteFrame(&buf, &Frame{Type: TypeHeartbeat, Heartbeat: &Heartbeat{Version: "1", OS: "linux", Arch: "arm64", UptimeSeconds: 3, RSSBytes: 1, CPUSeconds: 1.5}})
	f.Add(buf.Bytes())
	f.Add(frame([]byte(`{"type":"heartbeat","heartbeat":{}}`)))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add(frame([]byte(`{"type":"x"}`)))
	f.Add(frame([]byte(`{"type":"ack","ack":{"seq":12}}`)))
	f.Add(frame([]byte(`{"type":"heartbeat","heartbeat":{"buffer_bytes":4096,"dropped":3,"lag_seconds":1.5}}`)))
	f.Add(frame([]byte(`{"type":"inventory","inventory":{"id":1,"part":0,"parts":2,"data":"AAEC"}}`)))
	f.Add(frame([]byte(`{"type":"inventory_ack","inventory_ack":{"id":1,"digest":"` + strings.Repeat("a", 64) + `"}}`)))
	if b, err := EncodeBatch([]Record{{Seq: 1, Path: "/var/log/syslog", Line: []byte("hello")}}); err == nil {
		buf.Reset()
		WriteFrame(&buf, &Frame{Type: TypeRecords, Batch: b})
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b), 0)
		if err != nil {
			return
		}
		// A frame that was accepted is written again and read back the
		// same.
		var out bytes.Buffer
		if err := WriteFrame(&out, fr); err != nil {
			t.Fatalf("writing an accepted frame: %v", err)
		}
		again, err := ReadFrame(&out, 0)
		if err != nil {
			t.Fatalf("reading a written frame: %v", err)
		}
		if d := cmp.Diff(fr, again); d != "" {
			t.Errorf("round trip (-first +second):\n%s", d)
		}
	})
}

func FuzzEnrollRequest(f *testing.F) {
	f.Add([]byte(`{"token":"vigil_enroll_x","csr":"","machine_id":"0123456789abcdef","hostname":"web-1","os":"linux","version":"dev"}`))
	f.Add([]byte(`{"token":"t","machine_id":"../x","hostname":"a b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r EnrollRequest
		if json.Unmarshal(b, &r) != nil || r.Check() != nil {
			return
		}
		// What Check accepts is bounded and safe to log and store.
		if len(r.Token) > MaxToken || len(r.CSR) > MaxCSR || len(r.Hostname) > MaxHostname || len(r.MachineID) > MaxMachineID {
			t.Fatalf("accepted a field past its bound: %+v", r)
		}
		if strings.ContainsAny(r.Hostname+r.MachineID, "/\\ :") {
			t.Fatalf("accepted a path separator or space in the hostname or machine-id: %q", b)
		}
		for _, c := range []byte(r.Hostname + r.MachineID + r.OS + r.Version) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("accepted byte %#x: %q", c, b)
			}
		}
	})
}
