package probe

import (
	"context"
	"crypto/tls"
	"time"
)

// probeTLS connects to ep and completes a TLS handshake, verifying the
// certificate unless the endpoint says not to.
func probeTLS(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()

	conn := dial(ctx, ep, opt, &a)
	if conn == nil {
		return a
	}
	defer conn.Close()

	cfg := clientTLSConfig(ep)
	tc := tls.Client(conn, cfg)
	hs := time.Now()
	err := tc.HandshakeContext(ctx)
	a.Timings.TLS = time.Since(hs)
	if err != nil {
		a.Failure = classify(ctx, err, PhaseTLS)
		return a
	}
	state := tc.ConnectionState()
	a.TLS = tlsInfo(&state, !cfg.InsecureSkipVerify)
	// Say goodbye properly; the deadline bounds the close_notify write.
	_ = tc.Close()
	return a
}

// clientTLSConfig is the endpoint's TLS configuration, with the host as the
// name to verify and to send as SNI when the configuration names none.
func clientTLSConfig(ep *Endpoint) *tls.Config {
	cfg := ep.TLSConfig
	if cfg == nil {
		return &tls.Config{ServerName: ep.Host}
	}
	if cfg.ServerName == "" {
		// The configuration is shared by every attempt: change a copy.
		cfg = cfg.Clone()
		cfg.ServerName = ep.Host
	}
	return cfg
}

// tlsInfo describes a completed handshake.
func tlsInfo(state *tls.ConnectionState, verified bool) *TLSInfo {
	info := &TLSInfo{Version: state.Version, Verified: verified}
	if len(state.PeerCertificates) == 0 {
		return info
	}
	leaf := state.PeerCertificates[0]
	info.NotAfter = leaf.NotAfter
	info.Subject = leaf.Subject.CommonName
	switch {
	case leaf.Issuer.CommonName != "":
		info.Issuer = leaf.Issuer.CommonName
	case len(leaf.Issuer.Organization) > 0:
		info.Issuer = leaf.Issuer.Organization[0]
	default:
		info.Issuer = leaf.Issuer.String()
	}
	return info
}

var tlsProtocol = Protocol{
	Kind:   KindTLS,
	Proves: "a connection is accepted and a verified TLS handshake completes",
	Blocks: []string{"tls"},
	TLS:    true,
	Target: hostPortTarget(""),
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseTLS},
	Probe:  probeTLS,
}
