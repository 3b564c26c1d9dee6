package probe

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func testConfig(services, perService, samples int) *Config {
	cfg := &Config{}
	for i := range services {
		s := &Service{Name: fmt.Sprintf("s%d", i)}
		for j := range perService {
			ep := testEndpoint(fmt.Sprintf("s%d-e%d", i, j))
			ep.Samples = samples
			ep.Service = s.Name
			s.Endpoints = append(s.Endpoints, ep)
		}
		cfg.Services = append(cfg.Services, s)
	}
	return cfg
}

func TestRunnerOrderAndConcurrency(t *testing.T) {
	cfg := testConfig(10, 5, 2)
	var running, peak, calls atomic.Int32
	release := make(chan struct{})
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// Hold the first four attempts until the pool is full.
		if calls.Add(1) == 4 {
			close(release)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return Attempt{Timings: Timings{Total: time.Millisecond}}
	}
	r := &Runner{Concurrency: 4, Probe: probe}
	rep := r.Run(context.Background(), cfg)
	if got := peak.Load(); got > 4 {
		t.Errorf("peak concurrency %d, want at most 4", got)
	}
	if got := calls.Load(); got != 100 {
		t.Errorf("%d attempts, want 100 (50 endpoints × 2)", got)
	}
	for i, s := range rep.Services {
		if s.Service != cfg.Services[i] {
			t.Fatalf("service %d out of order", i)
		}
		for j, e := range s.Endpoints {
			if e.Endpoint != cfg.Services[i].Endpoints[j] || len(e.Attempts) != 2 || e.Status != Up {
				t.Fatalf("endpoint %d/%d: %+v", i, j, e)
			}
		}
	}
	if rep.Status != Up || rep.Summary.Up != 10 {
		t.Errorf("status %s summary %+v", rep.Status, rep.Summary)
	}
}

func TestRunnerAttemptTimeout(t *testing.T) {
	cfg := testConfig(1, 1, 2)
	cfg.Services[0].Endpoints[0].Timeout = 20 * time.Millisecond
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("attempt context has no deadline")
		}
		<-ctx.Done()
		return Attempt{Failure: &Failure{Class: ClassTimeout, Phase: PhaseConnect, Err: ctx.Err()}}
	}
	rep := (&Runner{Probe: probe}).Run(context.Background(), cfg)
	e := rep.Services[0].Endpoints[0]
	if e.Status != Down || e.Reason != "2/2 attempts timed out at connect" {
		t.Errorf("got %s %q", e.Status, e.Reason)
	}
}

func TestRunnerDeadlineCancels(t *testing.T) {
	cfg := testConfig(3, 4, 3)
	started := make(chan struct{}, 100)
	firstDone := make(chan struct{})
	var firstCalls atomic.Int32
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		if ep.Name == "s0-e0" {
			// The last of its three attempts: it finishes before the cut.
			if firstCalls.Add(1) == 3 {
				close(firstDone)
			}
			return Attempt{Timings: Timings{Total: time.Millisecond}}
		}
		started <- struct{}{}
		<-ctx.Done()
		return Attempt{Failure: &Failure{Class: ClassTimeout, Phase: PhaseTLS, Err: ctx.Err()}}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-firstDone
		<-started
		cancel(ErrDeadline)
	}()
	done := make(chan *Report)
	go func() { done <- (&Runner{Concurrency: 2, Probe: probe}).Run(ctx, cfg) }()
	var rep *Report
	select {
	case rep = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end after its context was canceled")
	}
	if e := rep.Services[0].Endpoints[0]; e.Status != Up {
		t.Errorf("finished endpoint: %s %q", e.Status, e.Reason)
	}
	for _, s := range rep.Services {
		for _, e := range s.Endpoints[1:] {
			if e.Status != Down || len(e.Attempts) != 3 {
				t.Fatalf("%s: %s with %d attempts", e.Endpoint.Name, e.Status, len(e.Attempts))
			}
			for _, a := range e.Attempts {
				if a.Failure == nil || a.Failure.Class != ClassCanceled || !errors.Is(a.Failure, ErrDeadline) {
					t.Fatalf("%s: attempt %+v, want canceled by the deadline", e.Endpoint.Name, a.Failure)
				}
			}
		}
	}
}

