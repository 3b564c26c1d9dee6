package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// stateVersion is the version of the state file's shape.
const stateVersion = 1

// runState is what --state keeps between runs: for every service and
// endpoint, its last status, when that status began and how many runs in a
// row found it.
type runState struct {
	Version   int                    `json:"version"`
	UpdatedAt time.Time              `json:"updated_at"`
	Services  map[string]*stateEntry `json:"services"`
}

type stateEntry struct {
	Status    probe.Status           `json:"status"`
	Since     time.Time              `json:"since"`
	Runs      int                    `json:"runs"`
	Endpoints map[string]*stateEntry `json:"endpoints,omitempty"`
}

func (e *stateEntry) valid() bool {
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

// stateStore reads and writes the state file. A file that is missing or
// unreadable is never fatal: the run goes on as if it were the first, says
// so on stderr, and writes a fresh file. A file that cannot be written is
// an error found before probing, like an unwritable report.
type stateStore struct {
	path    string // resolved
	display string // as the user wrote it
	pending *atomicFile
}

func newStateStore(path string, io *IO) *stateStore {
	s := &stateStore{path: path, display: path}
	if io.WorkDir != "" && !filepath.IsAbs(path) {
		s.path = filepath.Join(io.WorkDir, path)
	}
	return s
}

// open creates the temporary file the state will be written to.
func (s *stateStore) open() error {
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

func (s *stateStore) abort() {
	if s.pending != nil {
		s.pending.abort()
		s.pending = nil
	}
}

// load reads the previous state; nil means there is none to compare with.
// A missing file is expected on the first run, so it is mentioned only
// when not quiet; a corrupt one always is.
func (s *stateStore) load(io *IO, quiet bool) *runState {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		if !quiet {
			fmt.Fprintf(io.Err, "msgprobe: warning: no state in %s yet, starting a new one\n", s.display)
		}
		return nil
	}
	if err == nil {
		var st runState
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&st); err == nil {
			err = st.check()
		}
		if err == nil {
			return &st
		}
	}
	fmt.Fprintf(io.Err, "msgprobe: warning: ignoring the state in %s (%v); it will be rewritten\n", s.display, unwrapPath(err))
	return nil
}

func (st *runState) check() error {
	if st.Version != stateVersion {
		return fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	}
	for name, e := range st.Services {
		if !e.valid() {
			return fmt.Errorf("invalid entry for %q", name)
		}
	}
	return nil
}

// save writes the state atomically: a reader sees the old file or the new
// one, never a mix.
func (s *stateStore) save(st *runState) error {
	if err := s.open(); err != nil {
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

// advance compares a run with the previous state and returns the next
// state and the transitions, services in report order, each followed by
// its endpoints. Entries seen for the first time have no transition. A
// service judged unknown (the local network looked down) says nothing
// about the service, so its entry is kept as it was. Services not probed
// this run (filtered out by -s or -t) keep their entries too.
func advance(prev *runState, rep *probe.Report) (*runState, []probe.Transition) {
	at := rep.StartedAt
	next := &runState{Version: stateVersion, UpdatedAt: at.UTC(), Services: map[string]*stateEntry{}}
	var old map[string]*stateEntry
	if prev != nil {
		old = prev.Services
		for name, e := range old {
			next.Services[name] = e
		}
	}
	transitions := []probe.Transition{}
	step := func(service, endpoint string, before *stateEntry, st probe.Status, reason string) *stateEntry {
		switch {
		case before == nil:
			return &stateEntry{Status: st, Since: at.UTC(), Runs: 1}
		case before.Status == st:
			return &stateEntry{Status: st, Since: before.Since, Runs: before.Runs + 1}
		}
		transitions = append(transitions, probe.Transition{
			Service: service, Endpoint: endpoint, From: before.Status, To: st,
			Since: before.Since, Runs: before.Runs, Reason: reason,
		})
		return &stateEntry{Status: st, Since: at.UTC(), Runs: 1}
	}
	for i := range rep.Services {
		s := &rep.Services[i]
		if s.Service == nil || s.Status == probe.Unknown {
			continue
		}
		name := s.Service.Name
		before := old[name]
		e := step(name, "", before, s.Status, s.Reason)
		e.Endpoints = map[string]*stateEntry{}
		for j := range s.Endpoints {
			ep := &s.Endpoints[j]
			if ep.Endpoint == nil || ep.Status == probe.Unknown {
				continue
			}
			var was *stateEntry
			if before != nil {
				was = before.Endpoints[ep.Endpoint.Name]
			}
			e.Endpoints[ep.Endpoint.Name] = step(name, ep.Endpoint.Name, was, ep.Status, ep.Reason)
		}
		next.Services[name] = e
	}
	return next, transitions
}
