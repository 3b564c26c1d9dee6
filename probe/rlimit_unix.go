//go:build unix

package probe

import "syscall"

// openFileLimit is the process's soft limit on open files, which the Go
// runtime has already raised to the hard limit at start-up; 0 when unknown
// or unlimited.
func openFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur > 1<<30 { // RLIM_INFINITY among others: no limit to heed
		return 0
	}
	return int(lim.Cur)
}
