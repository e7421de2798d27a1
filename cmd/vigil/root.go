package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

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

// stop writes the profiles. main calls it however the command ended (a
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
	root.AddCommand(newServeCmd(), newHuntCmd(), newSearchCmd(), newRulesCmd(), newBenchCmd(), newAuditCmd(), newUserCmd(), newVersionCmd())
	return root
}
