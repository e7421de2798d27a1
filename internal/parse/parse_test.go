package parse

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// pick returns the text of the named fields of ev (all values of a repeated
// field joined with "|"), for comparing with a want map.
func pick(ev *event.Event, names map[string]string) map[string]string {
	got := make(map[string]string, len(names))
	for name := range names {
		k, ok := event.Lookup(name)
		if !ok {
			continue
		}
		vals := ev.Values(nil, k)
		if len(vals) == 0 {
			continue
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.Str
		}
		got[name] = strings.Join(parts, "|")
	}
	return got
}

type fieldCase struct {
	name   string
	line   string
	format ingest.Format
	want   map[string]string
	ls     event.Logsource
	time   time.Time
	tags   []string
}

func runFieldCases(t *testing.T, tests []fieldCase) {
	t.Helper()
	p := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tt.line), Format: tt.format, Input: "test", Received: testReceived}, &ev)
			if diff := cmp.Diff(tt.want, pick(&ev, tt.want)); diff != "" {
				t.Errorf("fields (-want +got):\n%s\nevent: %s", diff, ev.AppendJSON(nil))
			}
			if tt.ls != (event.Logsource{}) {
				if diff := cmp.Diff(tt.ls, ev.Logsource); diff != "" {
					t.Errorf("logsource (-want +got):\n%s", diff)
				}
			}
			if !tt.time.IsZero() && !ev.Time.Equal(tt.time) {
				t.Errorf("got time %v, want %v", ev.Time, tt.time)
			}
			if diff := cmp.Diff(tt.tags, ev.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyslog(t *testing.T) {
	linuxSSHD := event.Logsource{Product: "linux", Service: "sshd"}
	runFieldCases(t, []fieldCase{
		{
			name: "rfc3164 full",
			line: "<38>Nov 21 10:15:01 web01 sshd[2231]: hello world",
			want: map[string]string{"log.syslog.priority": "38", "log.syslog.facility.code": "4", "log.syslog.severity.code": "6", "host.name": "web01", "process.name": "sshd", "process.pid": "2231", "message": "hello world", "event.kind": "event"},
			ls:   linuxSSHD,
			time: time.Date(2026, 11, 21, 10, 15, 1, 0, time.UTC),
		},
		{
			name: "rfc3164 no pri",
			line: "Nov 21 10:15:01 web01 cron[1]: hello",
			want: map[string]string{"host.name": "web01", "process.name": "cron", "process.pid": "1", "message": "hello"},
			time: time.Date(2026, 11, 21, 10, 15, 1, 0, time.UTC),
		},
		{
			name: "rfc3164 no hostname",
			line: "<13>Nov  2 01:02:03 myprog: text here",
			want: map[string]string{"process.name": "myprog", "message": "text here"},
			time: time.Date(2026, 11, 2, 1, 2, 3, 0, time.UTC),
		},
		{
			name: "rfc3164 no tag",
			line: "<13>Nov  2 01:02:03 host free text without a tag",
			want: map[string]string{"host.name": "host", "message": "free text without a tag"},
		},
		{
			name: "rfc3164 pri only",
			line: "<13>myprog[12]: text",
			want: map[string]string{"process.name": "myprog", "process.pid": "12", "message": "text"},
		},
		{
			name: "rsyslog iso timestamp",
			line: "<30>2026-11-21T10:26:00.123456+02:00 host2 systemd[1]: Started.",
			want: map[string]string{"host.name": "host2", "process.name": "systemd", "message": "Started."},
			time: time.Date(2026, 11, 21, 8, 26, 0, 123456000, time.UTC),
		},
		{
			name: "year from received, previous year when in the future",
			line: "<13>Dec 31 23:59:59 h p: x",
			time: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
			want: map[string]string{"message": "x"},
		},
		{
			name: "tomorrow is still this year",
			line: "<13>Nov 22 08:00:00 h p: x",
			time: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC),
			want: map[string]string{"message": "x"},
		},
		{
			name: "rfc5424",
			line: `<165>1 2026-11-21T10:18:00.123+01:00 app01 myapp 4242 ID47 [a@1 k="v" e="x\"y\]z"][b n="1"] ` + "\ufeff" + `the message`,
			want: map[string]string{"host.name": "app01", "process.name": "myapp", "process.pid": "4242", "log.syslog.msgid": "ID47", "log.syslog.structured_data.a@1.k": "v", "log.syslog.structured_data.a@1.e": `x"y]z`, "log.syslog.structured_data.b.n": "1", "message": "the message", "log.syslog.priority": "165"},
			time: time.Date(2026, 11, 21, 9, 18, 0, 123000000, time.UTC),
		},
		{
			name: "rfc5424 nil values",
			line: "<13>1 - - - - - - msg",
			want: map[string]string{"message": "msg"},
			time: testReceived,
		},
		{
			name: "rfc5424 bad structured data",
			line: `<13>1 2026-11-21T10:18:00Z h a - - [broken k="v msg`,
			want: map[string]string{"host.name": "h"},
			tags: []string{event.TagParseError},
		},
		{
			name:   "syslog format without header",
			line:   "no header at all",
			format: ingest.FormatSyslog,
			want:   map[string]string{"message": "no header at all"},
			tags:   []string{event.TagParseError},
		},
		{
			name: "cef after syslog header without hostname",
			line: "<134>Nov 21 10:21:00 CEF:0|V|P|1|sig|Name|3|src=10.0.0.1",
			want: map[string]string{"cef.device_vendor": "V", "source.ip": "10.0.0.1"},
		},
	})
}

