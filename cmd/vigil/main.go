// Command vigil is Vigil's single binary: the server, the offline hunter,
// the search client and the detection-as-code tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var prof profiles
	err := newRoot(&prof).ExecuteContext(ctx)
	if perr := prof.stop(); perr != nil {
		fmt.Fprintln(os.Stderr, "vigil:", perr)
	}
	var ec exitCode
	if errors.As(err, &ec) {
		os.Exit(int(ec))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil:", err)
		var ue usageError
		if errors.As(err, &ue) {
			// Distinct from 1, which `hunt --fail-on` and `rules lint`
			// use for what they found: a CI gate can tell the two apart.
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line that cannot run (unknown flag, bad value,
// missing argument): exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageArgs marks the errors of an argument check as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// exitCode ends the program with a status and no message (the command has
// already said what it had to).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
