package probe

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/xmpp"
)

// xmpp:// and xmpps:// (RFC 6120, XEP-0368): an XMPP client stream up to
// the point where a client would log in. xmpp:// opens a stream, upgrades
// it with STARTTLS, verifies the certificate for the XMPP domain and opens
// a second stream, whose SASL mechanisms prove the server is ready to
// authenticate; xmpps:// does the same over direct TLS. No login is ever
// attempted.

// The kinds of XMPP probe.
const (
	KindXMPP  Kind = "xmpp"
	KindXMPPS Kind = "xmpps"
)

// The phases of an XMPP attempt, after dns and connect.
const (
	// PhaseStream is the first stream: the client's header, the server's
	// header and features.
	PhaseStream Phase = "stream"
	// PhaseStartTLS is <starttls/> and the server's <proceed/>.
	PhaseStartTLS Phase = "starttls"
	// PhaseFeatures is the stream inside TLS: its header and features,
	// with the SASL mechanisms.
	PhaseFeatures Phase = "features"
)

// The classes of XMPP failures.
const (
	// ClassXMPPStreamError: the server ended the stream with a
	// <stream:error>, such as host-unknown.
	ClassXMPPStreamError Class = "xmpp_stream_error"
	// ClassStartTLSUnavailable: the server does not offer STARTTLS, or
	// refused it, where TLS is required.
	ClassStartTLSUnavailable Class = "starttls_unavailable"
)

// xmppClientPort is the port RFC 6120 §3.2.2 falls back to without SRV
// records.
const xmppClientPort = "5222"

// XMPPOptions are an XMPP endpoint's `xmpp` block.
type XMPPOptions struct {
	// Domain is the XMPP domain: the stream's `to`, and the name the
	// certificate must be valid for unless tls.server_name says otherwise.
	// Default: the target's host.
	Domain string
	// StartTLSOptional lets xmpp:// be up on a server that offers no
	// STARTTLS (starttls: optional); by default it is required.
	StartTLSOptional bool
	// SRV is set when the target has no port: the address comes from the
	// _xmpp-client._tcp (or _xmpps-client._tcp) records of Domain.
	SRV bool

	target *yaml.Node // for Finish's error positions
	user   string     // the account of xmpp+deliver://, the JID's local part
}

var xmppKeys = []string{"domain", "starttls"}

var xmppBlock = Block{Name: "xmpp", Keys: xmppKeys, Decode: (*loader).xmppOptions}

func (l *loader) xmppOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "xmpp", keys: xmppKeys})
	if f == nil {
		return
	}
	o := optionsOf[XMPPOptions](ep, "xmpp")
	if p, ok := f["domain"]; ok {
		if d, good := l.str(p.v, "xmpp.domain"); good {
			if !validXMPPDomain(d) {
				l.errorf(resolveAlias(p.v), "an XMPP domain is a host name like example.org", "xmpp.domain %q is not a domain name", d)
			} else {
				o.Domain = strings.ToLower(strings.TrimSuffix(d, "."))
			}
		}
	}
	if p, ok := f["starttls"]; ok {
		if s, good := l.str(p.v, "xmpp.starttls"); good {
			switch s {
			case "required":
			case "optional":
				o.StartTLSOptional = true
			default:
				l.errorf(resolveAlias(p.v), "write starttls: required or starttls: optional", "xmpp.starttls %q is neither required nor optional", s)
			}
		}
	}
	setOptions(ep, "xmpp", o)
}

