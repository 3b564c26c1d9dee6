//go:build !unix

package main

import "os"

// maxRSSKiB is unknown where the OS does not report it through rusage.
func maxRSSKiB(*os.ProcessState) int64 { return 0 }