// A prober that ignores its context must not hold the run past its end.
func TestRunnerGraceForStuckProber(t *testing.T) {
	cfg := testConfig(1, 2, 1)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		<-block
		return Attempt{}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrInterrupted)
	done := make(chan *Report)
	go func() { done <- (&Runner{Probe: probe, Grace: 10 * time.Millisecond}).Run(ctx, cfg) }()
	select {
	case rep := <-done:
		if rep.Status != Down {
			t.Errorf("status %s, want down", rep.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run waited for a stuck prober")
	}
}

func TestRunnerControls(t *testing.T) {
	cfg := testConfig(2, 1, 1)
	cfg.Controls = []*Endpoint{testEndpoint("c1"), testEndpoint("c2")}
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		return Attempt{Failure: &Failure{Class: ClassNetworkUnreachable, Phase: PhaseConnect, Err: errors.New("network is unreachable")}}
	}
	rep := (&Runner{Probe: probe}).Run(context.Background(), cfg)
	if rep.Status != Unknown || rep.Note == "" || len(rep.Controls) != 2 {
		t.Errorf("got %s %q controls %d", rep.Status, rep.Note, len(rep.Controls))
	}
}

func TestPoolSize(t *testing.T) {
	for _, tc := range []struct {
		concurrency, endpoints, fileLimit, want int
	}{
		{0, 1000, 0, 64},       // the default
		{4096, 100, 0, 100},    // never more workers than endpoints
		{4096, 10000, 0, 4096}, // no known limit
		{4096, 10000, 65536, 4096},
		{4096, 10000, 256, 112}, // (256 - 32 reserved) / 2 per attempt
		{4096, 10000, 20, 1},    // always at least one
		{8, 10000, 256, 8},
	} {
		if got := poolSize(tc.concurrency, tc.endpoints, tc.fileLimit); got != tc.want {
			t.Errorf("poolSize(%d, %d, %d) = %d, want %d", tc.concurrency, tc.endpoints, tc.fileLimit, got, tc.want)
		}
	}
}

// A certificate seen by every attempt is kept once per endpoint, and a
// different one is kept as it is.
func TestRunnerKeepsRepeatedTLSInfoOnce(t *testing.T) {
	cfg := testConfig(1, 1, 3)
	calls := 0
	probe := func(context.Context, *Endpoint, *Options) Attempt {
		calls++
		subject := "chat.test"
		if calls == 3 {
			subject = "other.test"
		}
		return Attempt{Timings: Timings{Total: time.Millisecond}, RemoteAddr: fmt.Sprint("127.0.0.1:", 443),
			TLS: &TLSInfo{Version: 0x0304, NotAfter: testNow, Subject: subject, Verified: true}}
	}
	rep := (&Runner{Concurrency: 1, Probe: probe}).Run(context.Background(), cfg)
	as := rep.Services[0].Endpoints[0].Attempts
	if len(as) != 3 {
		t.Fatalf("%d attempts, want 3", len(as))
	}
	if as[0].TLS != as[1].TLS {
		t.Error("identical TLS details of two attempts are held twice")
	}
	if as[2].TLS == as[1].TLS || as[2].TLS.Subject != "other.test" {
		t.Errorf("a different certificate was replaced: %+v", *as[2].TLS)
	}
}

// When this machine runs out of descriptors, the runner lets fewer attempts
// run at once and tries again, instead of reporting services down for a
// limit of its own.
func TestRunnerBacksOffOnLocalResource(t *testing.T) {
	cfg := testConfig(8, 5, 2)
	const room = 3 // descriptors this fake machine has for attempts
	var held, starvedCalls atomic.Int32
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		if held.Add(1) > room {
			held.Add(-1)
			starvedCalls.Add(1)
			return Attempt{Failure: &Failure{Class: ClassLocalResource, Phase: PhaseConnect,
				Err: &describedError{"too many open files", syscall.EMFILE}}}
		}
		defer held.Add(-1)
		// The attempt's own work, holding its descriptor meanwhile.
		time.Sleep(time.Millisecond)
		return Attempt{Timings: Timings{Total: time.Millisecond}}
	}
	rep := (&Runner{Concurrency: 16, Probe: probe}).Run(context.Background(), cfg)
	if starvedCalls.Load() == 0 {
		t.Fatal("no attempt ran out of descriptors: the test shows nothing")
	}
	if rep.Status != Up || rep.Summary.Up != 8 {
		t.Errorf("status %s summary %+v (diagnosis %+v), want every service up after backing off", rep.Status, rep.Summary, rep.Diagnosis)
	}
	if rep.BackedOffTo < 1 || rep.BackedOffTo > room {
		t.Errorf("backed off to %d at once, want 1..%d", rep.BackedOffTo, room)
	}
}

