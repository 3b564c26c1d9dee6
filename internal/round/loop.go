package round

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// Loop runs rounds over one configuration (replaceable between rounds)
// and carries the state from one round to the next. Its fields are set
// before the first round and not changed after; SetConfig may be called
// at any time, from any goroutine.
type Loop struct {
	// Concurrency bounds how many endpoints are probed at once; 0 means
	// the runner's default.
	Concurrency int
	// Network is "tcp", "tcp4" or "tcp6" (-4, -6).
	Network string
	// Resolver is the HOST:PORT of the DNS server every lookup goes to; it
	// wins over the config's resolver. Empty: the config's, else the
	// system's.
	Resolver string
	// Deadline bounds each round; what has not finished by then is
	// reported down (canceled). 0: no bound but ctx's.
	Deadline time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Attempt makes one attempt; nil means probe.Probe. Tests replace it.
	Attempt probe.ProbeFunc
	// Progress, when set, counts the endpoints of each round.
	Progress *Progress

	// Files are the report files, written after every recorded round.
	Files Files
	// Store keeps the state in a file between processes; nil keeps it in
	// memory only.
	Store *Store
	// Track computes transitions (and keeps state in memory) even without
	// a Store: --watch and serve do.
	Track bool
	// Sinks receive every recorded round after the files and the state
	// were written, in order.
	Sinks []Sink

	mu     sync.Mutex
	cfg    *probe.Config
	state  *State // the last recorded statuses; nil before the first
	rounds int
}

// Result is one round: its report (with the transitions, when tracked)
// and how it ended.
type Result struct {
	Report *probe.Report
	// Round counts the rounds of this loop, from 1.
	Round int
	// Interrupted tells that the user (Ctrl-C, SIGTERM) cut the round
	// short: it is reported but not remembered, since what it did not
	// measure is no news about the services.
	Interrupted bool
	// Cause is why the round ended before every endpoint had finished:
	// probe.ErrDeadline, probe.ErrInterrupted, ctx's own cause; nil when
	// it ran to its end.
	Cause error
	// Config is the configuration the round probed.
	Config *probe.Config
}

// A Sink receives the recorded rounds of a loop. An error from a sink
// ends a one-shot run; a long-running driver logs it and goes on.
type Sink interface {
	Deliver(r *Result) error
}

// SinkFunc makes a function a Sink.
type SinkFunc func(r *Result) error

// Deliver calls f.
func (f SinkFunc) Deliver(r *Result) error { return f(r) }

// New returns a loop over cfg; set its fields before the first round.
func New(cfg *probe.Config) *Loop { return &Loop{cfg: cfg} }

// Config is the configuration the next round probes.
func (l *Loop) Config() *probe.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// SetConfig replaces the configuration from the next round on; the round
// under way finishes with the one it started with.
func (l *Loop) SetConfig(cfg *probe.Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg
}

// State is the state after the last recorded round (or as loaded), nil
// before any. It must not be modified.
func (l *Loop) State() *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// Open creates the temporary files of the report files and of the state
// before any probing, so that an unwritable path fails at once.
func (l *Loop) Open() error {
	if err := l.Files.Open(); err != nil {
		return err
	}
	if l.Store != nil {
		if err := l.Store.Open(); err != nil {
			l.Files.Abort()
			return err
		}
	}
	return nil
}

// Abort removes the temporary files not committed; a no-op after the
// last round wrote them.
func (l *Loop) Abort() {
	l.Files.Abort()
	if l.Store != nil {
		l.Store.Abort()
	}
}

// LoadState reads the Store's previous state and turns tracking on. The
// error, a *StateWarning, says why there was none to load; the loop goes
// on without it.
func (l *Loop) LoadState() error {
	l.Track = true
	if l.Store == nil {
		return nil
	}
	st, err := l.Store.Load()
	l.mu.Lock()
	l.state = st
	l.mu.Unlock()
	return err
}

