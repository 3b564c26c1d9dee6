package main

import (
	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/probe"
)

func newSchemaCmd(io *IO) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of a msgprobe config. Editors that use
the YAML language server complete and check keys as you type when the config's
first line names the schema:

  # yaml-language-server: $schema=` + probe.SchemaURL + `

or a local copy: msgprobe schema > msgprobe.schema.json, then
  # yaml-language-server: $schema=./msgprobe.schema.json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			_, err := io.Out.Write(probe.Schema())
			return err
		}),
	}
}
