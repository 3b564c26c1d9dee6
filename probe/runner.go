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
	// The providers' status pages are read alongside the probes.
	providers := r.fetchProviders(ctx, cfg)
	attempts, fewest := r.probeAll(ctx, eps)

	now := r.now()
	rep := &Report{StartedAt: started, Controls: make([]EndpointResult, len(cfg.Controls)), BackedOffTo: fewest}
	for i, ep := range cfg.Controls {
		rep.Controls[i] = judgeEndpoint(ep, attempts[i], now)
	}
	next := len(cfg.Controls)
	rep.Services = make([]ServiceResult, len(cfg.Services))
	for i, s := range cfg.Services {
		res := make([]EndpointResult, len(s.Endpoints))
		for j, ep := range s.Endpoints {
			res[j] = judgeEndpoint(ep, attempts[next], now)
			next++
		}
		rep.Services[i] = JudgeService(s, res)
		rep.Services[i].Provider = providers.wait(i)
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
// index, and the fewest attempts it let run at once after this machine ran
// out of local resources (0 when it never did). Workers hand results to this
// goroutine over a buffered channel, so the hot path takes no lock but the
// throttle's.
func (r *Runner) probeAll(ctx context.Context, eps []*Endpoint) ([][]Attempt, int) {
	out := make([][]Attempt, len(eps))
	if len(eps) == 0 {
		return out, 0
	}
	accounts := &accountLocks{}
	workers := poolSize(r.Concurrency, len(eps), openFileLimit())
	gate := newThrottle(workers)

	jobs := make(chan int)
	results := make(chan finished, len(eps))
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- finished{i, r.probeEndpoint(ctx, eps[i], gate, accounts)}
			}
		}()
	}
	idle := make(chan struct{})
	go func() {
		wg.Wait()
		close(idle)
	}()
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
			// the running ones a moment to notice ctx and report. Once
			// every worker has stopped there is nothing left to wait for:
			// the grace is for attempts that were started, not for those
			// that never will be.
			ctxDone = nil
			g := r.Grace
			if g <= 0 {
				g = 250 * time.Millisecond
			}
			t := time.NewTimer(g)
			defer t.Stop()
			grace = t.C
			continue
		case <-idle:
			// Every worker has stopped: whatever will come back is in
			// the channel already.
		case <-grace:
		}
		break
	}
	// The channel still holds what finished before the workers stopped or
	// the grace ended.
	for {
		select {
		case f := <-results:
			out[f.index], done[f.index] = f.attempts, true
			count++
			if r.Progress != nil {
				r.Progress(count, len(eps))
			}
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
	return out, gate.fewest()
}

// maxLocalRetries bounds how often one attempt is made again after failing
// for lack of local resources.
const maxLocalRetries = 4

// throttle lets fewer attempts run at once than the pool has workers once
// this machine has run out of descriptors, buffers or ephemeral ports: the
// attempt that met the limit waits for others to finish and free what they
// hold, then tries again, rather than reporting a service down for a limit
// of this machine. The limit halves on each such failure and grows back by
// one for every limit's worth of attempts that got through.
type throttle struct {
	mu      sync.Mutex
	limit   int // attempts allowed at once
	most    int // the pool's size, which the limit grows back to
	active  int
	lowest  int           // the lowest limit set, 0 while it was never lowered
	calm    int           // attempts that got through since the limit last changed
	changed chan struct{} // closed when active or limit change, for waiters
}

func newThrottle(workers int) *throttle {
	return &throttle{limit: workers, most: workers}
}

// acquire waits for room for one attempt; false when ctx ended first.
func (t *throttle) acquire(ctx context.Context) bool {
	for {
		t.mu.Lock()
		if t.active < t.limit {
			t.active++
			t.mu.Unlock()
			return true
		}
		if t.changed == nil {
			t.changed = make(chan struct{})
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// release ends an attempt. starved says it failed for lack of local
// resources: the limit then drops to half of what else is running, and the
// caller tries again once there is room under it.
func (t *throttle) release(starved bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	switch {
	case starved:
		// t.active others were running: with this one, too many.
		t.most = max(1, min(t.most, t.active))
		if next := max(1, (t.active+1)/2); next < t.limit {
			t.limit, t.calm = next, 0
			if t.lowest == 0 || next < t.lowest {
				t.lowest = next
			}
		}
	case t.limit < t.most:
		if t.calm++; t.calm >= t.limit {
			t.limit, t.calm = t.limit+1, 0
		}
	}
	if t.changed != nil {
		close(t.changed)
		t.changed = nil
	}
}

func (t *throttle) fewest() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lowest
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

// probeEndpoint makes the endpoint's attempts one after another, each when
// the throttle has room for it, over the families its family setting names
// (see family.go). The attempts of endpoints that act on one account (two
// delivery probes of one test account) wait for each other: a message of
// one would show in the other's sync, and two logins at once look like an
// attack to a server.
func (r *Runner) probeEndpoint(ctx context.Context, ep *Endpoint, gate *throttle, accounts *accountLocks) []Attempt {
	if p := ProtocolOf(ep.Kind); p != nil && p.Once && p.Account != nil {
		unlock, ok := accounts.lock(ctx, p.Account(ep))
		if !ok {
			return canceledAttempts(ctx, ep, nil)
		}
		defer unlock()
	}
	if splitsFamilies(ep) {
		return r.probeFamilies(ctx, ep, gate)
	}
	return r.probeSamples(ctx, ep, familyOptions(r.Options, ep.Family), gate)
}

// probeSamples makes the endpoint's attempts one after another with opt.
func (r *Runner) probeSamples(ctx context.Context, ep *Endpoint, opt *Options, gate *throttle) []Attempt {
	probe := r.proberFor(ep)
	samples := max(ep.Samples, 1)
	attempts := make([]Attempt, 0, samples)
	for range samples {
		var a Attempt
		for try := 0; ; try++ {
			if ctx.Err() != nil || !gate.acquire(ctx) {
				return canceledAttempts(ctx, ep, attempts)
			}
			actx, cancel := context.WithTimeout(ctx, ep.Timeout)
			a = probe(actx, ep, opt)
			cancel()
			// Other attempts may have ended since this one failed, even
			// with none running now: trying again is cheap, a failure
			// of this kind is immediate.
			starved := a.Failure != nil && a.Failure.Class == ClassLocalResource
			gate.release(starved)
			if !starved || try == maxLocalRetries {
				break
			}
		}
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