func TestAuthParsers(t *testing.T) {
	const h = "<38>Nov 21 10:15:01 web01 "
	runFieldCases(t, []fieldCase{
		{
			name: "sshd accepted password",
			line: h + "sshd[1]: Accepted password for root from 192.168.1.10 port 52144 ssh2",
			want: map[string]string{"event.category": "authentication", "event.action": "ssh_login", "event.outcome": "success", "user.name": "root", "source.ip": "192.168.1.10", "source.port": "52144", "ssh.auth_method": "password", "event.dataset": "sshd"},
			ls:   event.Logsource{Product: "linux", Service: "sshd"},
		},
		{
			name: "sshd failed invalid user with space",
			line: h + "sshd[1]: Failed password for invalid user john doe from 203.0.113.45 port 41022 ssh2",
			want: map[string]string{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "john doe", "source.ip": "203.0.113.45", "source.port": "41022"},
		},
		{
			name: "sshd invalid user",
			line: h + "sshd[1]: Invalid user oracle from 198.51.100.7 port 33333",
			want: map[string]string{"event.action": "ssh_invalid_user", "event.outcome": "failure", "user.name": "oracle", "source.ip": "198.51.100.7", "source.port": "33333"},
		},
		{
			name: "sshd connection closed preauth",
			line: h + "sshd[1]: Connection closed by authenticating user root 203.0.113.45 port 41023 [preauth]",
			want: map[string]string{"event.action": "ssh_disconnect", "user.name": "root", "source.ip": "203.0.113.45", "source.port": "41023"},
		},
		{
			name: "sshd connection closed no user",
			line: h + "sshd[1]: Connection closed by 203.0.113.45 port 41023 [preauth]",
			want: map[string]string{"event.action": "ssh_disconnect", "source.ip": "203.0.113.45", "source.port": "41023"},
		},
		{
			name: "sshd received disconnect",
			line: h + "sshd[1]: Received disconnect from 203.0.113.45 port 41023:11: Bye Bye [preauth]",
			want: map[string]string{"event.action": "ssh_disconnect", "source.ip": "203.0.113.45", "source.port": "41023"},
		},
		{
			name: "sshd max auth",
			line: h + "sshd[1]: error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.45 port 41030 ssh2 [preauth]",
			want: map[string]string{"event.action": "ssh_max_auth_attempts", "event.outcome": "failure", "user.name": "admin", "source.ip": "203.0.113.45"},
		},
		{
			name: "sshd disconnecting too many failures",
			line: h + "sshd[1]: Disconnecting authenticating user root 203.0.113.45 port 41030: Too many authentication failures [preauth]",
			want: map[string]string{"event.action": "ssh_disconnect", "event.outcome": "failure", "user.name": "root", "source.ip": "203.0.113.45", "source.port": "41030"},
		},
		{
			name: "sshd user not allowed",
			line: h + "sshd[1]: User root from 203.0.113.45 not allowed because not listed in AllowUsers",
			want: map[string]string{"event.action": "ssh_user_not_allowed", "event.outcome": "failure", "user.name": "root", "source.ip": "203.0.113.45"},
		},
		{
			name: "sshd unable to negotiate",
			line: h + "sshd[1]: Unable to negotiate with 203.0.113.45 port 41031: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
			want: map[string]string{"event.action": "ssh_negotiation_failed", "source.ip": "203.0.113.45", "source.port": "41031"},
		},
		{
			name: "sshd PAM more failures",
			line: h + "sshd[1]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.45  user=root",
			want: map[string]string{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "root", "source.ip": "203.0.113.45"},
		},
		{
			name: "sshd pam auth failure",
			line: h + "sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.45  user=root",
			want: map[string]string{"event.action": "authentication-failure", "event.outcome": "failure", "user.name": "root", "source.ip": "203.0.113.45"},
		},
		{
			name: "sudo command",
			line: h + "sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id -u",
			want: map[string]string{"user.name": "alice", "user.target.name": "root", "process.command_line": "/usr/bin/id -u", "event.outcome": "success", "event.dataset": "sudo"},
			ls:   event.Logsource{Product: "linux", Service: "sudo"},
		},
		{
			name: "sudo incorrect password",
			line: h + "sudo:    bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh",
			want: map[string]string{"user.name": "bob", "event.outcome": "failure", "event.action": "sudo_auth_failure"},
		},
		{
			name: "sudo not in sudoers",
			line: h + "sudo:    eve : user NOT in sudoers ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash",
			want: map[string]string{"user.name": "eve", "event.outcome": "failure", "event.action": "sudo_not_in_sudoers"},
		},
		{
			name: "su failed",
			line: h + "su[2]: FAILED su for root by bob",
			want: map[string]string{"user.name": "bob", "user.target.name": "root", "event.outcome": "failure"},
		},
		{
			name: "su pam session",
			line: h + "su[2]: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
			want: map[string]string{"user.name": "alice", "user.target.name": "root", "event.action": "session-opened"},
		},
		{
			name: "useradd",
			line: h + "useradd[3]: new user: name=backdoor, UID=1002, GID=1002, home=/home/backdoor, shell=/bin/bash",
			want: map[string]string{"event.category": "iam", "event.action": "user-created", "user.name": "backdoor", "user.id": "1002"},
		},
		{
			name: "usermod group",
			line: h + "usermod[3]: add 'backdoor' to group 'sudo'",
			want: map[string]string{"event.category": "iam", "event.action": "added-to-group", "user.name": "backdoor", "group.name": "sudo"},
		},
		{
			name: "groupadd",
			line: h + "groupadd[3]: new group: name=devs, GID=1003",
			want: map[string]string{"event.action": "group-created", "group.name": "devs", "group.id": "1003"},
		},
		{
			name: "chpasswd",
			line: h + "chpasswd[3]: pam_unix(chpasswd:chauthtok): password changed for bob",
			want: map[string]string{"event.action": "password-changed", "user.name": "bob"},
		},
		{
			name: "logind new session",
			line: h + "systemd-logind[4]: New session 42 of user alice.",
			want: map[string]string{"event.action": "session-created", "user.name": "alice", "session.id": "42"},
		},
		{
			name: "cron",
			line: h + "CRON[5]: (root) CMD (/usr/local/bin/backup.sh --full)",
			want: map[string]string{"user.name": "root", "process.command_line": "/usr/local/bin/backup.sh --full", "event.dataset": "cron"},
			ls:   event.Logsource{Product: "linux", Service: "cron"},
		},
	})
}

