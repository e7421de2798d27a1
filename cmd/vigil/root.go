package main

import (
	"github.com/spf13/cobra"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: log collection, Sigma detection, alerts and search in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newHuntCmd(), newSearchCmd(), newRulesCmd(), newBenchCmd(), newVersionCmd())
	return root
}
