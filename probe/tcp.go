package probe

import (
	"context"
	"time"
)

// probeTCP connects to ep and hangs up: the endpoint is up when it accepts
// a connection.
func probeTCP(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()

	conn := dial(ctx, ep, opt, &a)
	if conn == nil {
		return a
	}
	_ = conn.Close()
	return a
}

var tcpProtocol = Protocol{
	Kind:   KindTCP,
	Proves: "a connection is accepted",
	Target: hostPortTarget(""),
	Hints:  map[string]string{"tls": "use a tls:// target to check the handshake"},
	Phases: []Phase{PhaseDNS, PhaseConnect},
	Probe:  probeTCP,
}
