// Package fleetaddr is the address file the benchmark fleet writes and the
// config generator reads: the one format both sides must agree on.
package fleetaddr

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Addrs lists the fleet's listeners by kind, each as "host:port".
type Addrs struct {
	CA    string   `json:"ca"` // path of the PEM file of the CA that signed every certificate
	TCP   []string `json:"tcp"`
	TLS   []string `json:"tls"`
	HTTPS []string `json:"https"`
	HTTP  []string `json:"http"`
}

// Read loads an address file.
func Read(path string) (*Addrs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var a Addrs
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &a, nil
}

// WriteFileAtomic writes data to path through a temporary file and a rename,
// so that a script polling for path never reads it half-written.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
