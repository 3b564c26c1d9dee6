package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/msgprobe/msgprobe/probe"
)

// The exit codes follow the monitoring-plugins convention.
const (
	exitOK       = 0
	exitDegraded = 1
	exitDown     = 2
	exitUnknown  = 3
)

// statusExit carries a run's verdict to main as an exit code; it is not a
// failure of msgprobe itself and prints nothing.
type statusExit struct{ code int }

func (e *statusExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// userError is a mistake in flags or input: one line, then hints on how to
// fix it.
type userError struct {
	msg   string
	hints []string
}

func (e *userError) Error() string { return e.msg }

// Hints are the lines printed after the message, each after "hint: ".
func (e *userError) Hints() []string { return e.hints }

// hinted is an error that says how to fix itself: userError, and errors
// of the round loop (an unwritable report or state file).
type hinted interface {
	error
	Hints() []string
}

func usageErrorf(format string, args ...any) *userError {
	return &userError{msg: fmt.Sprintf(format, args...)}
}

func (e *userError) hint(format string, args ...any) *userError {
	e.hints = append(e.hints, fmt.Sprintf(format, args...))
	return e
}

// exitCode maps an error returned by a command to the process's exit code and
// writes what the user must see to stderr. This is the one place that
// decides exit codes.
func exitCode(err error, io *IO) int {
	if err == nil {
		return exitOK
	}
	var se *statusExit
	if errors.As(err, &se) {
		return se.code
	}
	var ce probe.ConfigErrors
	if errors.As(err, &ce) {
		// Positioned errors speak for themselves, compiler style, so that
		// editors can jump to them.
		fmt.Fprintln(io.Err, strings.TrimRight(ce.Error(), "\n"))
		return exitUnknown
	}
	fmt.Fprintf(io.Err, "msgprobe: %s\n", err)
	var he hinted
	if errors.As(err, &he) {
		for _, h := range he.Hints() {
			fmt.Fprintf(io.Err, "hint: %s\n", h)
		}
	}
	return exitUnknown
}