// validXMPPDomain accepts DNS host names, the domains msgprobe can look up
// and verify a certificate for.
func validXMPPDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 || net.ParseIP(d) != nil {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// xmppTarget reads xmpp://domain[:port] and xmpps://domain[:port]. Without
// a port the address comes from SRV; ep.Port holds the fallback meanwhile,
// so that lists and reports have an address to show.
func xmppTarget(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	kind := ep.Kind
	host, port := u.Hostname(), u.Port()
	if host == "" {
		l.errorf(n, "", "target has no host")
		return false
	}
	if u.User != nil {
		l.errorf(n, fmt.Sprintf("write it as %s://%s; an account is only for xmpp+deliver://", kind, bracketHost(host)), "%s:// target must not carry a user name or password", kind)
		return false
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		l.errorf(n, fmt.Sprintf("write it as %s://%s", kind, u.Host), "%s:// target must not have a path, query or fragment", kind)
		return false
	}
	o := optionsOf[XMPPOptions](ep, "xmpp")
	if port == "" {
		o.SRV = true
		port = xmppClientPort
	}
	o.target = n
	setOptions(ep, "xmpp", o)
	ep.Host, ep.Port = host, port
	return true
}

// xmppFinish defaults the domain to the host and points TLS at it.
func xmppFinish(l *loader, ep *Endpoint) {
	o := optionsOf[XMPPOptions](ep, "xmpp")
	setOptions(ep, "xmpp", o)
	if o.Domain == "" {
		if net.ParseIP(ep.Host) != nil {
			l.errorf(o.target, fmt.Sprintf("add xmpp: {domain: example.org} naming the domain %s serves", ep.Host),
				"%s:// target %s is an IP address, and the XMPP domain is not named", ep.Kind, ep.Host)
			return
		}
		if !validXMPPDomain(ep.Host) {
			l.errorf(o.target, "", "%s:// target host %q is not a domain name", ep.Kind, ep.Host)
			return
		}
		o.Domain = strings.ToLower(strings.TrimSuffix(ep.Host, "."))
	}
	if ep.TLSConfig != nil {
		// Built for this endpoint alone at load time: fill it in once
		// rather than cloning it on every attempt. The certificate must be
		// valid for the XMPP domain, whatever host SRV pointed to
		// (RFC 6120 §13.7.2.1).
		if ep.TLS.ServerName == "" {
			ep.TLSConfig.ServerName = o.Domain
		}
		if ep.Kind == KindXMPPS {
			ep.TLSConfig.NextProtos = []string{"xmpp-client"}
		}
	}
}

// probeXMPP makes one xmpp:// or xmpps:// attempt.
func probeXMPP(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()

	o := optionsOf[XMPPOptions](ep, "xmpp")
	direct := ep.Kind == KindXMPPS
	conn, f := xmppDial(ctx, ep, o, direct, opt, &a.Timings)
	if f != nil {
		a.Failure = f
		return a
	}
	defer conn.Close()
	a.RemoteAddr = conn.RemoteAddr().String()

	s := &xmppSession{ctx: ctx, ep: ep, domain: o.Domain, conn: conn, timeout: ep.Timeout}
	info := XMPPInfo{Domain: o.Domain}
	feats, f := s.negotiate(&a, o, direct, &info)
	if f != nil {
		a.Failure = f
		return a
	}
	info.Mechanisms = feats.Mechanisms
	if len(info.Mechanisms) == 0 {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseFeatures,
			Err: errors.New("XMPP server offers no SASL mechanism: no client could log in")}
		return a
	}
	a.Details = info.details()
	s.close()
	return a
}

// XMPPInfo is what a successful XMPP attempt learnt, for the report.
type XMPPInfo struct {
	Domain     string
	StartTLS   string // "required", "offered" or "absent"; "" over direct TLS
	ALPN       string // negotiated over direct TLS, "" if the server chose none
	Mechanisms []string
}

func (i XMPPInfo) details() map[string]any {
	d := map[string]any{"domain": i.Domain, "sasl_mechanisms": i.Mechanisms}
	if i.StartTLS != "" {
		d["starttls"] = i.StartTLS
	}
	if i.ALPN != "" {
		d["alpn"] = i.ALPN
	}
	return d
}

