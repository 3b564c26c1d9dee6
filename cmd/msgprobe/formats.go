package main

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/msgprobe/msgprobe/internal/round"
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

// stdoutReport is the one format bound for standard output.
type stdoutReport struct {
	format   string
	renderer report.Renderer
}

// newOutputs builds a renderer per format: the report files of the loop,
// and the report for standard output, nil when every format names a file.
// Color is for a table on a terminal only.
func newOutputs(specs []formatSpec, noColor bool, io *IO, base report.Options) (round.Files, *stdoutReport, error) {
	var files round.Files
	var stdout *stdoutReport
	for _, s := range specs {
		ro := base
		ro.Color = s.format == "table" && s.file == "" && io.OutTTY && !noColor && io.getenv("NO_COLOR") == ""
		r, err := report.New(s.format, ro)
		if err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
		if s.file == "" {
			stdout = &stdoutReport{format: s.format, renderer: r}
			continue
		}
		files = append(files, &round.File{Path: io.path(s.file), Display: s.file, Renderer: r})
	}
	return files, stdout, nil
}
