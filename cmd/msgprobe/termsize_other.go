//go:build !unix

package main

import "os"

// terminalSize is unknown off unix; COLUMNS and LINES still apply.
func terminalSize(*os.File) (cols, rows int) { return 0, 0 }