func TestStructuredDecoders(t *testing.T) {
	runFieldCases(t, []fieldCase{
		{
			name: "cef escapes and spaces",
			line: `CEF:0|Ven\|dor|Prod|1.0|42|Name with \\ backslash|7|src=10.0.0.1 msg=hello world a\=b fname=C:\\tmp\\x.exe dpt=443`,
			want: map[string]string{"cef.device_vendor": "Ven|dor", "cef.name": `Name with \ backslash`, "source.ip": "10.0.0.1", "message": "hello world a=b", "file.name": `C:\tmp\x.exe`, "destination.port": "443", "cef.extensions.dpt": "443", "dpt": "443", "event.severity": "7"},
		},
		{
			name: "cef truncated extension",
			line: `CEF:0|V|P|1|s|n|3|src=10.0.0.1 =oops`,
			want: map[string]string{"source.ip": "10.0.0.1 =oops"},
		},
		{
			name: "cef broken header",
			line: `CEF:0|V|P`,
			want: map[string]string{"cef.device_vendor": "V", "message": "CEF:0|V|P"},
			tags: []string{event.TagParseError},
		},
		{
			name: "leef 1.0 tabs",
			line: "LEEF:1.0|Microsoft|MSExchange|4.0|15345|src=192.0.2.1\tdst=172.16.0.1\tusrName=joe",
			want: map[string]string{"leef.vendor": "Microsoft", "source.ip": "192.0.2.1", "destination.ip": "172.16.0.1", "user.name": "joe"},
		},
		{
			name: "leef 2.0 hex delimiter",
			line: "LEEF:2.0|V|P|1.0|e1|0x5E|src=10.0.0.1^usrName=al ice",
			want: map[string]string{"source.ip": "10.0.0.1", "user.name": "al ice"},
		},
		{
			name: "logfmt",
			line: `ts=2026-11-21T10:23:00Z level=info msg="quoted \"inner\" text" n=5`,
			want: map[string]string{"level": "info", "msg": `quoted "inner" text`, "n": "5"},
		},
		{
			name: "mostly text is not kv",
			line: `the quick brown fox jumps a=b`,
			want: map[string]string{"message": "the quick brown fox jumps a=b"},
		},
		{
			name:   "json types and flattening",
			line:   `{"a":{"b":{"c":"x"}},"n":1.50,"i":-3,"t":true,"z":null,"arr":[1,"two",{"k":"v"}],"big":123456789012345678901234567890}`,
			format: ingest.FormatJSON,
			want:   map[string]string{"a.b.c": "x", "n": "1.50", "i": "-3", "t": "true", "z": "", "arr": "1|two", "arr.k": "v", "big": "123456789012345678901234567890"},
		},
		{
			name:   "json epoch millis",
			line:   `{"timestamp":1795255200123,"message":"m"}`,
			format: ingest.FormatJSON,
			want:   map[string]string{"message": "m"},
			time:   time.Date(2026, 11, 21, 10, 0, 0, 123000000, time.UTC),
		},
		{
			name:   "json escapes",
			line:   `{"s":"a\"b\\c\u00e9\n"}`,
			format: ingest.FormatJSON,
			want:   map[string]string{"s": "a\"b\\cé\n"},
		},
		{
			name:   "json cut at a size limit keeps complete members",
			line:   `{"a":"b","c":{"d":[1,2]},"e":"unterminated`,
			format: ingest.FormatJSON,
			want:   map[string]string{"a": "b", "c.d": "1|2", "message": `{"a":"b","c":{"d":[1,2]},"e":"unterminated`},
			tags:   []string{event.TagParseError},
		},
		{
			name:   "json not an object",
			line:   `[1,2]`,
			format: ingest.FormatJSON,
			want:   map[string]string{"message": "[1,2]"},
			tags:   []string{event.TagParseError},
		},
		{
			name: "auditd hex and enrichment",
			line: "type=EXECVE msg=audit(1795255200.5:7): argc=2 a0=\"cat\" a1=2F746D702F612062\x1dARGC=2",
			want: map[string]string{"type": "EXECVE", "a0": "cat", "a1": "/tmp/a b", "ARGC": "2", "process.command_line": "cat /tmp/a b", "auditd.sequence": "7"},
			ls:   event.Logsource{Product: "linux", Service: "auditd"},
			time: time.Date(2026, 11, 21, 10, 0, 0, 500000000, time.UTC),
		},
		{
			name: "nginx combined",
			line: `192.0.2.44 - bob [21/Nov/2026:10:20:02 +0100] "GET /a/b?x=1 HTTP/2.0" 404 0 "-" "curl/8"`,
			want: map[string]string{"source.ip": "192.0.2.44", "user.name": "bob", "http.request.method": "GET", "url.original": "/a/b?x=1", "url.path": "/a/b", "url.query": "x=1", "http.version": "2.0", "http.response.status_code": "404", "http.response.body.bytes": "0", "user_agent.original": "curl/8"},
			ls:   event.Logsource{Category: "webserver"},
			time: time.Date(2026, 11, 21, 9, 20, 2, 0, time.UTC),
		},
		{
			name: "access bad request line",
			line: `192.0.2.44 - - [21/Nov/2026:10:20:02 +0000] "\x16\x03\x01" 400 157 "-" "-"`,
			want: map[string]string{"http.response.status_code": "400", "url.original": `\x16\x03\x01`},
		},
	})
}

