package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/msgprobe/msgprobe/examples"
	"github.com/msgprobe/msgprobe/probe"
)

// embeddedName is how errors and listings name the built-in catalog.
const embeddedName = "examples/messaging.yaml"

// loadConfig reads the config named by path: "" is the embedded catalog and
// "-" is standard input.
func loadConfig(path string, io_ *IO) (*probe.Config, error) {
	switch path {
	case "":
		return probe.Load(embeddedName, examples.Messaging, io_.Env)
	case "-":
		data, err := io.ReadAll(io_.In)
		if err != nil {
			return nil, usageErrorf("reading config from standard input: %v", err)
		}
		return probe.Load("<stdin>", data, io_.Env)
	}
	if io_.WorkDir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(io_.WorkDir, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		ue := usageErrorf("cannot read config: %v", err)
		if errors.Is(err, fs.ErrNotExist) {
			ue.hint("without -c, msgprobe probes its built-in catalog; 'msgprobe list' shows it")
		}
		return nil, ue
	}
	return probe.Load(path, data, io_.Env)
}
