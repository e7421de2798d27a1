package respond

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ActionDisableUser runs the command an admin configured
// (respond.commands.disable_user) on a plain user name.
const ActionDisableUser Action = "disable_user"

func init() {
	registerAction(actionSpec{name: ActionDisableUser, target: true, manual: true, command: true, do: disableUser})
}

// userRe is a plain user name: letters, digits, . _ @ - and a domain's
// backslash (CORP\bob), with a $ only at the end (a Windows machine
// account, HOST$), so that no shell syntax can hide in it; a leading
// dash is refused separately.
var userRe = regexp.MustCompile(`^[A-Za-z0-9._@\\-]{1,127}\$?$`)

func disableUser(ctx context.Context, r *Runner, c *actionCall) (string, string) {
	if !userRe.MatchString(c.target) || strings.HasPrefix(c.target, "-") {
		// A leading dash would read as an option of the command.
		return "failed", fmt.Sprintf("%q is not a plain user name", c.target)
	}
	name := string(c.s.Action)
	if len(r.o.Commands[name]) == 0 {
		return r.command(ctx, name, c.d) // skipped, without taking from the rate limit
	}
	return r.guard(c.p).run(ctx, r, func() (string, string) { return r.command(ctx, name, c.d) })
}
