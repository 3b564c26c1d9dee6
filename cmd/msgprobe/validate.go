package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(io *IO) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]",
		Short: "Check a config without probing anything",
		Long: `Load and validate a config. Every problem is printed as FILE:LINE:COL: message,
with a hint where a fix is likely. Exit 0 when the config is valid, 3 otherwise.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(path, io)
			if err != nil {
				return err
			}
			n := 0
			for _, s := range cfg.Services {
				n += len(s.Endpoints)
			}
			name := path
			if name == "" {
				name = embeddedName
			}
			_, err = fmt.Fprintf(io.Out, "%s: ok, %d services, %d endpoints, %d controls\n", name, len(cfg.Services), n, len(cfg.Controls))
			return err
		}),
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config `FILE`; - reads standard input (default: the built-in catalog)")
	return cmd
}
