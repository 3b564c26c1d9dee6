package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// formatSpec is one -f: a format and, after '=', the file it goes to.
type formatSpec struct {
	format string
	file   string // as the user wrote it; empty means standard output or -o
}

// parseFormats reads the -f values. With none, the report is a table. At
// most one format may go to standard output (or to -o): two reports mixed
// in one stream would be of use to nobody.
func parseFormats(values []string, output string) ([]formatSpec, error) {
	if len(values) == 0 {
		values = []string{"table"}
	}
	var specs []formatSpec
	var toStdout []string
	files := map[string]string{}
	for _, v := range values {
		name, file, hasFile := strings.Cut(v, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !slices.Contains(report.Formats, name) {
			return nil, usageErrorf("unknown format %q in -f %s", name, v).hint("formats: %s", strings.Join(report.Formats, ", "))
		}
		if hasFile && file == "" {
			return nil, usageErrorf("-f %s names no file", v).hint("write -f %s=FILE, or -f %s for standard output", name, name)
		}
		if !hasFile {
			toStdout = append(toStdout, name)
		} else {
			key := filepath.Clean(file)
			if prev, dup := files[key]; dup {
				return nil, usageErrorf("-f %s and -f %s=%s write the same file", prev, name, file)
			}
			files[key] = name + "=" + file
		}
		specs = append(specs, formatSpec{format: name, file: file})
	}
	if len(toStdout) > 1 {
		where := "standard output"
		if output != "" {
			where = output
		}
		return nil, usageErrorf("formats %s would all go to %s", strings.Join(toStdout, " and "), where).
			hint("give all but one a file of its own: -f %s=FILE", toStdout[1])
	}
	if output != "" {
		if len(toStdout) == 0 {
			return nil, usageErrorf("-o %s has nothing to write: every -f names its own file", output).
				hint("drop -o, or give one -f without =FILE")
		}
		if prev, dup := files[filepath.Clean(output)]; dup {
			return nil, usageErrorf("-o %s and -f %s write the same file", output, prev)
		}
		for i := range specs {
			if specs[i].file == "" {
				specs[i].file = output
			}
		}
	}
	return specs, nil
}

// output is where one format is written: a file, replaced atomically, or
// standard output.
type output struct {
	spec     formatSpec
	path     string // resolved against the working directory; empty for stdout
	renderer report.Renderer
	file     *atomicFile // the pending temporary file, nil between rounds
}

type outputs []*output

// newOutputs builds a renderer per format. Color is for a table on a
// terminal only.
func newOutputs(specs []formatSpec, opts *checkOptions, io *IO, base report.Options) (outputs, error) {
	var outs outputs
	for _, s := range specs {
		o := &output{spec: s}
		if s.file != "" {
			o.path = s.file
			if io.WorkDir != "" && !filepath.IsAbs(o.path) {
				o.path = filepath.Join(io.WorkDir, o.path)
			}
		}
		ro := base
		ro.Color = s.format == "table" && o.path == "" && io.OutTTY && !opts.NoColor && io.getenv("NO_COLOR") == ""
		r, err := report.New(s.format, ro)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		o.renderer = r
		outs = append(outs, o)
	}
	return outs, nil
}

// open creates the temporary file of every file output, before any
// probing, so that an unwritable path fails at once and leaves nothing.
func (outs outputs) open() error {
	for _, o := range outs {
		if o.path == "" || o.file != nil {
			continue
		}
		f, err := createAtomic(o.path, o.spec.file, "report")
		if err != nil {
			outs.abort()
			return err
		}
		o.file = f
	}
	return nil
}

// abort removes the temporary files not committed.
func (outs outputs) abort() {
	for _, o := range outs {
		if o.file != nil {
			o.file.abort()
			o.file = nil
		}
	}
}

// stdout is the output bound for standard output, or nil.
func (outs outputs) stdout() *output {
	for _, o := range outs {
		if o.path == "" {
			return o
		}
	}
	return nil
}

// writeFiles renders the report into every file output and renames each
// over its target. It stops at the first failure and removes what is left.
func (outs outputs) writeFiles(rep *probe.Report) error {
	if err := outs.open(); err != nil {
		return err
	}
	for _, o := range outs {
		if o.file == nil {
			continue
		}
		f := o.file
		o.file = nil
		if err := o.renderer.Render(f, rep); err != nil {
			f.abort()
			outs.abort()
			return fmt.Errorf("cannot write report to %s: %v", o.spec.file, err)
		}
		if err := f.commit(); err != nil {
			outs.abort()
			return err
		}
	}
	return nil
}