// xmppDial connects to the endpoint: to its host and port when the target
// names a port, else to the SRV targets of the domain in the order RFC 2782
// gives them, falling back to the domain itself on 5222 (xmpp:// only) when
// the domain publishes no records.
func xmppDial(ctx context.Context, ep *Endpoint, o *XMPPOptions, direct bool, opt *Options, t *Timings) (*boundConn, *Failure) {
	if !o.SRV {
		return dialHost(ctx, ep.Host, ep.Port, opt, t, nil)
	}
	service := "xmpp-client"
	if direct {
		service = "xmpps-client"
	}
	start := time.Now()
	_, srvs, err := opt.resolver().LookupSRV(ctx, service, "tcp", o.Domain)
	srvTime := time.Since(start)
	if err != nil {
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || ctx.Err() != nil {
			t.DNS = srvTime
			return nil, classify(ctx, err, PhaseDNS)
		}
		srvs = nil
	}
	if len(srvs) == 0 {
		if direct {
			// XEP-0368 defines direct TLS through SRV only.
			t.DNS = srvTime
			return nil, &Failure{Class: ClassDNSNXDomain, Phase: PhaseDNS,
				Err: fmt.Errorf("%s publishes no _xmpps-client._tcp SRV record for direct TLS", o.Domain)}
		}
		conn, f := dialHost(ctx, o.Domain, xmppClientPort, opt, t, nil)
		t.DNS += srvTime
		return conn, f
	}
	if len(srvs) == 1 && (srvs[0].Target == "." || srvs[0].Target == "") {
		t.DNS = srvTime
		return nil, &Failure{Class: ClassDNSError, Phase: PhaseDNS,
			Err: fmt.Errorf("%s says in DNS that it offers no XMPP client service (SRV target \".\")", o.Domain)}
	}
	// A client tries the next target when one does not connect; a few are
	// enough to tell one dead server from a dead service.
	var first *Failure
	for i, srv := range srvs {
		if i == 4 || ctx.Err() != nil {
			break
		}
		var one Timings
		conn, f := dialHost(ctx, strings.TrimSuffix(srv.Target, "."), fmt.Sprint(srv.Port), opt, &one, nil)
		t.DNS, t.Connect = srvTime+one.DNS, one.Connect
		if f == nil {
			return conn, nil
		}
		if first == nil {
			first = f
		}
	}
	return nil, first
}

// xmppSession is one XMPP connection being negotiated.
type xmppSession struct {
	ctx     context.Context
	ep      *Endpoint
	domain  string
	conn    net.Conn // the raw connection, then the TLS one
	r       *xmpp.Reader
	timeout time.Duration
	from    string
	alpn    string
	// bindResource is the resource to ask for; empty: a fresh
	// msgprobe-… one.
	bindResource string
}

// negotiate runs the streams up to the one a client logs in on: over
// direct TLS the handshake and one stream; otherwise a plain stream,
// STARTTLS when offered (or required), the handshake and a new stream. It
// returns that stream's features and notes in info how TLS came about.
func (s *xmppSession) negotiate(a *Attempt, o *XMPPOptions, direct bool, info *XMPPInfo) (xmpp.Features, *Failure) {
	if direct {
		if f := s.startTLS(a, PhaseTLS); f != nil {
			return xmpp.Features{}, f
		}
		info.ALPN = s.alpn
		return s.open(PhaseFeatures, &a.Timings)
	}
	feats, f := s.open(PhaseStream, &a.Timings)
	if f != nil {
		return xmpp.Features{}, f
	}
	if !feats.StartTLS {
		if !o.StartTLSOptional {
			return xmpp.Features{}, &Failure{Class: ClassStartTLSUnavailable, Phase: PhaseStartTLS,
				Err: errors.New("XMPP server offers no STARTTLS, and TLS is required")}
		}
		info.StartTLS = "absent"
		return feats, nil
	}
	info.StartTLS = "offered"
	if feats.StartTLSRequired {
		info.StartTLS = "required"
	}
	if f := s.proceed(&a.Timings); f != nil {
		return xmpp.Features{}, f
	}
	if f := s.startTLS(a, PhaseTLS); f != nil {
		return xmpp.Features{}, f
	}
	return s.open(PhaseFeatures, &a.Timings)
}

