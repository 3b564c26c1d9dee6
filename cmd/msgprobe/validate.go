package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(io *IO) *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]...",
		Short: "Check a config without probing anything",
		Long: `Load and validate a config. Every problem is printed as FILE:LINE:COL: message,
with a hint where a fix is likely. Exit 0 when the config is valid, 3 otherwise.

-c may be given more than once and may name a directory (its *.yaml and *.yml
files, in name order): services come from all of them, defaults, controls and
resolver from the first file that sets each.`,
		Example: `  msgprobe validate -c msgprobe.yaml
  msgprobe validate -c base.yaml -c conf.d/`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(paths, io)
			if err != nil {
				return err
			}
			n := 0
			for _, s := range cfg.Services {
				n += len(s.Endpoints)
			}
			files := ""
			if len(cfg.Sources) > 1 {
				files = fmt.Sprintf("%d files, ", len(cfg.Sources))
			}
			_, err = fmt.Fprintf(io.Out, "%s: ok, %s%d services, %d endpoints, %d controls\n",
				configName(paths), files, len(cfg.Services), n, len(cfg.Controls))
			return err
		}),
	}
	cmd.Flags().StringArrayVarP(&paths, "config", "c", nil, configFlagUsage)
	return cmd
}
