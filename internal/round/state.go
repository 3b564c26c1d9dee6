package round

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// StateVersion is the version of the state file's shape.
const StateVersion = 1

// State is what is kept between rounds (in memory, and in --state's file):
// for every service and endpoint, its last status, when that status began
// and how many rounds in a row found it.
type State struct {
	Version   int               `json:"version"`
	UpdatedAt time.Time         `json:"updated_at"`
	Services  map[string]*Entry `json:"services"`
}

// Entry is the remembered status of a service or of one of its endpoints.
type Entry struct {
	Status    probe.Status      `json:"status"`
	Since     time.Time         `json:"since"`
	Runs      int               `json:"runs"`
	Endpoints map[string]*Entry `json:"endpoints,omitempty"`
	// Seen is when a round last judged the service, so that one that is
	// not probed any more is dropped after StateHistory; zero in files of
	// older versions, which count from the file's UpdatedAt.
	Seen time.Time `json:"seen,omitzero"`
}

func (e *Entry) valid() bool {
	if e == nil || e.Runs < 1 || e.Since.IsZero() || e.Status < probe.Up || e.Status >= probe.Unknown {
		return false
	}
	for _, c := range e.Endpoints {
		if !c.valid() || c.Endpoints != nil {
			return false
		}
	}
	return true
}

func (st *State) check() error {
	if st.Version != StateVersion {
		return fmt.Errorf("version %d, want %d", st.Version, StateVersion)
	}
	for name, e := range st.Services {
		if !e.valid() {
			return fmt.Errorf("invalid entry for %q", name)
		}
	}
	return nil
}

// MaxStateBytes is the most a state file may hold: ten times what 100,000
// endpoints need. A larger file is not the state msgprobe writes, and
// decoding it would cost seconds and gigabytes; it is ignored with a
// warning and rewritten.
const MaxStateBytes = 32 << 20

// StateHistory is how long the state keeps a service that is not probed
// any more (filtered out by -s or -t, or gone from the config): long
// enough for a service probed weekly, bounded so that renamed and removed
// services do not pile up for ever.
const StateHistory = 30 * 24 * time.Hour

// Store reads and writes the state file. A file that is missing or
// corrupt is never fatal: the loop goes on as if this were the first
// round, the driver says so, and a fresh file is written. A file that
// exists but cannot be read (out of descriptors, no permission) is left
// as it is: what it holds is not lost for a round that could not read it.
// A file that cannot be written is an error found before probing, like
// an unwritable report.
//
// Two processes sharing a state file (cron runs that overlap) take turns:
// reading the state, computing the next one and writing it happen under
// an exclusive lock (flock) on the file's directory, held for those few
// milliseconds only, so no run's update is lost.
type Store struct {
	path    string // resolved
	display string // as the user wrote it
	keep    bool   // the last read failed: do not overwrite the file
	warned  string // the last warning Load gave, not to repeat it
	// open opens the file for reading; nil means os.Open. Tests make it
	// fail as a machine out of descriptors does.
	open func(name string) (*os.File, error)
}

// NewStore returns the store of the state file at path (resolved against
// the working directory), named display in messages.
func NewStore(path, display string) *Store {
	return &Store{path: path, display: display}
}

// Open checks that the state file can be written, leaving nothing behind.
func (s *Store) Open() error {
	return checkWritable(s.path, s.display, "state")
}

// Abort is a no-op kept for drivers: no temporary file outlives a write.
func (s *Store) Abort() {}

// StateWarning is why Load found no usable state: the file does not exist
// yet (Missing), it cannot be read and is left as it is (Kept), or it is
// corrupt or too large and will be rewritten.
type StateWarning struct {
	Display string
	Missing bool
	Kept    bool
	Err     error
}

func (w *StateWarning) Error() string {
	switch {
	case w.Missing:
		return fmt.Sprintf("no state in %s yet, starting a new one", w.Display)
	case w.Kept:
		return fmt.Sprintf("cannot read the state in %s (%v); it is left as it is, and this round is not remembered", w.Display, UnwrapPath(w.Err))
	}
	return fmt.Sprintf("ignoring the state in %s (%v); it will be rewritten", w.Display, UnwrapPath(w.Err))
}

func (w *StateWarning) Unwrap() error { return w.Err }

// Load reads the previous state. Without one it returns nil and a
// *StateWarning saying why; the loop then starts afresh.
func (s *Store) Load() (*State, error) {
	st, w := s.read()
	s.keep = w != nil && w.Kept
	if w == nil {
		return st, nil
	}
	return nil, w
}

func (s *Store) read() (*State, *StateWarning) {
	open := s.open
	if open == nil {
		open = os.Open
	}
	f, err := open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &StateWarning{Display: s.display, Missing: true, Err: err}
	}
	if err != nil {
		// EMFILE, EACCES, EIO...: the file may be fine; this process
		// could not read it.
		return nil, &StateWarning{Display: s.display, Kept: true, Err: err}
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > MaxStateBytes {
		return nil, &StateWarning{Display: s.display, Err: tooLarge(info.Size())}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxStateBytes+1))
	if err != nil {
		return nil, &StateWarning{Display: s.display, Kept: true, Err: err}
	}
	if len(data) > MaxStateBytes {
		return nil, &StateWarning{Display: s.display, Err: tooLarge(int64(len(data)))}
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err = dec.Decode(&st); err == nil {
		err = st.check()
	}
	if err != nil {
		return nil, &StateWarning{Display: s.display, Err: err}
	}
	return &st, nil
}