func TestTransportFieldsAndTags(t *testing.T) {
	p := New(Options{})
	var ev event.Event
	ev.Fields = append(ev.Fields, event.Field{Key: event.Intern("stale"), Value: event.String("x")})
	ev.Tags = append(ev.Tags, "stale")
	p.Parse(&ingest.Raw{
		Data:      []byte(`{"a":"b"`),
		Format:    ingest.FormatJSON,
		Input:     "http",
		Received:  testReceived,
		Tags:      []string{"team-a"},
		Fields:    map[string]string{"log.file.path": "/var/log/x.json", "host.name": "shipper"},
		Truncated: true,
	}, &ev)
	if got, want := ev.Tags, []string{"team-a", event.TagTruncated, event.TagParseError}; !cmp.Equal(got, want) {
		t.Errorf("got tags %v, want %v", got, want)
	}
	if got := ev.Str("stale"); got != "" {
		t.Errorf("got stale field %q, want it reset", got)
	}
	if got, want := ev.Fields[0].Key.Name(), "host.name"; got != want {
		t.Errorf("got first field %q, want transport fields first, sorted (%q)", got, want)
	}
	if got, want := ev.Input, "http"; got != want {
		t.Errorf("got input %q, want %q", got, want)
	}
	if !ev.Time.Equal(testReceived) {
		t.Errorf("got time %v, want the received time", ev.Time)
	}
	if got, want := ev.Raw, `{"a":"b"`; got != want {
		t.Errorf("got raw %q, want %q", got, want)
	}
}