// streamHeader is the client's opening tag for domain (RFC 6120 §4.7).
func streamHeader(domain string) []byte {
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><stream:stream to='")
	_ = xml.EscapeText(&b, []byte(domain))
	b.WriteString("' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	return []byte(b.String())
}

// open starts a stream: the client's header, then the server's header and
// features, which are returned. TTFB is the wait for the first stream's
// header.
func (s *xmppSession) open(phase Phase, t *Timings) (xmpp.Features, *Failure) {
	what := "XMPP stream header"
	if phase == PhaseFeatures {
		what = "XMPP stream header after TLS"
	}
	sent := time.Now()
	defer func() { t.AddStep(phase, time.Since(sent)) }()
	if _, err := s.conn.Write(streamHeader(s.domain)); err != nil {
		return xmpp.Features{}, s.fail(err, phase, what)
	}
	s.r = xmpp.NewReader(s.conn, xmpp.DefaultLimit)
	h, err := s.r.Header()
	if phase == PhaseStream {
		t.TTFB = time.Since(sent)
	}
	if err != nil {
		return xmpp.Features{}, s.fail(err, phase, what)
	}
	if h.From != "" && !strings.EqualFold(strings.TrimSuffix(h.From, "."), s.domain) {
		return xmpp.Features{}, &Failure{Class: ClassProtocol, Phase: phase,
			Err: fmt.Errorf("XMPP server answered for %q, not %q", cleanText(h.From), s.domain)}
	}
	if !strings.HasPrefix(h.Version, "1.") {
		return xmpp.Features{}, &Failure{Class: ClassProtocol, Phase: phase,
			Err: errors.New("XMPP server speaks a stream without version 1.0, so without features (pre-RFC 3920)")}
	}
	s.from = h.From
	feats, err := s.r.Features()
	if err != nil {
		return xmpp.Features{}, s.fail(err, phase, "XMPP stream features")
	}
	return feats, nil
}

// proceed asks for STARTTLS and waits for <proceed/>.
func (s *xmppSession) proceed(t *Timings) *Failure {
	const starttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	defer func(start time.Time) { t.AddStep(PhaseStartTLS, time.Since(start)) }(time.Now())
	if _, err := s.conn.Write([]byte(starttls)); err != nil {
		return s.fail(err, PhaseStartTLS, "answer to STARTTLS")
	}
	e, err := s.r.Next()
	switch {
	case err != nil:
		return s.fail(err, PhaseStartTLS, "answer to STARTTLS")
	case e.Is(xmpp.NSTLS, "failure"):
		return &Failure{Class: ClassStartTLSUnavailable, Phase: PhaseStartTLS,
			Err: errors.New("XMPP server answered STARTTLS with <failure/>")}
	case !e.Is(xmpp.NSTLS, "proceed"):
		return &Failure{Class: ClassProtocol, Phase: PhaseStartTLS,
			Err: fmt.Errorf("XMPP server answered STARTTLS with <%s>", cleanText(e.Name.Local))}
	case s.r.Buffered() > 0:
		// Bytes before the handshake would be read as if TLS had
		// protected them: refuse them, as RFC 6120 §5.4.3.3 wants.
		return &Failure{Class: ClassProtocol, Phase: PhaseStartTLS,
			Err: errors.New("XMPP server sent data after <proceed/>, before TLS")}
	}
	return nil
}

// startTLS runs the handshake on the raw connection and records it in a.
func (s *xmppSession) startTLS(a *Attempt, phase Phase) *Failure {
	cfg := s.ep.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: s.domain}
	}
	tc := tls.Client(s.conn, cfg)
	hs := time.Now()
	err := tc.HandshakeContext(s.ctx)
	a.Timings.TLS = time.Since(hs)
	if err != nil {
		return classify(s.ctx, err, phase)
	}
	state := tc.ConnectionState()
	a.TLS = tlsInfo(&state, !cfg.InsecureSkipVerify)
	s.alpn = state.NegotiatedProtocol
	s.conn = tc
	return nil
}