// Probe runs one round without recording it: every endpoint of the
// current configuration probed and judged, bounded by ctx and Deadline.
func (l *Loop) Probe(ctx context.Context) *Result {
	cfg := l.Config()
	if l.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, time.Now().Add(l.Deadline), probe.ErrDeadline)
		defer cancel()
	}
	l.Progress.Start(EndpointTotal(cfg))
	runner := &probe.Runner{
		Concurrency: l.Concurrency,
		Options:     &probe.Options{Network: l.Network, Now: l.Now, Resolver: l.resolver(cfg)},
		Probe:       l.Attempt,
		Now:         l.Now,
		Progress:    l.Progress.Hook(),
	}
	rep := runner.Run(ctx, cfg)
	l.Progress.End()
	cause := context.Cause(ctx)
	l.mu.Lock()
	l.rounds++
	n := l.rounds
	l.mu.Unlock()
	return &Result{Report: rep, Round: n, Config: cfg, Cause: cause, Interrupted: errors.Is(cause, probe.ErrInterrupted)}
}

// Record sets the round's transitions (when tracked), then writes the
// report files and the state, then hands the round to the sinks. A round
// the user interrupted is reported but not remembered. A file that cannot
// be written stops the files and the state (the state stays as it was, so
// the next round reports the same changes again), but not the sinks: they
// are live views, which must show the round whatever became of the files.
// It returns the first error.
func (l *Loop) Record(r *Result) error {
	if l.Track {
		l.mu.Lock()
		next, transitions := Advance(l.state, r.Report)
		r.Report.Transitions = transitions
		if !r.Interrupted {
			l.state = next
		}
		l.mu.Unlock()
	}
	err := l.Files.Write(r.Report)
	if err == nil && l.Store != nil && !r.Interrupted {
		err = l.Store.Save(l.State())
	}
	for _, s := range l.Sinks {
		if serr := s.Deliver(r); err == nil {
			err = serr
		}
	}
	return err
}

// Round probes and records one round.
func (l *Loop) Round(ctx context.Context) (*Result, error) {
	r := l.Probe(ctx)
	return r, l.Record(r)
}

// Schedule says when the next round of a repeating loop starts.
type Schedule struct {
	// Interval is the time between two rounds.
	Interval time.Duration
	// FromStart counts the interval from the start of a round (serve: a
	// steady cadence) rather than from its end (--watch: a pause between
	// rounds). Either way a round never overlaps the next: one longer than
	// the interval is followed at once.
	FromStart bool
	// Jitter varies each interval at random by up to this fraction of it,
	// either way (0.1: ±10%), so that many probes started together drift
	// apart.
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

// Wait is how long to wait, after a round that ran from started to ended,
// before the next one starts.
func (s Schedule) Wait(started, ended time.Time) time.Duration {
	d := s.Interval
	if s.Jitter > 0 {
		rnd := rand.Float64
		if s.Rand != nil {
			rnd = s.Rand
		}
		r := rnd()
		d += time.Duration((2*r - 1) * s.Jitter * float64(s.Interval))
	}
	if s.FromStart {
		d -= ended.Sub(started)
	}
	return max(d, 0)
}

// Repeat runs rounds until ctx ends, calling each after every round with
// the error Record returned for it (an unwritable report file): each
// decides whether that ends the loop (--watch) or is logged (serve). A
// round cut short by the end of ctx is dropped unless it is the first: a
// driver always has one round to show. It returns the last round
// delivered, and the error each returned, if any.
func (l *Loop) Repeat(ctx context.Context, s Schedule, each func(*Result, error) error) (*Result, error) {
	var last *Result
	for {
		started := time.Now()
		r := l.Probe(ctx)
		if ctx.Err() != nil && last != nil {
			return last, nil
		}
		err := l.Record(r)
		last = r
		if each != nil {
			err = each(r, err)
		}
		if err != nil {
			return r, err
		}
		if ctx.Err() != nil {
			return last, nil
		}
		t := time.NewTimer(s.Wait(started, time.Now()))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return last, nil
		}
	}
}

func (l *Loop) resolver(cfg *probe.Config) *net.Resolver {
	addr := cmp.Or(l.Resolver, cfg.Resolver)
	if addr == "" {
		return nil
	}
	return probe.NewResolver(addr)
}

// EndpointTotal counts the endpoints of cfg, controls included.
func EndpointTotal(cfg *probe.Config) int {
	n := len(cfg.Controls)
	for _, s := range cfg.Services {
		n += len(s.Endpoints)
	}
	return n
}
