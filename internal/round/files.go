package round

import (
	"fmt"

	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// File is a report file: one format, replaced atomically after every
// round.
type File struct {
	Path     string // where it goes, resolved against the working directory
	Display  string // as the user wrote it, for messages
	Renderer report.Renderer

	pending *atomicFile // the temporary file, nil between rounds
}

// Files are the report files of a loop.
type Files []*File

// Open creates the temporary file of every report file, so that an
// unwritable path fails before any probing and leaves nothing behind.
func (fs Files) Open() error {
	for _, f := range fs {
		if f.pending != nil {
			continue
		}
		a, err := createAtomic(f.Path, f.Display, "report")
		if err != nil {
			fs.Abort()
			return err
		}
		f.pending = a
	}
	return nil
}

// Abort removes the temporary files not committed.
func (fs Files) Abort() {
	for _, f := range fs {
		if f.pending != nil {
			f.pending.abort()
			f.pending = nil
		}
	}
}

// Write renders the report into every file and renames each over its
// target. It stops at the first failure and removes what is left.
func (fs Files) Write(rep *probe.Report) error {
	if err := fs.Open(); err != nil {
		return err
	}
	for _, f := range fs {
		a := f.pending
		f.pending = nil
		if err := f.Renderer.Render(a, rep); err != nil {
			a.abort()
			fs.Abort()
			return fmt.Errorf("cannot write report to %s: %v", f.Display, err)
		}
		if err := a.commit(); err != nil {
			fs.Abort()
			return err
		}
	}
	return nil
}
