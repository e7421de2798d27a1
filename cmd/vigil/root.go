package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

func newRoot() *cobra.Command {
	var cpuProfile, memProfile string
	var prof *os.File
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: log collection, Sigma detection, alerts and search in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if cpuProfile == "" {
				return nil
			}
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			prof = f
			return nil
		},
		PersistentPostRunE: func(*cobra.Command, []string) error {
			if prof != nil {
				pprof.StopCPUProfile()
				if err := prof.Close(); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
			}
			if memProfile != "" {
				f, err := os.Create(memProfile)
				if err != nil {
					return fmt.Errorf("--memprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
					return fmt.Errorf("--memprofile: %w", err)
				}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	pf.StringVar(&memProfile, "memprofile", "", "write an allocation profile to this file at exit")
	root.AddCommand(newServeCmd(), newHuntCmd(), newSearchCmd(), newRulesCmd(), newBenchCmd(), newVersionCmd())
	return root
}
