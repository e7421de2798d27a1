package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

// run runs the command line args (without the program name), writing to
// stdout and stderr, and returns the exit status: 0 when the command did
// what it was asked; 1 when it failed, or found what it was asked to look
// for (hunt --fail-on, rules lint); 2 for a command line that cannot run
// (unknown command or flag, bad value, missing argument), so that a CI
// gate can tell a finding from a mistake. An interrupt or SIGTERM cancels
// the command's context.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var prof profiles
	root := newRoot(&prof)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if perr := prof.stop(); perr != nil {
		fmt.Fprintln(stderr, "vigil:", perr)
	}
	if err != nil && cmd != nil && !cmd.Runnable() {
		// Only cobra itself fails in a command that does not run, when
		// the command line names no command it has (vigil frobnicate).
		err = usageError{err}
	}
	var ec exitCode
	if err != nil && !errors.As(err, &ec) {
		fmt.Fprintln(stderr, "vigil:", err)
	}
	return exitStatus(err)
}

// exitStatus is the exit status after a command's error (see run).
func exitStatus(err error) int {
	var (
		ec exitCode
		ue usageError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue), errors.As(err, new(dataError)):
		return 2
	}
	return 1
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

// profiles are the --cpuprofile and --memprofile of a run.
type profiles struct {
	cpuPath, memPath string
	cpu              *os.File
}

func (p *profiles) start() error {
	if p.cpuPath == "" {
		return nil
	}
	f, err := os.Create(p.cpuPath)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	p.cpu = f
	return nil
}

// stop writes the profiles. run calls it however the command ended (a
// failed command skips cobra's post-run hooks), so that a run that ends
// with an error or an exit status still leaves its profiles.
func (p *profiles) stop() error {
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--cpuprofile: %w", err))
		}
		p.cpu = nil
	}
	if p.memPath != "" {
		f, err := os.Create(p.memPath)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("--memprofile: %w", err))...)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			errs = append(errs, fmt.Errorf("--memprofile: %w", err))
		}
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--memprofile: %w", err))
		}
	}
	return errors.Join(errs...)
}

func newRoot(prof *profiles) *cobra.Command {
	root := &cobra.Command{
		Use:               "vigil",
		Short:             "Vigil: log collection, Sigma detection, alerts and search in one binary",
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return prof.start() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&prof.cpuPath, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	pf.StringVar(&prof.memPath, "memprofile", "", "write an allocation profile to this file at exit")
	root.AddCommand(newServeCmd(), newHuntCmd(), newSearchCmd(), newRulesCmd(), newBenchCmd(), newAuditCmd(), newUserCmd(), newStoreCmd(), newVulnDBCmd(), newScanCmd(), newVersionCmd())
	return root
}
