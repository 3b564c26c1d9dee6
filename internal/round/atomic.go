package round

import (
	"fmt"
	"os"
	"path/filepath"
)

// atomicFile is a file that appears whole or not at all: it is written to a
// temporary file beside the target and renamed over it, so a reader
// (node_exporter's textfile collector, a CI upload step, the next cron run
// reading its state) never sees a half-written file. It is created before
// probing starts, so an unwritable path fails at once rather than after the
// run.
type atomicFile struct {
	*os.File
	path    string // where the file goes
	display string // the path as the user wrote it, for messages
	what    string // "report" or "state", for messages
}

func createAtomic(path, display, what string) (*atomicFile, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("cannot write %s to %s: it is a directory", what, display)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s to %s: %v", what, display, UnwrapPath(err))
	}
	return &atomicFile{File: f, path: path, display: display, what: what}, nil
}

// commit makes the written file visible under its final name.
func (a *atomicFile) commit() error {
	err := a.Sync()
	if err == nil {
		err = a.Chmod(0o644)
	}
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.Name(), a.path)
	}
	if err != nil {
		os.Remove(a.Name())
		return fmt.Errorf("cannot write %s to %s: %v", a.what, a.display, UnwrapPath(err))
	}
	return nil
}

// abort removes the temporary file.
func (a *atomicFile) abort() {
	a.Close()
	os.Remove(a.Name())
}

// UnwrapPath drops the operation and path an *os.PathError repeats, for
// messages that already name the file as the user wrote it.
func UnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// HintedError is an error of the loop that says how to fix it; the CLI
// prints each hint on a line of its own after the message.
type HintedError struct {
	Err  error
	Hint []string
}

func (e *HintedError) Error() string   { return e.Err.Error() }
func (e *HintedError) Unwrap() error   { return e.Err }
func (e *HintedError) Hints() []string { return e.Hint }