// Attempts that fail for lack of local resources whatever the runner does
// leave their endpoints and services unknown, under the local_resource
// diagnosis, and the run unknown (exit 3): not a service outage.
func TestRunnerGivesUpOnLocalResourceAsUnknown(t *testing.T) {
	cfg := testConfig(3, 2, 2)
	cfg.Controls = []*Endpoint{testEndpoint("c1")}
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		if ep.Service == "s0" {
			return Attempt{Timings: Timings{Total: time.Millisecond}}
		}
		return Attempt{Failure: &Failure{Class: ClassLocalResource, Phase: PhaseConnect,
			Err: &describedError{"cannot assign requested address", syscall.EADDRNOTAVAIL}}}
	}
	rep := (&Runner{Concurrency: 4, Probe: probe}).Run(context.Background(), cfg)
	if rep.Status != Unknown || rep.Diagnosis.Code != DiagLocalResource {
		t.Fatalf("status %s diagnosis %+v, want unknown, local_resource", rep.Status, rep.Diagnosis)
	}
	want := "this machine ran out of ephemeral ports (cannot assign requested address): 5 of 7 endpoints not judged"
	if !strings.HasPrefix(rep.Diagnosis.Message, want) || !strings.HasSuffix(rep.Diagnosis.Message, "; lower --concurrency or widen net.ipv4.ip_local_port_range") {
		t.Errorf("message %q", rep.Diagnosis.Message)
	}
	if rep.Note != rep.Diagnosis.Message {
		t.Errorf("note %q", rep.Note)
	}
	if s := rep.Services[0]; s.Status != Up {
		t.Errorf("a service probed in full is %s, want up", s.Status)
	}
	for _, s := range rep.Services[1:] {
		if s.Status != Unknown {
			t.Errorf("%s is %s, want unknown", s.Service.Name, s.Status)
		}
		for _, e := range s.Endpoints {
			if e.Status != Unknown || e.Reason != "2/2 attempts failed on this machine at connect: cannot assign requested address" {
				t.Errorf("%s: %s %q", e.Endpoint.Name, e.Status, e.Reason)
			}
		}
	}
}

// The grace after the run's end is for attempts that were started: with
// endpoints left unstarted and every running prober honouring ctx, Run
// returns as soon as the running ones report (bb3a3a4 always waited the
// whole grace).
func TestRunnerDoesNotWaitForUnstartedEndpoints(t *testing.T) {
	cfg := testConfig(50, 20, 1)
	var started atomic.Int32
	probe := func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		started.Add(1)
		<-ctx.Done()
		return Attempt{Failure: &Failure{Class: ClassTimeout, Phase: PhaseConnect, Err: ctx.Err()}}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &Runner{Concurrency: 4, Probe: probe, Grace: time.Minute}
	done := make(chan *Report)
	go func() { done <- r.Run(ctx, cfg) }()
	for wait := time.Now().Add(10 * time.Second); started.Load() < 4; runtime.Gosched() {
		if time.Now().After(wait) {
			t.Fatal("the pool did not start 4 attempts in 10s")
		}
	}
	cancel(ErrDeadline)
	ended := time.Now()
	select {
	case rep := <-done:
		if waited := time.Since(ended); waited > 10*time.Second {
			t.Errorf("Run took %v after its end", waited)
		}
		if n := started.Load(); n >= 1000 {
			t.Fatalf("all %d endpoints were started: the test shows nothing", n)
		}
		if rep.Status != Down {
			t.Errorf("status %s", rep.Status)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run waited its grace for endpoints that never started")
	}
}
