//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// maxRSSKiB reads the peak resident set size the kernel recorded when it
// reaped the process; 0 when unknown.
func maxRSSKiB(st *os.ProcessState) int64 {
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	// Linux and the BSDs count kilobytes; Darwin counts bytes.
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) / 1024
	}
	return int64(ru.Maxrss)
}