// close ends the stream politely; the deadline bounds the write.
func (s *xmppSession) close() {
	_, _ = s.conn.Write([]byte("</stream:stream>"))
	if tc, ok := s.conn.(*tls.Conn); ok {
		_ = tc.Close()
	}
}

// fail turns what went wrong while waiting for `what` into a Failure whose
// message names the XMPP layer.
func (s *xmppSession) fail(err error, phase Phase, what string) *Failure {
	var se *xmpp.StreamError
	if errors.As(err, &se) {
		return &Failure{Class: ClassXMPPStreamError, Phase: phase, Err: se}
	}
	var pe *xmpp.ProtocolError
	var le *xmpp.LimitError
	if errors.As(err, &pe) || errors.As(err, &le) {
		return &Failure{Class: ClassProtocol, Phase: phase, Err: err}
	}
	f := classify(s.ctx, err, phase)
	switch f.Class {
	case ClassTimeout:
		return &Failure{Class: ClassProtocolTimeout, Phase: phase,
			Err: &describedError{fmt.Sprintf("connected, no %s in %s", what, durationText(s.timeout)), err}}
	case ClassEOF:
		f.Err = &describedError{"XMPP server closed the connection before its " + strings.TrimPrefix(what, "XMPP "), err}
	}
	return f
}

// cleanText keeps a server-chosen string to one short printable line.
func cleanText(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

var xmppProtocol = Protocol{
	Kind:   KindXMPP,
	Proves: "an XMPP server opens a client stream, upgrades it with STARTTLS to a verified TLS session for the domain, and offers SASL login",
	Blocks: []string{"xmpp", "tls"},
	TLS:    true,
	Target: xmppTarget,
	Finish: xmppFinish,
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseStream, PhaseStartTLS, PhaseTLS, PhaseFeatures},
	Classes: []ClassInfo{
		{Class: ClassXMPPStreamError, Short: "XMPP stream error", SelfDescribed: true},
		{Class: ClassStartTLSUnavailable, Short: "no STARTTLS", SelfDescribed: true},
	},
	Probe: probeXMPP,
	Notes: xmppNotes,
}

var xmppsProtocol = Protocol{
	Kind:   KindXMPPS,
	Proves: "an XMPP server completes a verified direct TLS handshake for the domain (XEP-0368), opens a client stream and offers SASL login",
	Blocks: []string{"xmpp", "tls"},
	TLS:    true,
	Target: xmppTarget,
	Finish: xmppFinish,
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseFeatures},
	Classes: []ClassInfo{
		{Class: ClassXMPPStreamError, Short: "XMPP stream error", SelfDescribed: true},
	},
	Probe: probeXMPP,
	Notes: xmppNotes,
}

// xmppNotes are the words `msgprobe list` shows for an XMPP endpoint.
func xmppNotes(ep *Endpoint) []string {
	o := optionsOf[XMPPOptions](ep, "xmpp")
	var notes []string
	if o.Domain != "" && o.Domain != strings.ToLower(ep.Host) {
		notes = append(notes, "domain "+o.Domain)
	}
	if o.SRV {
		service := "_xmpp-client._tcp"
		if ep.Kind == KindXMPPS {
			service = "_xmpps-client._tcp"
		}
		notes = append(notes, "address from SRV "+service)
	}
	if o.StartTLSOptional && ep.Kind == KindXMPP {
		notes = append(notes, "STARTTLS optional")
	}
	return notes
}
