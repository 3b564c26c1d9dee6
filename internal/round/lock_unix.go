//go:build unix

package round

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockDir takes an exclusive flock on the directory dir, trying until
// until (at least once), and returns its release and how long it waited.
// flock has no timeout of its own: a blocking call could not be given up
// at the deadline, so the lock is polled, every few milliseconds at most.
func lockDir(dir string, until time.Time) (func(), time.Duration, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, 0, err
	}
	fd := int(f.Fd())
	start := time.Now()
	pause := time.Millisecond
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, time.Since(start), nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, time.Since(start), err
		}
		left := time.Until(until)
		if left <= 0 {
			f.Close()
			return nil, time.Since(start), ErrStateLocked
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, 20*time.Millisecond)
	}
}
