//go:build !unix

package round

import "time"

// lockDir does not lock where flock is not available: runs sharing a
// state file may then lose each other's updates.
func lockDir(string, time.Time) (func(), time.Duration, error) { return func() {}, 0, nil }
