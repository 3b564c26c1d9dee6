package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/msgprobe/msgprobe/examples"
	"github.com/msgprobe/msgprobe/probe"
)

// embeddedName is how errors and listings name the built-in catalog.
const embeddedName = "examples/messaging.yaml"

// configFlagUsage is the help of every command's -c.
const configFlagUsage = "config `FILE` or directory of *.yaml (repeatable); - reads standard input (default: the built-in catalog)"

// loadConfig reads the configs named by paths: none is the embedded
// catalog, "-" is standard input and a directory is its *.yaml and *.yml
// files in name order. Warnings (settings a later file repeats to no
// effect) go to stderr; they do not fail the load.
func loadConfig(paths []string, io *IO) (*probe.Config, error) {
	if len(paths) == 0 {
		return probe.Load(embeddedName, examples.Messaging, io.Env)
	}
	resolved := make([]string, len(paths))
	for i, p := range paths {
		if io.WorkDir != "" && p != "" && p != "-" && !filepath.IsAbs(p) {
			p = filepath.Join(io.WorkDir, p)
		}
		resolved[i] = p
	}
	cfg, err := probe.LoadFiles(resolved, io.In, io.Env)
	var re *probe.ReadError
	if errors.As(err, &re) {
		ue := usageErrorf("%v", re)
		if errors.Is(re.Err, fs.ErrNotExist) {
			ue.hint("without -c, msgprobe probes its built-in catalog; 'msgprobe list' shows it")
		}
		return nil, ue
	}
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		s := w.Error()
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[:i] + ": warning: " + s[i+2:]
		}
		fmt.Fprintln(io.Err, s)
	}
	return cfg, nil
}

// configName names what was loaded, for one-line summaries.
func configName(paths []string) string {
	if len(paths) == 0 {
		return embeddedName
	}
	return strings.Join(paths, ", ")
}
