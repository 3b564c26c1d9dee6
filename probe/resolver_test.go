package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func TestNewResolverAsksOnlyItsServer(t *testing.T) {
	listener := fixture.TCPListener(t)
	_, port, _ := net.SplitHostPort(listener)
	dns := fixture.DNSServer(t, map[string][]string{"chat.test": {"127.0.0.1"}})
	opt := &Options{Resolver: NewResolver(dns.Addr)}

	a := runProbe(t, targetEndpoint(t, "tcp://chat.test:"+port), opt, 10*time.Second)
	wantOK(t, a)

	dns.ServFail("*")
	a = runProbe(t, targetEndpoint(t, "tcp://chat.test:"+port), opt, 10*time.Second)
	if a.Failure == nil || a.Failure.Class != ClassDNSError || a.Failure.Phase != PhaseDNS {
		t.Fatalf("SERVFAIL: %+v, want dns_error at dns", a.Failure)
	}
	if got, want := a.Failure.Error(), "lookup chat.test: server misbehaving"; got != want {
		t.Errorf("SERVFAIL message %q, want %q", got, want)
	}
}

// A resolver that nothing listens on is told apart from one that answers
// badly, by the error the query met and not by its text.
func TestLookupResolverRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = lookupIP(ctx, NewResolver(closed), "chat.test")
	var ru *resolverUnreachableError
	if !errors.As(err, &ru) || ru.errno != syscall.ECONNREFUSED {
		t.Fatalf("lookup via a closed port: %v, want resolver unreachable (connection refused)", err)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Error("the lookup's DNSError is not kept in the chain")
	}
	f := classify(ctx, err, PhaseDNS)
	if f.Class != ClassDNSError || f.Error() != "resolver unreachable: connection refused" {
		t.Errorf("classified %s %q", f.Class, f.Error())
	}
}

// unreachableResolver fails every dial the way a machine without a route
// does, without sending anything anywhere.
func unreachableResolver(errno syscall.Errno) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "udp", Err: os.NewSyscallError("connect", errno)}
		},
	}
}

func TestLookupNetworkUnreachable(t *testing.T) {
	ep := targetEndpoint(t, "tcp://chat.test:5222")
	opt := &Options{Resolver: unreachableResolver(syscall.ENETUNREACH)}
	var attempts []Attempt
	for range 3 {
		attempts = append(attempts, runProbe(t, ep, opt, 10*time.Second))
	}
	f := attempts[0].Failure
	if f == nil || f.Class != ClassNetworkUnreachable || f.Phase != PhaseDNS || f.Error() != "resolver unreachable: network is unreachable" {
		t.Fatalf("got %+v, want network_unreachable at dns, short", f)
	}
	r := JudgeEndpoint(ep, attempts, testNow)
	if want := "3/3 attempts failed at dns: resolver unreachable: network is unreachable"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	opt = &Options{Resolver: unreachableResolver(syscall.EHOSTUNREACH)}
	if f := runProbe(t, ep, opt, 10*time.Second).Failure; f == nil || f.Class != ClassHostUnreachable || f.Phase != PhaseDNS {
		t.Errorf("no route to the resolver: %+v", f)
	}
}

// Concurrent lookups of one name each see their own failure: the standard
// library would otherwise merge them into one query, and only the first
// caller would learn its cause.
func TestLookupsAreNotShared(t *testing.T) {
	r := unreachableResolver(syscall.ENETUNREACH)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = lookupIP(ctx, r, "same.test")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if f := classify(ctx, err, PhaseDNS); f.Class != ClassNetworkUnreachable {
			t.Errorf("lookup %d: %s %q", i, f.Class, f.Error())
		}
	}
}

func TestLookupKeepsOtherResolversWorking(t *testing.T) {
	dns := fixture.DNSServer(t, map[string][]string{"a.test": {"127.0.0.1", "::1"}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A resolver without a Dial of its own: lookupIP dials what the
	// resolver asks for. Here the fixture's resolver, which has one.
	ips, err := lookupIP(ctx, dns.Resolver(), "a.test")
	if err != nil || len(ips) != 2 || !containsAddr(ips, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("a.test: %v %v", ips, err)
	}
	_, err = lookupIP(ctx, dns.Resolver(), "nx.test")
	if f := classify(ctx, err, PhaseDNS); f.Class != ClassDNSNXDomain {
		t.Errorf("nx.test: %s %v", f.Class, err)
	}
}

func containsAddr(ips []netip.Addr, ip netip.Addr) bool {
	for _, a := range ips {
		if a == ip {
			return true
		}
	}
	return false
}

func TestCheckResolverAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:53":  true,
		"[::1]:5353":    true,
		"dns.test:53":   true,
		"127.0.0.1":     false,
		":53":           false,
		"127.0.0.1:0":   false,
		"127.0.0.1:dns": false,
		"[::1]:70000":   false,
	} {
		if err := CheckResolverAddr(addr); (err == nil) != ok {
			t.Errorf("%q: %v", addr, err)
		}
	}
}
