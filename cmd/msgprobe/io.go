package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/mattn/go-isatty"
)

// IO is what a command reads from and writes to. Commands never touch
// os.Stdout or the environment directly, so tests run them on buffers with
// the terminal switched on or off.
type IO struct {
	In       io.Reader
	Out      io.Writer
	Err      io.Writer
	OutTTY   bool // stdout is a terminal
	ErrTTY   bool // stderr is a terminal
	Env      func(string) (string, bool)
	WorkDir  string // for relative paths; empty means the process's
	Signals  bool   // install a Ctrl-C handler (off in tests)
	ExitHook func()
}

// SystemIO is the IO of the running process.
func SystemIO() *IO {
	return &IO{
		In:      os.Stdin,
		Out:     os.Stdout,
		Err:     os.Stderr,
		OutTTY:  isTerminal(os.Stdout),
		ErrTTY:  isTerminal(os.Stderr),
		Env:     os.LookupEnv,
		Signals: true,
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// path resolves a path the user gave against the working directory.
func (o *IO) path(p string) string {
	if o.WorkDir != "" && !filepath.IsAbs(p) {
		return filepath.Join(o.WorkDir, p)
	}
	return p
}

func (o *IO) getenv(name string) string {
	if o.Env == nil {
		return ""
	}
	v, _ := o.Env(name)
	return v
}
