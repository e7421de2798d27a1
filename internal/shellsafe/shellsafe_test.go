package shellsafe

import (
	"strings"
	"testing"
)

// TestCheckArgv: a template that a shell would parse is refused when the
// configuration is loaded; positional parameters and plain argv are not.
func TestCheckArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		want string // substring of the error; empty: accepted
	}{
		{"plain argv", []string{"nft", "add", "element", "inet", "filter", "vigil_block", "{ {{.Target}} timeout {{.TTLSeconds}}s }"}, ""},
		{"usermod after --", []string{"usermod", "--lock", "--", "{{.Target}}"}, ""},
		{"positional parameter", []string{"sh", "-c", `nft add element inet filter b { "$1" }`, "sh", "{{.Target}}"}, ""},
		{"script without template", []string{"sh", "-c", `cat >> "$0"`, "/tmp/blocked"}, ""},
		{"template in script", []string{"sh", "-c", "nft add element inet filter b { {{.Target}} }"}, "positional parameters"},
		{"combined -ec", []string{"bash", "-ec", "iptables -I INPUT -s {{.Target}} -j DROP"}, "positional parameters"},
		{"option before -c", []string{"/bin/bash", "-e", "-c", "echo {{.Target}}"}, "positional parameters"},
		{"behind sudo", []string{"sudo", "-n", "sh", "-c", "echo {{.Target}}"}, "positional parameters"},
		{"busybox", []string{"busybox", "sh", "-c", "echo {{.Target}}"}, "positional parameters"},
		{"su -c", []string{"su", "root", "-c", "usermod -L {{.Target}}"}, "positional parameters"},
		{"ssh with safe fields", []string{"ssh", "fw1", "nft", "add", "element", "inet", "filter", "b", "{ {{.Target}} timeout {{.TTLSeconds}}s }"}, ""},
		{"ssh with rule title", []string{"ssh", "fw1", "logger", "{{.Rule}}"}, "{{.Rule}}"},
		{"ssh with a variable", []string{"ssh", "fw1", "echo", "{{$x := .Rule}}{{$x}}"}, "ssh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckArgv("command for block_ip", tc.argv)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckArgv(%q) = %v, want accepted", tc.argv, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckArgv(%q) = %v, want an error with %q", tc.argv, err, tc.want)
			}
		})
	}
}

// TestCheckLine: a batch line may use only fields whose values are
// validated to carry no interpreter syntax.
func TestCheckLine(t *testing.T) {
	if err := CheckLine("b", "add element inet filter b { {{.Target}} timeout {{.TTLSeconds}}s }"); err != nil {
		t.Errorf("safe line refused: %v", err)
	}
	if err := CheckLine("b", "# {{.Rule}}\nadd element inet filter b { {{.Target}} }"); err == nil {
		t.Error("a line with {{.Rule}} was accepted")
	}
}
