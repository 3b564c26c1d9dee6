package probe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxConfigSize bounds what LoadFiles reads, so that "-c /dev/zero" fails
// instead of eating memory.
const maxConfigSize = 16 << 20

// ReadError is a configuration file or directory that could not be read,
// before any of it was parsed.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return "cannot read config " + e.Path + ": " + e.Err.Error() }

func (e *ReadError) Unwrap() error { return e.Err }

// LoadFiles reads, validates and loads a configuration made of the files at
// paths, as LoadSources does. A path may be a directory: its *.yaml and
// *.yml files are read in name order (hidden ones skipped), like a conf.d.
// "-" reads stdin, once. A path that cannot be read is a *ReadError; every
// problem inside the files comes back at once, as ConfigErrors.
func LoadFiles(paths []string, stdin io.Reader, lookupEnv func(string) (string, bool)) (*Config, error) {
	files, err := ExpandConfigPaths(paths)
	if err != nil {
		return nil, err
	}
	srcs := make([]Source, 0, len(files))
	for _, path := range files {
		var data []byte
		name := path
		if path == "-" {
			name = stdinName
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			data, err = io.ReadAll(io.LimitReader(stdin, maxConfigSize+1))
		} else {
			data, err = readLimited(path)
		}
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &ReadError{Path: name, Err: err}
		}
		if len(data) > maxConfigSize {
			return nil, &ReadError{Path: name, Err: fmt.Errorf("larger than %d MiB", maxConfigSize>>20)}
		}
		srcs = append(srcs, Source{Name: name, Data: data})
	}
	return LoadSources(srcs, lookupEnv)
}

// ExpandConfigPaths replaces each directory of paths by its *.yaml and *.yml
// files in name order. A directory without any, an empty path, and a file
// named twice are *ReadErrors.
func ExpandConfigPaths(paths []string) ([]string, error) {
	var out []string
	seen := map[string]string{}
	add := func(p, given string) error {
		key := p
		if p != "-" {
			if abs, err := filepath.Abs(p); err == nil {
				key = abs
			}
		}
		if first, dup := seen[key]; dup {
			msg := "it is given twice"
			if first != given {
				msg = "it is given twice, also as " + first
			}
			return &ReadError{Path: p, Err: errors.New(msg)}
		}
		seen[key] = given
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if p == "" {
			return nil, &ReadError{Path: `""`, Err: errors.New("empty path")}
		}
		if p == "-" {
			if err := add(p, p); err != nil {
				return nil, err
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			// a missing file is reported when it is read
			if err := add(p, p); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &ReadError{Path: p, Err: err}
		}
		n := 0
		for _, e := range entries {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			full := filepath.Join(p, name)
			if fi, err := os.Stat(full); err == nil && fi.IsDir() {
				continue
			}
			if err := add(full, p); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, &ReadError{Path: p, Err: errors.New("the directory holds no *.yaml or *.yml file")}
		}
	}
	return out, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxConfigSize+1))
}
