package probe

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"
)

// largeRun is the number of endpoints from which Run starts by releasing the
// memory loading left behind.
const largeRun = 1000

// ErrDeadline is the cause a run's context carries when --deadline ends it.
var ErrDeadline = errors.New("run deadline reached")

// ErrInterrupted is the cause a run's context carries when the user stops it.
var ErrInterrupted = errors.New("interrupted")

// Runner probes the endpoints of a configuration concurrently. It is the only
// place in msgprobe that starts goroutines.
type Runner struct {
	// Concurrency bounds how many endpoints are probed at once; 0 means 64.
	Concurrency int
	// Options are handed to every prober.
	Options *Options
	// Probe makes one attempt; nil means Probe, the prober of the endpoint's
	// kind. Tests replace it.
	Probe ProbeFunc
	// Progress, when set, is called from one goroutine after each endpoint
	// finishes.
	Progress func(done, total int)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Grace is how long Run waits for probers after ctx ends before it
	// reports what is still running as canceled; 0 means 250ms. Probers
	// honour ctx, so this is a safety net, not a timeout.
	Grace time.Duration
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Run probes every control and service endpoint of cfg and judges them. The
// attempts of one endpoint run one after another, each bounded by the
// endpoint's timeout; ctx bounds the whole run. When ctx ends early, what was
// measured is kept and what was not is reported down with class canceled.
// Results come back in configuration order whatever order they finished in.
func (r *Runner) Run(ctx context.Context, cfg *Config) *Report {
	started := r.now()
	eps := make([]*Endpoint, 0, len(cfg.Controls))
	eps = append(eps, cfg.Controls...)
	for _, s := range cfg.Services {
		eps = append(eps, s.Endpoints...)
	}
	if len(eps) >= largeRun {
		// Loading a configuration this size leaves its parse tree, larger
		// than the endpoints themselves, behind as garbage. Collected and
		// handed back now, it is not there for the run's own allocations to
		// pile on before the next collection comes: at 10,000 endpoints,
		// the difference between a peak of about 70 MiB and about 62. It
		// costs one collection, a few milliseconds.
		debug.FreeOSMemory()
	}
	attempts := r.probeAll(ctx, eps)

	now := r.now()
	rep := &Report{StartedAt: started, Controls: make([]EndpointResult, len(cfg.Controls))}
	for i, ep := range cfg.Controls {
		rep.Controls[i] = JudgeEndpoint(ep, attempts[i], now)
	}
	next := len(cfg.Controls)
	rep.Services = make([]ServiceResult, len(cfg.Services))
	for i, s := range cfg.Services {
		res := make([]EndpointResult, len(s.Endpoints))
		for j, ep := range s.Endpoints {
			res[j] = JudgeEndpoint(ep, attempts[next], now)
			next++
		}
		rep.Services[i] = JudgeService(s, res)
	}
	JudgeRun(rep)
	rep.Duration = r.now().Sub(started)
	return rep
}

type finished struct {
	index    int
	attempts []Attempt
}

// probeAll probes eps through a pool of workers and returns their attempts by
// index. Workers hand results to this goroutine over a buffered channel, so
// the hot path takes no lock.
func (r *Runner) probeAll(ctx context.Context, eps []*Endpoint) [][]Attempt {
	out := make([][]Attempt, len(eps))
	if len(eps) == 0 {
		return out
	}
	accounts := &accountLocks{}
	workers := poolSize(r.Concurrency, len(eps), openFileLimit())

	jobs := make(chan int)
	results := make(chan finished, len(eps))
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- finished{i, r.probeEndpoint(ctx, eps[i], accounts)}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range eps {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	done := make([]bool, len(eps))
	count := 0
	var grace <-chan time.Time
	ctxDone := ctx.Done()
	for count < len(eps) {
		select {
		case f := <-results:
			out[f.index], done[f.index] = f.attempts, true
			count++
			if r.Progress != nil {
				r.Progress(count, len(eps))
			}
			continue
		case <-ctxDone:
			// Endpoints never handed to a worker will not come back; give
			// the running ones a moment to notice ctx and report.
			ctxDone = nil
			g := r.Grace
			if g <= 0 {
				g = 250 * time.Millisecond
			}
			t := time.NewTimer(g)
			defer t.Stop()
			grace = t.C
			continue
		case <-grace:
		}
		break
	}
	// The channel still holds what finished before the grace ended.
	for {
		select {
		case f := <-results:
			out[f.index], done[f.index] = f.attempts, true
			continue
		default:
		}
		break
	}
	for i, ep := range eps {
		if !done[i] {
			out[i] = canceledAttempts(ctx, ep, nil)
		}
	}
	return out
}

// Each attempt in flight holds at most filesPerAttempt descriptors (its
// connection, and a DNS socket while it looks up a name); filesReserved are
// left for the rest of the process (standard streams, the report, the
// poller).
const (
	filesPerAttempt = 2
	filesReserved   = 32
)

// poolSize is how many endpoints are probed at once: as many as asked (64
// when not said), no more than there are endpoints, and no more than the
// open-files limit lets through. Past that limit attempts would fail with
// "too many open files", which reads as the network failing: a false alarm
// on a machine whose limit is low, rather than a slower run.
func poolSize(concurrency, endpoints, fileLimit int) int {
	n := concurrency
	if n <= 0 {
		n = 64
	}
	if fileLimit > 0 {
		n = min(n, (fileLimit-filesReserved)/filesPerAttempt)
	}
	return max(1, min(n, endpoints))
}

// MaxConcurrency is the most endpoints a run probes at once on this machine,
// whatever --concurrency asks, or 0 when the open-files limit sets none.
func MaxConcurrency() int {
	limit := openFileLimit()
	if limit <= 0 {
		return 0
	}
	return poolSize(limit, limit, limit)
}

// probeEndpoint makes the endpoint's attempts one after another. The
// attempts of endpoints that act on one account (two delivery probes of one
// test account) wait for each other: a message of one would show in the
// other's sync, and two logins at once look like an attack to a server.
func (r *Runner) probeEndpoint(ctx context.Context, ep *Endpoint, accounts *accountLocks) []Attempt {
	if p := ProtocolOf(ep.Kind); p != nil && p.Once && p.Account != nil {
		unlock, ok := accounts.lock(ctx, p.Account(ep))
		if !ok {
			return canceledAttempts(ctx, ep, nil)
		}
		defer unlock()
	}
	probe := r.proberFor(ep)
	samples := max(ep.Samples, 1)
	attempts := make([]Attempt, 0, samples)
	for range samples {
		if ctx.Err() != nil {
			return canceledAttempts(ctx, ep, attempts)
		}
		actx, cancel := context.WithTimeout(ctx, ep.Timeout)
		a := probe(actx, ep, r.Options)
		cancel()
		if a.Failure != nil && ctx.Err() != nil {
			// The run ended during this attempt: it was cut short, whatever
			// error the cut produced.
			a.Failure = &Failure{Class: ClassCanceled, Phase: a.Failure.Phase, Err: context.Cause(ctx)}
		}
		if n := len(attempts); n > 0 {
			// What the previous attempt saw, seen again, is kept once: the
			// results of a large run then hold one copy per endpoint, not
			// one per attempt.
			prev := &attempts[n-1]
			if sameTLS(a.TLS, prev.TLS) {
				a.TLS = prev.TLS
			}
			if a.RemoteAddr == prev.RemoteAddr {
				a.RemoteAddr = prev.RemoteAddr
			}
		}
		attempts = append(attempts, a)
	}
	return attempts
}

// proberFor is the prober for the attempts at ep: the runner's own when set,
// otherwise its kind's, with what the attempts can share (an HTTP client and
// its request) built once for all of them rather than once per attempt.
func (r *Runner) proberFor(ep *Endpoint) ProbeFunc {
	if r.Probe != nil {
		return r.Probe
	}
	if p := ProtocolOf(ep.Kind); p != nil && p.Prober != nil {
		return p.Prober(ep)
	}
	return Probe
}

func sameTLS(a, b *TLSInfo) bool {
	return a != nil && b != nil && a.Version == b.Version && a.NotAfter.Equal(b.NotAfter) &&
		a.Subject == b.Subject && a.Issuer == b.Issuer && a.Verified == b.Verified
}

// canceledAttempts fills the attempts the run had no time for.
func canceledAttempts(ctx context.Context, ep *Endpoint, have []Attempt) []Attempt {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	for len(have) < max(ep.Samples, 1) {
		have = append(have, Attempt{Failure: &Failure{Class: ClassCanceled, Err: cause}})
	}
	return have
}

// accountLocks serialise the endpoints of one account within a run.
type accountLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// lock waits until no other endpoint holds account, or ctx ends (false).
func (a *accountLocks) lock(ctx context.Context, account string) (unlock func(), ok bool) {
	a.mu.Lock()
	if a.locks == nil {
		a.locks = map[string]chan struct{}{}
	}
	ch := a.locks[account]
	if ch == nil {
		ch = make(chan struct{}, 1)
		a.locks[account] = ch
	}
	a.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true
	case <-ctx.Done():
		return nil, false
	}
}
