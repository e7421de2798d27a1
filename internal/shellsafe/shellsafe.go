// Package shellsafe refuses command templates that would hand a rendered
// value to a shell.
//
// Vigil runs response commands without a shell: each argument is rendered
// on its own and handed to exec as one argv element, so a value can never
// split into words or run as code. Two configurations would give that
// back, and CheckArgv refuses both:
//
//   - a template inside a shell's -c script ([sh, -c, "nft ... {{.Target}}"]):
//     the shell parses the rendered text. The target belongs in a
//     positional parameter instead: [sh, -c, 'nft ... "$1"', sh, "{{.Target}}"].
//   - ssh, which joins its remote command into one string that the remote
//     shell parses: its arguments may use only the fields Vigil validates
//     to shell-inert text (a canonical IP address, a plain user name,
//     numbers, durations and incident ids), never a rule's title or level.
package shellsafe

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"text/template/parse"
)

// shells are the programs whose -c argument is a script.
var shells = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
	"ash": true, "busybox": true, "fish": true, "csh": true, "tcsh": true,
}

// safeFields are the template fields whose values cannot carry shell
// syntax: Target is a canonical IP address or a user name matching
// userRe, the others are numbers, durations and generated ids.
var safeFields = map[string]bool{".Target": true, ".Count": true, ".TTL": true, ".TTLSeconds": true, ".Incident": true}

// CheckArgv refuses a command whose templates a shell would parse (see
// above). what names the command in the error ("command for block_ip").
func CheckArgv(what string, argv []string) error {
	// The shell or ssh may come after a wrapper (sudo, env, busybox,
	// timeout ...): look at every argument.
	for i, a := range argv {
		prog := filepath.Base(a)
		switch {
		case shells[prog] || prog == "su":
			if err := checkShell(what, prog, argv[i+1:]); err != nil {
				return err
			}
		case prog == "ssh":
			for _, a := range argv[i+1:] {
				f, err := unsafeField(a)
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				if f != "" {
					return fmt.Errorf("%s: ssh hands its remote command to a shell, and {{%s}} may hold shell syntax; "+
						"only {{.Target}}, {{.Count}}, {{.TTL}}, {{.TTLSeconds}} and {{.Incident}} may be used in an ssh command", what, f)
				}
			}
			return nil
		}
	}
	return nil
}

// checkShell refuses a template in the script that a shell's (or su's)
// -c option runs; args follow the program's name.
func checkShell(what, prog string, args []string) error {
	for i, a := range args {
		if a == "--" {
			return nil
		}
		isC := a == "--command" || (len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.Contains(a[1:], "c"))
		if !isC || i+1 >= len(args) {
			continue
		}
		if strings.Contains(args[i+1], "{{") {
			return fmt.Errorf("%s: %s -c runs its script %q through the shell, so a value rendered into it could split into words or run as code; "+
				"pass values as positional parameters instead: [sh, -c, 'nft add element inet filter vigil_block { \"$1\" }', sh, \"{{.Target}}\"]",
				what, prog, args[i+1])
		}
		return nil
	}
	return nil
}

// templateFields lists the fields a template refers to ({{.Rule}} gives
// "Rule").
func templateFields(s string) ([]string, error) {
	t, err := template.New("").Parse(s)
	if err != nil {
		return nil, err
	}
	var out []string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			out = append(out, "."+n.Ident[0])
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.VariableNode, *parse.DotNode, *parse.ChainNode:
			// $x, . and (x).Y reach data the field list cannot name:
			// refuse them in ssh commands by reporting them as unsafe.
			out = append(out, n.String())
		}
	}
	if t.Tree != nil {
		walk(t.Tree.Root)
	}
	return out, nil
}

// CheckLine refuses fields other than the shell-safe ones in a batch
// command's line: lines are read by an interpreter (nft -f -, a shell),
// one per target, so a value must not carry its syntax or a line break.
func CheckLine(what, line string) error {
	f, err := unsafeField(line)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if f != "" {
		return fmt.Errorf("%s: a line is read by an interpreter, and {{%s}} may hold its syntax or a line break; "+
			"a line may use {{.Target}}, {{.Count}}, {{.TTL}}, {{.TTLSeconds}} and {{.Incident}}", what, f)
	}
	return nil
}

// unsafeField returns the first field of template s that is not one of
// the shell-safe ones, or "" when there is none.
func unsafeField(s string) (string, error) {
	fields, err := templateFields(s)
	if err != nil {
		return "", err
	}
	for _, f := range fields {
		if !safeFields[f] {
			return f, nil
		}
	}
	return "", nil
}
