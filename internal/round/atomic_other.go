//go:build !unix

package round

import (
	"errors"
	"os"
)

func keepOwnerAndMode(f *os.File, old os.FileInfo) error { return f.Chmod(old.Mode().Perm()) }

func holdSignals() func() { return func() {} }

func dupFile(int, string) (*os.File, error) {
	return nil, errors.New("writing to a descriptor by name is not supported here")
}
