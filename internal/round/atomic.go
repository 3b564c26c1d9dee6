package round

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// How msgprobe writes a report or the state file
//
// A regular file (or a path that does not exist yet) is replaced
// atomically: the content goes to a temporary file beside it, which is
// renamed over it, so a reader (node_exporter's textfile collector, a CI
// upload step, the next cron run reading its state) sees the old file or
// the new one, never half of one. The new file keeps the old one's
// permissions (and owner, when msgprobe runs as root); a new file gets
// 0666 less the umask, like any file a shell redirection creates.
//
// Anything else is written in place, never replaced: a character device
// (/dev/null, /dev/full, a terminal), a FIFO, and the standard streams
// under their /dev and /proc names (/dev/stdout, /dev/fd/N), which are
// written through the descriptor the process already holds, so that a
// shell's `>>` keeps appending. Renaming over /dev/null, as msgprobe once
// did as root, turns the system's null device into a file.
//
// A symbolic link is followed: the file it points to is the one replaced
// (or written in place), with the temporary file in that file's directory,
// and the link itself stays as it was. A link to nothing creates the file
// it names.
//
// The temporary file exists only while the finished report is written
// into it: nothing is left beside the target while the endpoints are
// probed, and SIGHUP, SIGINT and SIGTERM are held for the moment of the
// write (the driver still sees them). Only SIGKILL (or a crash of the
// machine) in that moment can leave a `.NAME.NNN.tmp` file behind.

// destination is where a report or the state is written, as found just
// before writing.
type destination struct {
	path    string // the file written: the final target of any symlink
	display string // as the user wrote it, for messages
	what    string // "report" or "state", for messages

	inPlace bool        // a device, a FIFO or a standard stream: never replaced
	fd      int         // for a standard stream: the descriptor to write through; -1 otherwise
	exists  bool        // a regular file is there now
	info    os.FileInfo // of that file
}

// maxLinks bounds how many symbolic links are followed, as the kernel does.
const maxLinks = 40

// findDestination looks at what path names without changing anything.
func findDestination(path, display, what string) (*destination, error) {
	d := &destination{path: path, display: display, what: what, fd: -1}
	for range maxLinks {
		if fd, ok := streamFD(d.path); ok {
			d.inPlace, d.fd = true, fd
			return d, nil
		}
		info, err := os.Lstat(d.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return d, nil
		case err != nil:
			return nil, d.errorf("%v", UnwrapPath(err))
		}
		switch mode := info.Mode(); {
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(d.path)
			if err != nil {
				return nil, d.errorf("%v", UnwrapPath(err))
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(filepath.Dir(d.path), link)
			}
			d.path = link
			continue
		case mode.IsRegular():
			d.exists, d.info = true, info
		case mode.IsDir():
			return nil, d.errorf("it is a directory")
		case mode&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
			d.inPlace = true
		default:
			return nil, d.errorf("it is a %s, not a file", typeName(mode))
		}
		return d, nil
	}
	return nil, d.errorf("too many levels of symbolic links")
}

// streamFD recognises the names of the process's own descriptors:
// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N and
// /proc/PID/fd/N of this process.
func streamFD(path string) (int, bool) {
	switch path = filepath.Clean(path); path {
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	for _, dir := range []string{"/dev/fd/", "/proc/self/fd/", "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/"} {
		if rest, ok := strings.CutPrefix(path, dir); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, true
			}
		}
	}
	return 0, false
}

func typeName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

func (d *destination) errorf(format string, args ...any) error {
	return fmt.Errorf("cannot write %s to %s: %s", d.what, d.display, fmt.Sprintf(format, args...))
}

// check finds out, before any probing, whether the destination can be
// written, and leaves nothing behind: an unwritable path fails at once
// rather than after the run.
func checkWritable(path, display, what string) error {
	d, err := findDestination(path, display, what)
	if err != nil {
		return err
	}
	if d.inPlace {
		w, err := d.openInPlace(true)
		if err != nil {
			return err
		}
		if w != nil {
			w.Close()
		}
		return nil
	}
	f, err := d.createTemp()
	if err != nil {
		return err
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// writeFile writes what write produces to path, as the package comment
// says. Nothing is left behind on failure.
func writeFile(path, display, what string, write func(io.Writer) error) error {
	d, err := findDestination(path, display, what)
	if err != nil {
		return err
	}
	if d.inPlace {
		return d.writeInPlace(write)
	}
	release := holdSignals()
	defer release()
	f, err := d.createTemp()
	if err != nil {
		return err
	}
	if err := d.fill(f, write); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), d.path); err != nil {
		os.Remove(f.Name())
		return d.errorf("%v", unwrapLink(err))
	}
	return nil
}

// fill writes the content into the temporary file, gives it the mode (and
// owner) of the file it replaces, and flushes it to disk.
func (d *destination) fill(f *os.File, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 64<<10)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && d.exists {
		err = keepOwnerAndMode(f, d.info)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return d.errorf("%v", ioCause(err))
	}
	return nil
}

// ioCause is the cause of a failed write, without the path the user
// already sees in the message, however deep the renderer wrapped it.
func ioCause(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// createTemp creates the temporary file beside the destination, with 0666
// less the umask, as a new file would get.
func (d *destination) createTemp() (*os.File, error) {
	dir, base := filepath.Split(d.path)
	if dir == "" {
		dir = "."
	}
	for range 10000 {
		name := filepath.Join(dir, "."+base+"."+strconv.FormatUint(uint64(rand.Uint32()), 10)+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, d.errorf("%v", UnwrapPath(err))
		}
		return f, nil
	}
	return nil, d.errorf("cannot create a temporary file in %s", dir)
}

// openInPlace opens a device, a FIFO or a standard stream for writing. A
// FIFO is opened only to write (probe false): opening it waits for a
// reader, which a check before probing must not do; it returns nil then.
func (d *destination) openInPlace(probe bool) (io.WriteCloser, error) {
	if d.fd >= 0 {
		// Written through a copy of the process's own descriptor, which
		// keeps its offset and O_APPEND, and which closing leaves open.
		f, err := dupFile(d.fd, d.display)
		if err != nil {
			return nil, d.errorf("%v", err)
		}
		return f, nil
	}
	if probe {
		if info, err := os.Stat(d.path); err == nil && info.Mode()&fs.ModeNamedPipe != 0 {
			return nil, nil
		}
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
	if err != nil {
		return nil, d.errorf("%v", UnwrapPath(err))
	}
	return f, nil
}

func (d *destination) writeInPlace(write func(io.Writer) error) error {
	w, err := d.openInPlace(false)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// /dev/full says "no space left on device" here: a report that
		// did not go where it was sent is an error, exit 3.
		return d.errorf("%v", ioCause(err))
	}
	return nil
}

// unwrapLink drops the paths an *os.LinkError repeats.
func unwrapLink(err error) error {
	if le, ok := err.(*os.LinkError); ok {
		return le.Err
	}
	return UnwrapPath(err)
}

// UnwrapPath drops the operation and path an *os.PathError repeats, for
// messages that already name the file as the user wrote it.
func UnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// HintedError is an error of the loop that says how to fix it; the CLI
// prints each hint on a line of its own after the message.
type HintedError struct {
	Err  error
	Hint []string
}

func (e *HintedError) Error() string   { return e.Err.Error() }
func (e *HintedError) Unwrap() error   { return e.Err }
func (e *HintedError) Hints() []string { return e.Hint }
