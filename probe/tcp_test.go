package probe

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// targetEndpoint builds the endpoint the loader would for target, without
// TLS configuration.
func targetEndpoint(t *testing.T, target string) *Endpoint {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	return &Endpoint{
		Name: target, Target: target, Kind: Kind(u.Scheme), URL: u,
		Host: u.Hostname(), Port: port, Settings: DefaultSettings,
	}
}

// runProbe makes one attempt at ep bounded by timeout.
func runProbe(t *testing.T, ep *Endpoint, opt *Options, timeout time.Duration) Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return runProbeCtx(t, ctx, ep, opt)
}

// runProbeCtx makes one attempt at ep with ctx and fails the test when the
// prober is still busy well after ctx ended: probers must not outlive it.
func runProbeCtx(t *testing.T, ctx context.Context, ep *Endpoint, opt *Options) Attempt {
	t.Helper()
	done := make(chan Attempt, 1)
	go func() { done <- Probe(ctx, ep, opt) }()
	limit := time.Minute
	if deadline, ok := ctx.Deadline(); ok {
		limit = time.Until(deadline) + 5*time.Second
	}
	bound := time.NewTimer(limit)
	defer bound.Stop()
	select {
	case a := <-done:
		return a
	case <-bound.C:
		t.Fatalf("probe of %s still running long after its context ended", ep.Target)
		return Attempt{}
	}
}

func wantOK(t *testing.T, a Attempt) {
	t.Helper()
	if a.Failure != nil {
		t.Fatalf("attempt failed: %s at %s: %v", a.Failure.Class, a.Failure.Phase, a.Failure)
	}
	if a.Timings.Total <= 0 {
		t.Errorf("total = %v, want > 0", a.Timings.Total)
	}
}

func wantFailure(t *testing.T, a Attempt, class Class, phase Phase) {
	t.Helper()
	if a.Failure == nil {
		t.Fatalf("attempt succeeded, want %s at %s", class, phase)
	}
	if a.Failure.Class != class || a.Failure.Phase != phase {
		t.Fatalf("failure %s at %s (%v), want %s at %s", a.Failure.Class, a.Failure.Phase, a.Failure, class, phase)
	}
	if a.Failure.Error() == "" {
		t.Error("failure has no message")
	}
}

func TestTCPConnects(t *testing.T) {
	ep := targetEndpoint(t, "tcp://"+fixture.TCPListener(t))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.Timings.Connect <= 0 {
		t.Errorf("connect = %v, want > 0", a.Timings.Connect)
	}
	if a.Timings.DNS != 0 {
		t.Errorf("dns = %v for an IP literal, want 0", a.Timings.DNS)
	}
	if a.RemoteAddr != ep.Address() {
		t.Errorf("remote address %q, want %q", a.RemoteAddr, ep.Address())
	}
	if a.TLS != nil || a.HTTPStatus != 0 {
		t.Errorf("a tcp attempt has TLS %v, status %d", a.TLS, a.HTTPStatus)
	}
}

func TestTCPRefused(t *testing.T) {
	a := runProbe(t, targetEndpoint(t, "tcp://"+fixture.ClosedPort(t)), nil, 10*time.Second)
	wantFailure(t, a, ClassConnectionRefused, PhaseConnect)
	if a.Failure.Error() != "connection refused" {
		t.Errorf("message %q, want the cause without addresses", a.Failure.Error())
	}
}

func TestTCPHangingConnectTimesOut(t *testing.T) {
	a := runProbe(t, targetEndpoint(t, "tcp://"+fixture.BlackholeAddr(t)), nil, 300*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseConnect)
}

func TestTCPCanceled(t *testing.T) {
	ep := targetEndpoint(t, "tcp://"+fixture.BlackholeAddr(t))
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		wantFailure(t, runProbeCtx(t, ctx, ep, nil), ClassCanceled, PhaseConnect)
	})
	t.Run("run deadline with a cause", func(t *testing.T) {
		// The runner ends a run at --deadline with a cause of its own; an
		// attempt it cuts short is canceled, not timed out.
		stop := errors.New("run deadline reached")
		run, cancel := context.WithTimeoutCause(t.Context(), 200*time.Millisecond, stop)
		defer cancel()
		ctx, cancelAttempt := context.WithTimeout(run, 10*time.Second)
		defer cancelAttempt()
		a := runProbeCtx(t, ctx, ep, nil)
		wantFailure(t, a, ClassCanceled, PhaseConnect)
		if !strings.Contains(a.Failure.Error(), stop.Error()) {
			t.Errorf("message %q does not name the cause", a.Failure.Error())
		}
	})
}

func TestDialResolves(t *testing.T) {
	listener := fixture.TCPListener(t)
	_, port, _ := net.SplitHostPort(listener)
	dns := fixture.DNSServer(t, map[string][]string{
		"ok.test": {"127.0.0.1"},
		// Nothing listens on 127.0.0.2: the dial must move on to the
		// next address.
		"second.test": {"127.0.0.2", "127.0.0.1"},
		"v6only.test": {"::1"},
	}, "silent.test")
	opt := &Options{Resolver: dns.Resolver()}
	ep := func(host string) *Endpoint { return targetEndpoint(t, "tcp://"+net.JoinHostPort(host, port)) }

	t.Run("found", func(t *testing.T) {
		a := runProbe(t, ep("ok.test"), opt, 10*time.Second)
		wantOK(t, a)
		if a.Timings.DNS <= 0 || a.Timings.Connect <= 0 {
			t.Errorf("dns = %v, connect = %v, want both > 0", a.Timings.DNS, a.Timings.Connect)
		}
	})
	t.Run("second address", func(t *testing.T) {
		a := runProbe(t, ep("second.test"), opt, 10*time.Second)
		wantOK(t, a)
		if a.RemoteAddr != listener {
			t.Errorf("connected to %s, want %s", a.RemoteAddr, listener)
		}
	})
	t.Run("nxdomain", func(t *testing.T) {
		wantFailure(t, runProbe(t, ep("nx.test"), opt, 10*time.Second), ClassDNSNXDomain, PhaseDNS)
	})
	t.Run("no answer", func(t *testing.T) {
		wantFailure(t, runProbe(t, ep("silent.test"), opt, 300*time.Millisecond), ClassDNSTimeout, PhaseDNS)
	})
	t.Run("no address of the family", func(t *testing.T) {
		opt6 := &Options{Resolver: dns.Resolver(), Network: "tcp6"}
		a := runProbe(t, ep("ok.test"), opt6, 10*time.Second)
		wantFailure(t, a, ClassDNSError, PhaseDNS)
		if !strings.Contains(a.Failure.Error(), "no IPv6 address") {
			t.Errorf("message %q does not say which family is missing", a.Failure.Error())
		}
		opt4 := &Options{Resolver: dns.Resolver(), Network: "tcp4"}
		wantFailure(t, runProbe(t, ep("v6only.test"), opt4, 10*time.Second), ClassDNSError, PhaseDNS)
	})
	t.Run("literal of the other family", func(t *testing.T) {
		a := runProbe(t, ep("::1"), &Options{Network: "tcp4"}, 10*time.Second)
		wantFailure(t, a, ClassNetworkUnreachable, PhaseConnect)
	})
}
