package agents

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agent/fim"
	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
)

const (
	sumA = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
	sumB = "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
)

func fimState(sha string) *fim.State {
	return &fim.State{Type: fim.TypeFile, Size: 4, Mode: 0o644, UID: 1000, GID: 100, Mtime: 1733580000123456789, Inode: 42, SHA256: sha}
}

func fimLine(t testing.TB, ev fim.Event) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed runs a fim record's document through the server's parser, as
// the pipeline does, with the transport's fields.
func parsed(t *testing.T, doc []byte) *event.Event {
	t.Helper()
	var ev event.Event
	parse.New(parse.Options{}).Parse(&ingest.Raw{Data: doc, Format: ingest.FormatJSON, Input: Input, Received: time.Now(),
		Fields: map[string]string{"host.id": "3f9c", "agent.id": "3f9c"}}, &ev)
	return &ev
}

func TestFIMDoc(t *testing.T) {
	at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   fim.Event
		want map[string]string
	}{
		{"created", fim.Event{Action: fim.Created, Path: "/etc/cron.d/evil", After: fimState(sumA), Trigger: fim.TriggerRealtime}, map[string]string{
			"event.module": "fim", "event.category": "file", "event.type": "creation", "event.action": "created", "file.path": "/etc/cron.d/evil",
			"file.name": "evil", "file.directory": "/etc/cron.d", "file.hash.sha256": sumA, "file.mode": "0644", "file.uid": "1000", "file.gid": "100",
			"file.inode": "42", "file.mtime": "2024-12-07T14:00:00.123456789Z", "file.type": "file", "vigil.fim.trigger": "realtime", "host.id": "3f9c",
			"message": "file created: /etc/cron.d/evil", "vigil.fim.before.hash.sha256": "",
		}},
		{"modified", fim.Event{Action: fim.Modified, Path: "/etc/passwd", Before: fimState(sumA), After: fimState(sumB), Changed: []string{"sha256", "mtime"}, Trigger: fim.TriggerScan}, map[string]string{
			"event.type": "change", "event.action": "modified", "file.hash.sha256": sumB, "vigil.fim.before.hash.sha256": sumA, "vigil.fim.changed": "sha256,mtime",
			"vigil.fim.before.mode": "0644", "vigil.fim.trigger": "scan",
		}},
		{"deleted", fim.Event{Action: fim.Deleted, Path: "/etc/shadow", Before: fimState(sumA), Trigger: fim.TriggerRescan}, map[string]string{
			"event.type": "deletion", "event.action": "deleted", "file.path": "/etc/shadow", "file.hash.sha256": sumA, "vigil.fim.before.hash.sha256": "",
		}},
		{"attributes, too large to hash", fim.Event{Action: fim.AttributesModified, Path: "/var/big", Before: &fim.State{Type: fim.TypeFile, Mode: 0o4755, HashOmitted: fim.OmitTooLarge},
			After: &fim.State{Type: fim.TypeFile, Mode: 0o755, HashOmitted: fim.OmitTooLarge}, Changed: []string{"mode"}, Trigger: fim.TriggerRealtime}, map[string]string{
			"event.action": "attributes_modified", "file.mode": "0755", "vigil.fim.before.mode": "4755", "file.hash.sha256": "", "vigil.fim.hash_omitted": "too_large",
		}},
		{"symlink", fim.Event{Action: fim.Created, Path: "/usr/bin/sudo", After: &fim.State{Type: fim.TypeSymlink, HashOmitted: fim.OmitSymlink, Target: "/tmp/x"}, Trigger: fim.TriggerRealtime}, map[string]string{
			"file.type": "symlink", "file.target_path": "/tmp/x", "vigil.fim.hash_omitted": "symlink",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := fimDoc(fimLine(t, tt.ev), at)
			if err != nil {
				t.Fatal(err)
			}
			ev := parsed(t, doc)
			for k, want := range tt.want {
				if got := ev.Str(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got := ev.Timestamp(); !got.Equal(at) {
				t.Errorf("@timestamp: got %v, want %v", got, at)
			}
			if v, ok := ev.GetName("file.size"); !ok || !v.IsNumber() {
				t.Errorf("file.size: got %v, want a number", v)
			}
		})
	}
}

func TestFIMDocRefuses(t *testing.T) {
	long := "/" + strings.Repeat("a", 1024)
	ok := func() fim.Event {
		return fim.Event{Action: fim.Modified, Path: "/etc/passwd", Before: fimState(sumA), After: fimState(sumB), Trigger: fim.TriggerRealtime}
	}
	tests := []struct {
		name   string
		change func(*fim.Event)
		want   string
	}{
		{"action", func(e *fim.Event) { e.Action = "renamed" }, `unknown action "renamed"`},
		{"trigger", func(e *fim.Event) { e.Trigger = "" }, "unknown trigger"},
		{"no path", func(e *fim.Event) { e.Path = "" }, "no path"},
		{"path too long", func(e *fim.Event) { e.Path = long }, "path longer than 1024"},
		{"path control", func(e *fim.Event) { e.Path = "/etc/\npasswd" }, "control character"},
		{"created with before", func(e *fim.Event) { e.Action = fim.Created }, "wrong states"},
		{"deleted with after", func(e *fim.Event) { e.Action = fim.Deleted }, "wrong states"},
		{"modified without before", func(e *fim.Event) { e.Before = nil }, "wrong states"},
		{"type", func(e *fim.Event) { e.After.Type = "fifo" }, "unknown file type"},
		{"size", func(e *fim.Event) { e.After.Size = -1 }, "negative size"},
		{"mode", func(e *fim.Event) { e.After.Mode = 0o10000 }, "mode past"},
		{"hash short", func(e *fim.Event) { e.After.SHA256 = "abc" }, "64 lowercase hex"},
		{"hash upper", func(e *fim.Event) { e.After.SHA256 = strings.ToUpper(sumA) }, "64 lowercase hex"},
		{"hash and reason", func(e *fim.Event) { e.After.HashOmitted = fim.OmitTooLarge }, "64 lowercase hex"},
		{"no hash no reason", func(e *fim.Event) { e.After.SHA256 = "" }, "no sha256"},
		{"target too long", func(e *fim.Event) { e.After.Target = long }, "target longer"},
		{"changed unknown", func(e *fim.Event) { e.Changed = []string{"colour"} }, "unknown or repeated"},
		{"changed repeated", func(e *fim.Event) { e.Changed = []string{"mode", "mode"} }, "unknown or repeated"},
		{"changed too many", func(e *fim.Event) { e.Changed = make([]string, 10) }, "more than 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ok()
			tt.change(&ev)
			_, err := fimDoc(fimLine(t, ev), time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, in := range []string{`{"action":"created","path":"/a","after":{"type":"file","sha256":"` + sumA + `"},"trigger":"scan","x":1}`, `{} {}`, `[]`, `{"action":"created"`} {
		if _, err := fimDoc([]byte(in), time.Now()); err == nil {
			t.Errorf("%s: got no error", in)
		}
	}
}

// FuzzFIMDoc: whatever an agent sends as a fim record, the server either
// refuses it or makes a document whose action, path and hash are the
// checked ones.
func FuzzFIMDoc(f *testing.F) {
	f.Add(fimLine(f, fim.Event{Action: fim.Created, Path: "/etc/x", After: fimState(sumA), Trigger: fim.TriggerRealtime}))
	f.Add(fimLine(f, fim.Event{Action: fim.Modified, Path: "/etc/x", Before: fimState(sumA), After: fimState(sumB), Changed: []string{"sha256"}, Trigger: fim.TriggerScan}))
	f.Add(fimLine(f, fim.Event{Action: fim.Deleted, Path: "/etc/x", Before: &fim.State{Type: fim.TypeSymlink, HashOmitted: fim.OmitSymlink, Target: "/y"}, Trigger: fim.TriggerRescan}))
	f.Add([]byte(`{"action":"created","path":"/\u0000","after":{"type":"file"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		doc, err := fimDoc(line, time.Unix(0, 0))
		if err != nil {
			return
		}
		var ev fim.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("accepted a line that does not decode: %v", err)
		}
		var d fimDocument
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("document: %v", err)
		}
		if d.Event.Action != ev.Action || d.File.Path != ev.Path || fimActions[d.Event.Action] == "" || len(d.File.Path) > 1024 {
			t.Fatalf("document %s from %s", doc, line)
		}
		if d.File.Hash != nil && !isHexLower(d.File.Hash.SHA256, 64) {
			t.Fatalf("hash %q", d.File.Hash.SHA256)
		}
	})
}

// TestFIMRecords: in a batch, a fim record becomes a JSON document
// without log.file.path, a fim record that fails its checks is refused
// and counted (bad_fim) without holding up the others, and a log line
// stays a log line.
func TestFIMRecords(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	sink := &memSink{}
	stats := &countStats{}
	s.SetSink(sink, stats)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, _, _ := s.CreateToken(ctx, "t", time.Hour, 10)
	h := newHost(t, "m1", "web-1")
	res, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.CA))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(h.key)
	pair, _ := tls.X509KeyPair([]byte(res.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c, err := dialAgent(t, l.Addr().String(), pool, pair, accepted)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := time.Now().UnixNano()
	good := fimLine(t, fim.Event{Action: fim.Created, Path: "/etc/x", After: fimState(sumA), Trigger: fim.TriggerRealtime})
	b, err := agentwire.EncodeBatch([]agentwire.Record{
		{Seq: 1, Time: now, Path: "/etc/x", Line: good, Kind: agentwire.KindFIM},
		{Seq: 2, Time: now, Path: "/etc/y", Line: []byte(`{"action":"renamed"}`), Kind: agentwire.KindFIM},
		{Seq: 3, Time: now, Path: "/var/log/app.log", Line: []byte("a log line")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: b}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := agentwire.ReadFrame(c, 0); err != nil || f.Type != agentwire.TypeAck || f.Ack.Seq != 3 {
		t.Fatalf("got %+v, %v; want ack 3", f, err)
	}
	sink.mu.Lock()
	msgs := slices.Clone(sink.msgs)
	sink.mu.Unlock()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if m := msgs[0]; m.Format != ingest.FormatJSON || m.Fields["host.id"] != res.AgentID || m.Fields["log.file.path"] != "" ||
		!strings.Contains(string(m.Data), `"module":"fim"`) {
		t.Errorf("fim message: got format %v fields %v data %s", m.Format, m.Fields, m.Data)
	}
	if m := msgs[1]; m.Format != ingest.FormatAuto || m.Fields["log.file.path"] != "/var/log/app.log" {
		t.Errorf("log message: got format %v fields %v", m.Format, m.Fields)
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if got := stats.n; got["agent rejected bad_fim"] != 1 || got["agent received"] != 2 || got["agent rejected duplicate"] != 0 {
		t.Errorf("counts: got %v, want 2 received, 1 bad_fim, no duplicate", got)
	}
}
