package parse

import (
	"slices"
	"strings"
	"testing"
)

// TestServiceOf pins the Sigma service of every registered program, and of
// programs without one.
func TestServiceOf(t *testing.T) {
	tests := []struct{ prog, want string }{
		{"sshd", "sshd"}, {"sshd-session", "sshd"}, {"sshd-auth", "sshd"},
		{"sudo", "sudo"},
		{"cron", "cron"}, {"CRON", "cron"}, {"crond", "cron"}, {"anacron", "cron"},
		{"auditd", "auditd"}, {"audispd", "auditd"}, {"audisp-syslog", "auditd"}, {"audit", "auditd"}, {"auoms", "auditd"},
		{"vsftpd", "vsftpd"},
		{"su", "su"}, {"login", "login"}, {"passwd", "passwd"}, {"useradd", "useradd"},
		{"userdel", "userdel"}, {"usermod", "usermod"}, {"groupadd", "groupadd"},
		{"groupdel", "groupdel"}, {"groupmod", "groupmod"}, {"chpasswd", "chpasswd"},
		{"gpasswd", "gpasswd"}, {"polkitd", "polkitd"}, {"systemd-logind", "systemd-logind"},
		// Parsed, without a service of their own.
		{"chage", ""}, {"newusers", ""}, {"nginx", ""}, {"apache", ""}, {"apache2", ""}, {"httpd", ""},
		// Not registered; names are compared exactly.
		{"", ""}, {"myapp", ""}, {"SSHD", ""}, {"sshd ", ""}, {"Cron", ""},
	}
	for _, tt := range tests {
		if got := serviceOf(tt.prog); got != tt.want {
			t.Errorf("serviceOf(%q): got %q, want %q", tt.prog, got, tt.want)
		}
	}
}

// TestAppDecoders pins which programs have a decoder of their own and
// which a service only (those get the pam_unix fallback, then their
// shape). A parser added later adds its own programs.
func TestAppDecoders(t *testing.T) {
	decoded := []string{
		"CRON", "apache", "apache2", "chage", "chpasswd", "cron", "crond", "gpasswd",
		"groupadd", "groupdel", "groupmod", "httpd", "login", "newusers", "nginx", "passwd",
		"sshd", "sshd-auth", "sshd-session", "su", "sudo", "systemd-logind", "useradd", "userdel", "usermod",
	}
	serviceOnly := []string{"anacron", "audisp-syslog", "audispd", "audit", "auditd", "auoms", "polkitd", "vsftpd"}
	for _, prog := range decoded {
		if a := apps[prog]; a == nil || a.decode == nil {
			t.Errorf("%s: got no decoder, want one", prog)
		}
	}
	for _, prog := range serviceOnly {
		if a := apps[prog]; a == nil || a.decode != nil {
			t.Errorf("%s: got %+v, want a service without a decoder", prog, a)
		}
	}
	for prog := range apps {
		if !slices.Contains(decoded, prog) && !slices.Contains(serviceOnly, prog) && apps[prog].decode == nil {
			t.Errorf("%s: registered without a decoder; a service alone belongs with the others above", prog)
		}
	}
}

// TestAppFallback: a message an app does not recognize is decoded by its
// shape (and not by pam_unix), and a program with a service only gets the
// pam_unix decoder.
func TestAppFallback(t *testing.T) {
	p := New(Options{})
	tests := []struct {
		name, line string
		want       map[string]string
	}{
		{
			name: "sshd kv by shape",
			line: "<38>Nov 21 10:15:01 web01 sshd[1]: a=1 b=2 c=3",
			want: map[string]string{"a": "1", "event.dataset": ""},
		},
		{
			name: "service only pam_unix",
			line: "<38>Nov 21 10:15:01 web01 polkitd[1]: pam_unix(polkit-1:session): session opened for user root(uid=0) by (uid=0)",
			want: map[string]string{"event.category": "session", "user.name": "root"},
		},
		{
			name: "an app does not take pam_unix",
			line: "<38>Nov 21 10:15:01 web01 nginx[1]: pam_unix(x:session): session opened for user root(uid=0) by (uid=0)",
			want: map[string]string{"event.category": "", "user.name": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, tt.line)
			got := pick(ev, tt.want)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s: got %q, want %q (event %s)", k, got[k], want, ev.AppendJSON(nil))
				}
			}
		})
	}
}

// TestRegisterAppTwice: a program registered twice, or without a name, is
// refused when the package starts.
func TestRegisterAppTwice(t *testing.T) {
	tests := []struct {
		name string
		a    app
		want string
	}{
		{"twice", app{programs: []string{"sshd"}}, `program "sshd" registered twice`},
		{"unnamed", app{programs: []string{""}}, "without a program name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("got panic %q, want one containing %q", msg, tt.want)
				}
			}()
			registerApp(tt.a)
		})
	}
}
