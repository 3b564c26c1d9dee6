package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
)

// NewResolver returns a resolver that sends every query to the DNS server at
// addr ("host:port"), whatever the system is configured with: over UDP
// first, and over TCP when an answer is truncated, as Go's own resolver does.
func NewResolver(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// CheckResolverAddr reports whether addr is a usable "host:port" for
// NewResolver; the message says what is wrong with it.
func CheckResolverAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("resolver %q is not HOST:PORT", addr)
	}
	if host == "" {
		return fmt.Errorf("resolver %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("resolver %q has an invalid port", addr)
	}
	return nil
}

// resolverUnreachableError is a lookup that failed because no query left
// this machine, or none came back: the local system refused to send to the
// resolver (no route, network down) or the resolver's host refused the
// query. The standard library keeps only the text of such causes in its
// DNSError, so lookupIP records them on the way and keeps both.
type resolverUnreachableError struct {
	lookup *net.DNSError
	errno  syscall.Errno
}

func (e *resolverUnreachableError) Error() string {
	return "resolver unreachable: " + e.errno.Error()
}

func (e *resolverUnreachableError) Unwrap() []error { return []error{e.errno, e.lookup} }

// lookupIP looks host up with r, through a resolver of its own so that
// concurrent attempts never share one query (each attempt pays the lookup a
// fresh client pays) and so that the errors met while talking to the name
// servers are seen as values, not only as the text DNSError keeps.
func lookupIP(ctx context.Context, r *net.Resolver, host string) ([]netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	tr := &lookupTrace{}
	dial := r.Dial
	if dial == nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		}
	}
	own := &net.Resolver{
		PreferGo:     r.PreferGo,
		StrictErrors: r.StrictErrors,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			if err != nil {
				tr.failed(err)
				return nil, err
			}
			tc := &tracedConn{Conn: c, tr: tr}
			if pc, ok := c.(net.PacketConn); ok {
				// The resolver frames its queries by whether the connection
				// is a PacketConn, so the wrapper must stay one.
				return &tracedPacketConn{tracedConn: tc, pc: pc}, nil
			}
			return tc, nil
		},
	}
	ips, err := own.LookupNetIP(ctx, "ip", host)
	if err == nil {
		return ips, nil
	}
	dnsErr := (*net.DNSError)(nil)
	if errno, ok := tr.starved(); ok && errors.As(err, &dnsErr) {
		// A query this machine could not send leaves the answer
		// incomplete, whatever the other query said: the standard
		// library reports a name whose A query could not be sent and
		// whose AAAA query found nothing as "no such host".
		return nil, &resolverUnreachableError{lookup: dnsErr, errno: errno}
	}
	if !errors.As(err, &dnsErr) || dnsErr.IsNotFound || dnsErr.IsTimeout {
		return nil, err
	}
	if errno, ok := tr.unreachable(); ok {
		return nil, &resolverUnreachableError{lookup: dnsErr, errno: errno}
	}
	return nil, err
}

// lookupTrace follows one lookup's conversations with its name servers. The
// resolver may talk to them from goroutines of its own, hence the mutex.
type lookupTrace struct {
	mu      sync.Mutex
	answers int
	errno   syscall.Errno
	lack    syscall.Errno // the first query not sent for lack of local resources
}

// localErrnos are the causes that say no query reached a resolver or none
// could: the network or route is missing here, nothing listens there, or
// this machine had no descriptor, buffer or port left for the query.
var localErrnos = []syscall.Errno{
	syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTUNREACH, syscall.EHOSTDOWN, syscall.ECONNREFUSED,
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.EADDRNOTAVAIL,
}

func (t *lookupTrace) failed(err error) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return
	}
	for _, e := range localErrnos {
		if errno == e {
			t.mu.Lock()
			if t.errno == 0 {
				t.errno = errno
			}
			if t.lack == 0 && isLocalResource(errno) {
				t.lack = errno
			}
			t.mu.Unlock()
			return
		}
	}
}

// starved is the first local resource a query lacked, if any did.
func (t *lookupTrace) starved() (syscall.Errno, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lack, t.lack != 0
}

func (t *lookupTrace) answered() {
	t.mu.Lock()
	t.answers++
	t.mu.Unlock()
}

// unreachable is the first local cause met, when no name server answered
// at all: one answer means a resolver was reached, and its failure is its
// own.
func (t *lookupTrace) unreachable() (syscall.Errno, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errno, t.answers == 0 && t.errno != 0
}

// tracedConn is a connection to a name server. UDP reports a closed port
// (ECONNREFUSED) on the read after the query, not on the dial.
type tracedConn struct {
	net.Conn
	tr *lookupTrace
}

func (c *tracedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.tr.answered()
	}
	if err != nil {
		c.tr.failed(err)
	}
	return n, err
}

func (c *tracedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.tr.failed(err)
	}
	return n, err
}

// tracedPacketConn is a tracedConn over UDP.
type tracedPacketConn struct {
	*tracedConn
	pc net.PacketConn
}

func (c *tracedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.pc.ReadFrom(b)
	if n > 0 {
		c.tr.answered()
	}
	if err != nil {
		c.tr.failed(err)
	}
	return n, addr, err
}

func (c *tracedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.pc.WriteTo(b, addr)
	if err != nil {
		c.tr.failed(err)
	}
	return n, err
}
