package parse

import (
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// dropbearLines are messages of Dropbear 2013.56 to 2024.86 (and the
// lower-case forms of older ones) as syslog writes them.
var dropbearLines = []string{
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Bad password attempt for 'root' from 203.0.113.45:41022",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: bad password attempt for 'admin' from 203.0.113.45:41023",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Password auth succeeded for 'root' from 192.0.2.10:52144",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Pubkey auth succeeded for 'alice' with ssh-ed25519 key SHA256:Zq3Vz1bQ9cYk8P6X2n0rj4m0pN7vH5tYxK1wL2eR3aU from 2001:db8::7:40100",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Login attempt for nonexistent user from 203.0.113.45:41024",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Login attempt for nonexistent user 'oracle' from 203.0.113.45:41025",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Exit before auth from <203.0.113.45:41026>: (user 'root', 10 fails): Max auth tries reached - user 'root'",
	"<38>Nov 21 10:15:04 gw dropbear[2234]: Exit before auth from <203.0.113.45:41027>: Max auth tries reached - user 'is invalid'",
}

func TestDropbear(t *testing.T) {
	ls := event.Logsource{Product: "linux"}
	runFieldCases(t, []fieldCase{
		{
			name: "bad password",
			line: dropbearLines[0],
			want: map[string]string{"event.category": "authentication", "event.action": "ssh_login", "event.outcome": "failure", "event.dataset": "dropbear",
				"ssh.auth_method": "password", "user.name": "root", "source.ip": "203.0.113.45", "source.port": "41022", "process.name": "dropbear"},
			ls: ls,
		},
		{
			name: "bad password before 2013",
			line: dropbearLines[1],
			want: map[string]string{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "admin", "source.ip": "203.0.113.45", "source.port": "41023"},
			ls:   ls,
		},
		{
			name: "password accepted",
			line: dropbearLines[2],
			want: map[string]string{"event.action": "ssh_login", "event.outcome": "success", "ssh.auth_method": "password", "user.name": "root", "source.ip": "192.0.2.10"},
			ls:   ls,
		},
		{
			name: "public key over IPv6",
			line: dropbearLines[3],
			want: map[string]string{"event.action": "ssh_login", "event.outcome": "success", "ssh.auth_method": "publickey", "user.name": "alice", "source.ip": "2001:db8::7", "source.port": "40100"},
			ls:   ls,
		},
		{
			name: "nonexistent user",
			line: dropbearLines[4],
			want: map[string]string{"event.action": "ssh_invalid_user", "event.outcome": "failure", "source.ip": "203.0.113.45", "source.port": "41024"},
			ls:   ls,
		},
		{
			name: "nonexistent user named",
			line: dropbearLines[5],
			want: map[string]string{"event.action": "ssh_invalid_user", "user.name": "oracle", "source.ip": "203.0.113.45"},
			ls:   ls,
		},
		{
			name: "max tries",
			line: dropbearLines[6],
			want: map[string]string{"event.action": "ssh_max_auth_attempts", "event.outcome": "failure", "user.name": "root", "source.ip": "203.0.113.45", "source.port": "41026"},
			ls:   ls,
		},
		{
			name: "max tries unknown user",
			line: dropbearLines[7],
			want: map[string]string{"event.action": "ssh_max_auth_attempts", "source.ip": "203.0.113.45"},
			ls:   ls,
		},
		{
			// A quote in a name: the name runs to the last "' ".
			name: "quote in name",
			line: "<38>Nov 21 10:15:04 gw dropbear[1]: Bad password attempt for 'o'brien' from 203.0.113.45:1",
			want: map[string]string{"user.name": "o'brien", "source.ip": "203.0.113.45"},
			ls:   ls,
		},
		{
			// A forged address is not an address: the login stands without it.
			name: "not an address",
			line: "<38>Nov 21 10:15:04 gw dropbear[1]: Bad password attempt for 'root' from evil;rm -rf /:22",
			want: map[string]string{"event.action": "ssh_login", "user.name": "root"},
			ls:   ls,
		},
	})
}

// TestDropbearAbsent: what a message does not say is not set.
func TestDropbearAbsent(t *testing.T) {
	p := New(Options{})
	tests := []struct {
		name, line string
		absent     []string
	}{
		{"nonexistent user", dropbearLines[4], []string{"user.name"}},
		{"max tries unknown user", dropbearLines[7], []string{"user.name"}},
		{"not an address", "<38>Nov 21 10:15:04 gw dropbear[1]: Bad password attempt for 'root' from evil;rm -rf /:22", []string{"source.ip", "source.port"}},
		// Not a login message: decoded by its shape, as any program's.
		{"other message", "<38>Nov 21 10:15:04 gw dropbear[1]: Running in background", []string{"event.action", "event.dataset"}},
		{"unquoted user", "<38>Nov 21 10:15:04 gw dropbear[1]: Bad password attempt for root from 203.0.113.45:1", []string{"event.action", "user.name"}},
		// Another program's words are not Dropbear's.
		{"other program", "<38>Nov 21 10:15:04 gw myapp[1]: Bad password attempt for 'root' from 203.0.113.45:41022", []string{"event.action", "user.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, tt.line)
			want := map[string]string{}
			for _, k := range tt.absent {
				want[k] = "?"
			}
			if got := pick(ev, want); len(got) != 0 {
				t.Errorf("got %v, want none of %v", got, tt.absent)
			}
		})
	}
}

// FuzzDropbear decodes Dropbear messages over syslog: never a panic, and
// the invariants of every event hold.
func FuzzDropbear(f *testing.F) {
	for _, l := range dropbearLines {
		f.Add(l[len("<38>Nov 21 10:15:04 gw dropbear[2234]: "):])
	}
	f.Add("Exit before auth from <Max auth tries reached - user '>")
	f.Add("Login attempt for nonexistent user '")
	f.Add("Bad password attempt for '' from :")
	f.Fuzz(func(t *testing.T, msg string) {
		checkParse(t, []byte("<38>Nov 21 10:15:04 gw dropbear[1]: "+msg), ingest.FormatAuto)
	})
}
