package round

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// Store reads and writes the state file. A file that is missing or
// unreadable is never fatal: the loop goes on as if this were the first
// round, the driver says so, and a fresh file is written. A file that
// cannot be written is an error found before probing, like an unwritable
// report.
type Store struct {
	path    string // resolved
	display string // as the user wrote it
	pending *atomicFile
}

// NewStore returns the store of the state file at path (resolved against
// the working directory), named display in messages.
func NewStore(path, display string) *Store {
	return &Store{path: path, display: display}
}

// Open creates the temporary file the state will be written to.
func (s *Store) Open() error {
	if s.pending != nil {
		return nil
	}
	f, err := createAtomic(s.path, s.display, "state")
	if err != nil {
		return err
	}
	s.pending = f
	return nil
}

// Abort removes the temporary file, if any.
func (s *Store) Abort() {
	if s.pending != nil {
		s.pending.abort()
		s.pending = nil
	}
}

// StateWarning is why Load found no usable state: the file does not exist
// yet (Missing), or it is unreadable or corrupt and will be rewritten.
type StateWarning struct {
	Display string
	Missing bool
	Err     error
}

func (w *StateWarning) Error() string {
	if w.Missing {
		return fmt.Sprintf("no state in %s yet, starting a new one", w.Display)
	}
	return fmt.Sprintf("ignoring the state in %s (%v); it will be rewritten", w.Display, UnwrapPath(w.Err))
}

func (w *StateWarning) Unwrap() error { return w.Err }

// Load reads the previous state. Without one it returns nil and a
// *StateWarning saying why; the loop then starts afresh.
func (s *Store) Load() (*State, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &StateWarning{Display: s.display, Missing: true, Err: err}
	}
	if err == nil {
		var st State
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&st); err == nil {
			err = st.check()
		}
		if err == nil {
			return &st, nil
		}
	}
	return nil, &StateWarning{Display: s.display, Err: err}
}

// Save writes the state atomically: a reader sees the old file or the new
// one, never a mix.
func (s *Store) Save(st *State) error {
	if err := s.Open(); err != nil {
		return err
	}
	f := s.pending
	s.pending = nil
	data, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		_, err = f.Write(append(data, '\n'))
	}
	if err != nil {
		f.abort()
		return fmt.Errorf("cannot write state to %s: %v", s.display, err)
	}
	return f.commit()
}

// Advance compares a round with the previous state and returns the next
// state and the transitions, services in report order, each followed by
// its endpoints. Entries seen for the first time have no transition. A
// service judged unknown (the local network looked down) says nothing
// about the service, so its entry is kept as it was. Services not probed
// this round (filtered out by -s or -t) keep their entries too.
func Advance(prev *State, rep *probe.Report) (*State, []probe.Transition) {
	at := rep.StartedAt
	next := &State{Version: StateVersion, UpdatedAt: at.UTC(), Services: map[string]*Entry{}}
	var old map[string]*Entry
	if prev != nil {
		old = prev.Services
		for name, e := range old {
			next.Services[name] = e
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
		if s.Service == nil || s.Status == probe.Unknown {
			continue
		}
		name := s.Service.Name
		before := old[name]
		e := step(name, "", before, s.Status, s.Reason)
		e.Endpoints = map[string]*Entry{}
		for j := range s.Endpoints {
			ep := &s.Endpoints[j]
			if ep.Endpoint == nil || ep.Status == probe.Unknown {
				continue
			}
			var was *Entry
			if before != nil {
				was = before.Endpoints[ep.Endpoint.Name]
			}
			e.Endpoints[ep.Endpoint.Name] = step(name, ep.Endpoint.Name, was, ep.Status, ep.Reason)
		}
		next.Services[name] = e
	}
	return next, transitions
}
