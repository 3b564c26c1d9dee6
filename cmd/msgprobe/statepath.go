package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/msgprobe/msgprobe/internal/round"
)

// Where a check keeps its state
//
// By default every check remembers the statuses it found, so that a second
// run can say since when a service is down, in the file
// $XDG_STATE_HOME/msgprobe/state-KEY.json (~/.local/state/msgprobe/ without
// XDG_STATE_HOME), KEY naming the config: the hash of its sources' absolute
// paths, so that two configs never mix their histories. --state FILE names
// the file instead; --no-state (or --state '') keeps none, and neither does
// a run under CI (the CI variable set), whose machine is new every time.
//
// The default state is a convenience: when it cannot be kept (no home, a
// read-only one) the run goes on without it and says so once, in a
// warning that -q silences. A file named by --state is a promise, and
// failing to keep it is an error, as for a report file.

// stateChoice is what the flags and the environment chose.
type stateChoice struct {
	path    string // resolved; empty: no state
	display string // as shown in messages
	dflt    bool   // the default state, not one the user named
	warning string // why the default state is not kept, for a warning
}

// chooseState reads --state, --no-state, CI, XDG_STATE_HOME and HOME.
func chooseState(opts *checkOptions, io *IO) stateChoice {
	switch {
	case opts.NoState || (opts.stateSet && opts.State == ""):
		return stateChoice{}
	case opts.State != "":
		return stateChoice{path: io.path(opts.State), display: opts.State}
	case io.getenv("CI") != "":
		return stateChoice{}
	}
	dir, err := stateDir(io)
	if err != nil {
		return stateChoice{warning: err.Error()}
	}
	if dir == "" {
		return stateChoice{}
	}
	path := filepath.Join(dir, "state-"+configKey(opts.Configs, io)+".json")
	return stateChoice{path: path, display: path, dflt: true}
}

// stateDir is msgprobe's directory under the XDG state home, created if
// need be, private to the user.
func stateDir(io *IO) (string, error) {
	base := io.getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		// The XDG spec says a relative value is to be ignored.
		home := io.getenv("HOME")
		if !filepath.IsAbs(home) {
			// No home to keep it in (a bare service environment): no
			// state, and nothing to warn about that the user could fix.
			return "", nil
		}
		base = filepath.Join(home, ".local", "state")
	}
	dir := filepath.Join(base, "msgprobe")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("not keeping state between runs: cannot create %s: %v", dir, round.UnwrapPath(err))
	}
	return dir, nil
}

// configKey names a config by its sources, the -c values: the hash of
// their absolute paths, in order, or of "builtin" for the built-in catalog.
// A conf.d directory is one source, whatever files come and go in it.
func configKey(srcs []string, io *IO) string {
	if len(srcs) == 0 {
		srcs = []string{"builtin"}
	}
	abs := make([]string, len(srcs))
	for i, s := range srcs {
		abs[i] = s
		if s != "-" {
			if p, err := filepath.Abs(io.path(s)); err == nil {
				abs[i] = p
			}
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(abs, "\n")))
	return hex.EncodeToString(sum[:8])
}

// stateHint says how to fix a default state that cannot be kept.
const stateHint = "set XDG_STATE_HOME to a writable directory, name a file with --state FILE, or keep no state with --no-state"

// writeHints adds to an error writing a report or the state the hint of
// what to fix: the directory to create, or to make writable by the user
// msgprobe runs as. An error that has hints already keeps them.
func writeHints(err error) error {
	if err == nil {
		return nil
	}
	var h hinted
	if errors.As(err, &h) && len(h.Hints()) > 0 {
		return err
	}
	m := cannotWrite.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	path, why := m[1], m[2]
	dir := filepath.Dir(path)
	ue := &userError{msg: err.Error()}
	// The round loop words its errors with the system's message: read it.
	is := func(target error, text string) bool { return errors.Is(err, target) || strings.Contains(why, text) }
	switch {
	case is(fs.ErrNotExist, "no such file or directory"):
		ue.hint("create the directory first: mkdir -p %s", dir)
	case is(fs.ErrPermission, "permission denied"):
		who := "the user msgprobe runs as"
		if u, uerr := user.Current(); uerr == nil {
			who = fmt.Sprintf("%s (uid %s)", u.Username, u.Uid)
		}
		ue.hint("make %s writable by %s, or run msgprobe as its owner (the file is replaced by a rename, so the directory must be writable)", dir, who)
	case is(syscall.EROFS, "read-only file system"):
		ue.hint("%s is on a read-only file system (under systemd: add it to ReadWritePaths=)", dir)
	case is(syscall.ENOSPC, "no space left"):
		ue.hint("free space on the file system of %s", dir)
	case strings.Contains(why, "is a directory"):
		ue.hint("name a file inside %s", path)
	default:
		return err
	}
	return &wrappedUserError{ue, err}
}

// cannotWrite reads the round loop's "cannot write report to PATH: WHY".
var cannotWrite = regexp.MustCompile(`^cannot write (?:report|state) to (.+?): (.*)$`)

// wrappedUserError is a userError that still unwraps to its cause.
type wrappedUserError struct {
	*userError
	cause error
}

func (e *wrappedUserError) Unwrap() error { return e.cause }