func TestLocation(t *testing.T) {
	loc := time.FixedZone("UTC+3", 3*3600)
	p := New(Options{Location: loc})
	var ev event.Event
	p.Parse(&ingest.Raw{Data: []byte("<13>Nov 21 10:00:00 h p: x"), Received: testReceived}, &ev)
	if want := time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("got %v, want %v", ev.Time, want)
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-21T10:00:00Z", time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-21T10:00:00.5+01:30", time.Date(2026, 11, 21, 8, 30, 0, 500000000, time.UTC), true},
		{"2026-11-21 10:00:00", time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-21T10:00:00-0500", time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC), true},
		{"2026-13-21T10:00:00Z", time.Time{}, false},
		{"2026-11-21T10:00:00Zjunk", time.Time{}, false},
		{"2026-11-21", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseTimestamp(tt.in, time.UTC)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	p := New(Options{})
	lines := []string{benchSSHD, bench5424, benchNginx, benchJSON, benchCEF, benchAuditd, benchKV}
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = string(parseLine(t, p, l).AppendJSON(nil))
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			var ev event.Event
			for n := 0; n < 200; n++ {
				i := n % len(lines)
				p.Parse(&ingest.Raw{Data: []byte(lines[i]), Input: "test", Received: testReceived}, &ev)
				if got := string(ev.AppendJSON(nil)); got != want[i] {
					t.Errorf("concurrent parse of line %d differs:\ngot  %s\nwant %s", i, got, want[i])
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func TestTextFormatSyslogFile(t *testing.T) {
	runFieldCases(t, []fieldCase{
		{
			name:   "auth.log line",
			line:   "Nov 21 10:15:01 web01 sshd[1]: Invalid user bob from 192.0.2.9 port 4242",
			format: ingest.FormatText,
			want:   map[string]string{"host.name": "web01", "user.name": "bob", "event.action": "ssh_invalid_user", "message": "Invalid user bob from 192.0.2.9 port 4242"},
			ls:     event.Logsource{Product: "linux", Service: "sshd"},
			time:   time.Date(2026, 11, 21, 10, 15, 1, 0, time.UTC),
		},
		{
			name:   "plain text line",
			line:   "Nov is a month",
			format: ingest.FormatText,
			want:   map[string]string{"message": "Nov is a month"},
		},
	})
}

func TestMessageFieldsWin(t *testing.T) {
	p := New(Options{})
	var ev event.Event
	p.Parse(&ingest.Raw{
		Data:     []byte("<13>Nov 21 10:00:00 fromsyslog p: x"),
		Received: testReceived,
		Fields:   map[string]string{"host.name": "fromtransport", "source": "hec"},
	}, &ev)
	if got := ev.Values(nil, event.Intern("host.name")); len(got) != 1 || got[0].Str != "fromsyslog" {
		t.Errorf("got host.name %v, want only the message's own", got)
	}
	if got, want := ev.Str("source"), "hec"; got != want {
		t.Errorf("got source %q, want %q", got, want)
	}
}

// TestTransportTime: a time the transport was given (HEC's envelope
// "time") is the event's time, over the message's own and the receive
// time; a malformed one is ignored.
func TestTransportTime(t *testing.T) {
	p := New(Options{})
	for _, tc := range []struct {
		name, data, ts string
		want           time.Time
	}{
		{"syslog line", "<13>Nov 21 10:00:00 h sshd[1]: x", "2023-11-14T22:13:20.123Z", time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)},
		{"json with its own time", `{"@timestamp":"2026-11-21T10:00:00Z","message":"x"}`, "2023-11-14T22:13:20Z", time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)},
		{"text", "plain text", "2023-11-14T22:13:20Z", time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)},
		{"malformed", "plain text", "soon", testReceived},
	} {
		var ev event.Event
		p.Parse(&ingest.Raw{Data: []byte(tc.data), Received: testReceived, Fields: map[string]string{ingest.FieldTime: tc.ts}}, &ev)
		if !ev.Time.Equal(tc.want) {
			t.Errorf("%s: time %v, want %v", tc.name, ev.Time, tc.want)
		}
	}
}
