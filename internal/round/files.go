package round

import (
	"io"

	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// File is a report file: one format, written after every round as
// atomic.go says (a regular file replaced atomically, a device or a
// stream written in place).
type File struct {
	Path     string // where it goes, resolved against the working directory
	Display  string // as the user wrote it, for messages
	Renderer report.Renderer
}

// Files are the report files of a loop.
type Files []*File

// Open checks that every report file can be written, so that an
// unwritable path fails before any probing. It leaves nothing behind: the
// temporary files are created when the report is ready.
func (fs Files) Open() error {
	for _, f := range fs {
		if err := checkWritable(f.Path, f.Display, "report"); err != nil {
			return err
		}
	}
	return nil
}

// Abort is a no-op kept for drivers: no temporary file outlives a write.
func (fs Files) Abort() {}

// Write renders the report into every file. It stops at the first
// failure; the file that failed is left as it was.
func (fs Files) Write(rep *probe.Report) error {
	for _, f := range fs {
		err := writeFile(f.Path, f.Display, "report", func(w io.Writer) error {
			return f.Renderer.Render(w, rep)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
