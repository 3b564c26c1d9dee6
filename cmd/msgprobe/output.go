package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// atomicFile is a report file that appears whole or not at all: it is
// written to a temporary file beside the target and renamed over it, so a
// reader (node_exporter's textfile collector, a CI upload step) never sees a
// half-written report. It is created before probing starts, so an unwritable
// path fails at once rather than after the run.
type atomicFile struct {
	*os.File
	path string
}

func createAtomic(path string) (*atomicFile, error) {
	dir := filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, usageErrorf("cannot write report to %s: it is a directory", path)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, usageErrorf("cannot write report to %s: %v", path, unwrapPath(err))
	}
	return &atomicFile{File: f, path: path}, nil
}

// commit makes the written report visible under its final name.
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
		return fmt.Errorf("cannot write report to %s: %v", a.path, unwrapPath(err))
	}
	return nil
}

// abort removes the temporary file.
func (a *atomicFile) abort() {
	a.Close()
	os.Remove(a.Name())
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
