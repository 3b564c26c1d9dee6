package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs msgprobe with args and returns the process's exit code.
func Main(args []string, io *IO) int {
	root := newRoot(io)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil && !isHandled(err) {
		// cobra's own errors (unknown flag, bad value) are usage errors.
		err = &userError{msg: err.Error(), hints: []string{"run 'msgprobe " + commandPath(root, args) + "--help' for usage"}}
	}
	return exitCode(err, io)
}

// handled marks errors that came out of a command's own code, as opposed to
// cobra's flag parsing.
type handled struct{ error }

func (h handled) Unwrap() error { return h.error }

func isHandled(err error) bool {
	var h handled
	return errors.As(err, &h)
}

func commandPath(root *cobra.Command, args []string) string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == root {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ") + " "
}

func newRoot(io *IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "msgprobe",
		Short: "Is WhatsApp (Telegram, Signal, …) down right now, or is it me?",
		Long: `msgprobe probes messaging services over TCP, TLS and HTTP(S), measures each
phase (dns, connect, tls, first byte) and reports every service up, degraded or
down, with the reason. Without a config it probes its built-in catalog.

Exit codes: 0 up, 1 degraded, 2 down, 3 unknown (bad input, unwritable
report, or the local network looks unreachable).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetIn(io.In)
	root.AddCommand(newCheckCmd(io), newValidateCmd(io), newListCmd(io), newVersionCmd(io))
	root.AddCommand(newSchemaCmd(io), newServeCmd(io))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return err })
	return root
}

// runE adapts a command body so its errors are recognised as its own.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return handled{err}
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}
