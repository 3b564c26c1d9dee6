package probe

import (
	"context"
	"net"
	"time"
)

// Options are the run-wide choices every prober honours.
type Options struct {
	// Network is "tcp" (either family), "tcp4" or "tcp6".
	Network string
	// Resolver looks names up; nil means the system's resolver.
	Resolver *net.Resolver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) now() time.Time {
	if o == nil || o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// ProbeFunc makes one attempt at an endpoint. The caller bounds the attempt
// with ctx's deadline; the prober turns it into connection deadlines so that
// nothing it does outlives ctx. A ProbeFunc never panics on a hostile peer,
// never prints, and reads no globals.
type ProbeFunc func(ctx context.Context, ep *Endpoint, opt *Options) Attempt

// Probe makes one attempt at ep with the prober its kind's protocol names.
func Probe(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
	return ProtocolOf(ep.Kind).Probe(ctx, ep, opt)
}

func joinHostPort(host, port string) string { return net.JoinHostPort(host, port) }
