package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// minAddrShare is the least time one of several addresses gets to connect
// before the next is tried, as the standard library's dialer does, so that
// a dead first address does not eat the whole attempt.
const minAddrShare = 2 * time.Second

// network is "tcp", "tcp4" or "tcp6".
func (o *Options) network() string {
	if o == nil || o.Network == "" {
		return "tcp"
	}
	return o.Network
}

func (o *Options) resolver() *net.Resolver {
	if o == nil || o.Resolver == nil {
		return net.DefaultResolver
	}
	return o.Resolver
}

// dial opens a fresh connection to ep for attempt a, timing the lookup and
// the connect into a's timings and recording the address connected to; on
// failure it records why in a.Failure and returns nil. The connection's deadline is ctx's, and it is cut short when ctx
// is canceled, so that no read, write or handshake on it outlives ctx
// whatever the peer does.
func dial(ctx context.Context, ep *Endpoint, opt *Options, a *Attempt) net.Conn {
	conn, f := dialHost(ctx, ep.Host, ep.Port, opt, &a.Timings, nil)
	if f != nil {
		a.Failure = f
		return nil
	}
	a.RemoteAddr = conn.RemoteAddr().String()
	return conn
}

// dialHost is dial for any host and port, such as a redirect's. When
// progress is not nil it is told each phase as it starts.
func dialHost(ctx context.Context, host, port string, opt *Options, t *Timings, progress func(Phase)) (*boundConn, *Failure) {
	network := opt.network()
	if progress != nil {
		progress(PhaseDNS)
	}
	addrs, f := resolve(ctx, host, network, opt, t)
	if f != nil {
		return nil, f
	}
	if progress != nil {
		progress(PhaseConnect)
	}
	start := time.Now()
	conn, err := connect(ctx, network, addrs, port)
	t.Connect = time.Since(start)
	if err != nil {
		return nil, classify(ctx, err, PhaseConnect)
	}
	return bind(ctx, conn), nil
}

// resolve looks host up unless it is an IP literal and keeps the addresses
// of network's family, in the resolver's order.
func resolve(ctx context.Context, host, network string, opt *Options, t *Timings) ([]netip.Addr, *Failure) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !inFamily(ip, network) {
			return nil, &Failure{Class: ClassNetworkUnreachable, Phase: PhaseConnect,
				Err: fmt.Errorf("%s is not an %s address", host, familyName(network))}
		}
		return []netip.Addr{ip}, nil
	}
	start := time.Now()
	ips, err := lookupIP(ctx, opt.resolver(), host)
	t.DNS = time.Since(start)
	if err != nil {
		return nil, classify(ctx, err, PhaseDNS)
	}
	addrs := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if ip = ip.Unmap(); inFamily(ip, network) {
			addrs = append(addrs, ip)
		}
	}
	if len(addrs) == 0 {
		return nil, &Failure{Class: ClassDNSError, Phase: PhaseDNS,
			Err: &NoFamilyAddress{Host: host, Family: familyName(network)}}
	}
	return addrs, nil
}

// NoFamilyAddress is the error of a name that has addresses, none of them
// in the family asked for: with family both, that family is not probed
// rather than found down.
type NoFamilyAddress struct {
	Host   string
	Family string // "IPv4" or "IPv6"
}

func (e *NoFamilyAddress) Error() string { return e.Host + " has no " + e.Family + " address" }

func inFamily(ip netip.Addr, network string) bool {
	switch network {
	case "tcp4":
		return ip.Unmap().Is4()
	case "tcp6":
		return ip.Is6() && !ip.Is4In6()
	}
	return true
}

func familyName(network string) string {
	if network == "tcp6" {
		return "IPv6"
	}
	return "IPv4"
}

// connect tries addrs in order until one connects or ctx ends. Each address
// but the last gets a share of the time left, and the first error is the one
// reported, as the standard library's dialer does.
func connect(ctx context.Context, network string, addrs []netip.Addr, port string) (net.Conn, error) {
	var (
		d     net.Dialer
		first error
	)
	for i, ip := range addrs {
		if err := ctx.Err(); err != nil {
			if first == nil {
				first = err
			}
			break
		}
		conn, err := func() (net.Conn, error) {
			actx := ctx
			if left := len(addrs) - i; left > 1 {
				if deadline, ok := ctx.Deadline(); ok {
					share := max(time.Until(deadline)/time.Duration(left), minAddrShare)
					var cancel context.CancelFunc
					actx, cancel = context.WithTimeout(ctx, share)
					defer cancel()
				}
			}
			return d.DialContext(actx, network, net.JoinHostPort(ip.String(), port))
		}()
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// boundConn is a connection that ctx bounds: it carries ctx's deadline and
// has it moved to the past when ctx is canceled, which unblocks any read or
// write in progress. It remembers the first error a read or write met,
// because net/http sometimes reports a peer that hung up in words of its
// own, without a type to classify.
type boundConn struct {
	net.Conn
	stop func() bool
	read atomic.Int64 // bytes read so far

	mu  sync.Mutex
	err error
}

func bind(ctx context.Context, conn net.Conn) *boundConn {
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return &boundConn{Conn: conn, stop: stop}
}

func (c *boundConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	c.remember(err)
	return n, err
}

// bytesRead is how much was read from the connection so far.
func (c *boundConn) bytesRead() int64 { return c.read.Load() }

func (c *boundConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.remember(err)
	return n, err
}

func (c *boundConn) remember(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// ioErr is the first error a read or write met, nil if none.
func (c *boundConn) ioErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close releases ctx's hold on the connection as well.
func (c *boundConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
