//go:build unix

package round

import (
	"os"
	"os/signal"
	"syscall"
)

// keepOwnerAndMode gives the temporary file f the permissions of the file
// it replaces, and its owner and group when this process may set them (as
// root): a report or state kept 0600 by its owner stays so.
func keepOwnerAndMode(f *os.File, old os.FileInfo) error {
	if st, ok := old.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return f.Chmod(old.Mode().Perm() | old.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
}

// holdSignals keeps the signals that end a process by default from ending
// it while a temporary file exists; the returned function lets them through
// again. A driver that handles them itself (Ctrl-C, SIGTERM, serve's SIGHUP)
// still gets them: every channel registered for a signal receives it.
func holdSignals() func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	return func() { signal.Stop(ch) }
}

// dupFile is a file of its own on the process's descriptor fd.
func dupFile(fd int, name string) (*os.File, error) {
	n, err := syscall.Dup(fd)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(n)
	return os.NewFile(uintptr(n), name), nil
}