func tooLarge(n int64) error {
	return fmt.Errorf("%d MiB, more than the %d MiB a state file may hold", (n+1<<20-1)>>20, MaxStateBytes>>20)
}

// reload reads the state again under the lock, for what another process
// recorded since; it returns nil (and warns, unless it said the same
// before) when there is none to use.
func (s *Store) reload(warn func(error)) *State {
	st, err := s.Load()
	var w *StateWarning
	if errors.As(err, &w) {
		if msg := w.Error(); msg != s.warned && !w.Missing && warn != nil {
			warn(w)
		}
	}
	return st
}

// noteWarning remembers a warning the driver already showed.
func (s *Store) noteWarning(err error) {
	if err != nil {
		s.warned = err.Error()
	}
}

// Save writes the state atomically: a reader sees the old file or the new
// one, never a mix. After a read that failed, the file is left as it is.
func (s *Store) Save(st *State) error {
	if s.keep {
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot write state to %s: %v", s.display, err)
	}
	return writeFile(s.path, s.display, "state", func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// ErrStateLocked says another process held the state's lock for longer
// than this one could wait.
var ErrStateLocked = errors.New("another msgprobe run holds the state's lock")

// Lock takes the state's lock, waiting for it until until at the latest,
// and returns the function that releases it.
func (s *Store) Lock(until time.Time) (func(), error) {
	unlock, waited, err := lockDir(filepath.Dir(s.path), until)
	if errors.Is(err, ErrStateLocked) {
		return nil, &HintedError{
			Err:  fmt.Errorf("cannot update the state in %s: %w (waited %s); the reports were written, the state was not", s.display, err, waited.Round(time.Millisecond)),
			Hint: []string{"runs sharing a --state take turns for a few milliseconds each; look for a msgprobe process that is stuck"},
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot lock the state in %s: %v", s.display, UnwrapPath(err))
	}
	return unlock, nil
}

// Advance compares a round with the previous state and returns the next
// state and the transitions, services in report order, each followed by
// its endpoints. Entries seen for the first time have no transition. A
// service judged unknown (the local network looked down) says nothing
// about the service, so its entry is kept as it was. Services not probed
// this round (filtered out by -s or -t, or gone from the config) keep their
// entries for StateHistory after a round last judged them; an endpoint
// not in this round's service is dropped with the round.
func Advance(prev *State, rep *probe.Report) (*State, []probe.Transition) {
	at := rep.StartedAt
	next := &State{Version: StateVersion, UpdatedAt: at.UTC(), Services: map[string]*Entry{}}
	var old map[string]*Entry
	if prev != nil {
		old = prev.Services
		for name, e := range old {
			seen := e.Seen
			if seen.IsZero() {
				seen = prev.UpdatedAt
			}
			if at.Sub(seen) <= StateHistory {
				next.Services[name] = e
			}
		}
	}
	transitions := []probe.Transition{}
	step := func(service, endpoint string, before *Entry, st probe.Status, reason string) *Entry {
		switch {
		case before == nil:
			return &Entry{Status: st, Since: at.UTC(), Runs: 1}
		case before.Status == st:
			return &Entry{Status: st, Since: before.Since, Runs: before.Runs + 1}
		}
		transitions = append(transitions, probe.Transition{
			Service: service, Endpoint: endpoint, From: before.Status, To: st,
			Since: before.Since, Runs: before.Runs, Reason: reason,
		})
		return &Entry{Status: st, Since: at.UTC(), Runs: 1}
	}
	for i := range rep.Services {
		s := &rep.Services[i]
		if s.Service == nil {
			continue
		}
		name := s.Service.Name
		before := old[name]
		if s.Status == probe.Unknown {
			if before != nil {
				// Not judged, but still configured: kept as it was.
				kept := *before
				kept.Seen = at.UTC()
				next.Services[name] = &kept
			}
			continue
		}
		e := step(name, "", before, s.Status, s.Reason)
		e.Seen = at.UTC()
		e.Endpoints = map[string]*Entry{}
		for j := range s.Endpoints {
			ep := &s.Endpoints[j]
			if ep.Endpoint == nil {
				continue
			}
			var was *Entry
			if before != nil {
				was = before.Endpoints[ep.Endpoint.Name]
			}
			if ep.Status == probe.Unknown {
				if was != nil {
					e.Endpoints[ep.Endpoint.Name] = was
				}
				continue
			}
			e.Endpoints[ep.Endpoint.Name] = step(name, ep.Endpoint.Name, was, ep.Status, ep.Reason)
		}
		next.Services[name] = e
	}
	return next, transitions
}
