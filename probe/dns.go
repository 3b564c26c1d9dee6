package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// The classes of a dns:// attempt whose answer came but did not satisfy
// it. A silent server is dns_timeout, an answer that is not DNS or not for
// the query is protocol, as for any protocol.
const (
	ClassDNSServfail Class = "dns_servfail"  // the server answered SERVFAIL
	ClassDNSRefused  Class = "dns_refused"   // the server answered REFUSED
	ClassDNSRcode    Class = "dns_rcode"     // another rcode than expected (NXDOMAIN, ...)
	ClassDNSNoAnswer Class = "dns_no_answer" // fewer records of the type than expect.min_answers
	ClassDNSAnswer   Class = "dns_answer"    // the records miss expect.answer_contains, or hold what they must not
)

// PhaseAnswer is judging a DNS answer's content: its rcode (other than
// SERVFAIL and REFUSED, which say the server could not or would not
// answer), its records. Getting an answer at all is the dns phase, as a
// lookup is, so that a resolver that fails every query still reads as
// local_dns in the diagnosis, and a service's own flag saying "down"
// (Signal's 127.0.0.2) does not.
const PhaseAnswer Phase = "answer"

const (
	// dnsUDPSize is the UDP payload size a query offers in its EDNS(0)
	// record: the 1232 bytes of DNS Flag Day 2020, which Go's own resolver
	// offers too. A larger answer comes truncated, and is asked again over
	// TCP.
	dnsUDPSize = 1232
	// dnsUDPRead bounds the read of a UDP answer: more than offered, so that
	// a server that ignores the offer by a little is still understood.
	dnsUDPRead = 4096
	// defaultDNSPort is the port of a server named without one.
	defaultDNSPort = "53"
	// resolvConf is where the system names its resolvers.
	resolvConf = "/etc/resolv.conf"
)

// DNSTarget is what a dns:// endpoint asks, and of whom.
type DNSTarget struct {
	// Server is the server's host, empty for the configured resolver
	// (resolver: or --resolver) or else the system's first name server.
	Server, Port string
	Question     dnsQuestion
	Expect       DNSExpect

	minAnswersSet bool // expect.min_answers was given
}

// parseDNSTarget reads a dns:// URL in RFC 4501's form,
// dns://[server[:port]]/name[?type=T[;class=C]], keys in either case and
// separated by ";" (the RFC's) or "&"; the type is A unless it says
// otherwise. (RFC 4501's dns:name, without "//", is not taken: every
// msgprobe target is SCHEME://.) The error is one line for the
// loader; the hint, when not empty, says what to write instead.
func parseDNSTarget(u *url.URL) (t *DNSTarget, hint string, err error) {
	t = &DNSTarget{Question: dnsQuestion{Type: dns.TypeA, Class: dns.ClassINET}}
	if u.User != nil || u.Fragment != "" {
		return nil, "write dns://SERVER:PORT/NAME?type=T", errors.New("dns target has user info or a fragment")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if u.Host != "" {
		t.Server, t.Port = u.Hostname(), u.Port()
		if t.Port == "" {
			t.Port = defaultDNSPort
		}
		if n, err := strconv.Atoi(t.Port); err != nil || n < 1 || n > 65535 {
			return nil, "", fmt.Errorf("dns target has an invalid port %q", t.Port)
		}
	}
	if name == "" {
		return nil, "write dns:///NAME?type=T for the resolver, dns://SERVER/NAME?type=T for a server of your choice",
			errors.New("dns target names no name to query")
	}
	if strings.Contains(name, "/") {
		return nil, "the path of a dns target is one name", fmt.Errorf("dns target name %q holds a /", name)
	}
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return nil, "", fmt.Errorf("dns target name %q is not a domain name", name)
	}
	t.Question.Name = fqdn
	for _, kv := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == ';' || r == '&' }) {
		key, value, _ := strings.Cut(kv, "=")
		value, _ = url.QueryUnescape(value)
		switch strings.ToLower(key) {
		case "type":
			typ, ok := dnsCode(value, dns.StringToType, "TYPE")
			if !ok {
				return nil, "types are named as in zone files: A, AAAA, NS, MX, TXT, SRV, CNAME, SOA, ...",
					fmt.Errorf("dns target has an unknown type %q", value)
			}
			t.Question.Type = typ
		case "class":
			class, ok := dnsCode(value, dns.StringToClass, "CLASS")
			if !ok {
				return nil, "classes are IN, CH, HS, or CLASSnnn", fmt.Errorf("dns target has an unknown class %q", value)
			}
			t.Question.Class = class
		default:
			return nil, "a dns target's query says ?type=T, and optionally ;class=C",
				fmt.Errorf("dns target has an unknown query key %q", key)
		}
	}
	return t, "", nil
}

// dnsCode reads a type or class by its name, its number, or the RFC 3597
// form ("TYPE65", "CLASS3").
func dnsCode(s string, names map[string]uint16, prefix string) (uint16, bool) {
	up := strings.ToUpper(s)
	if v, ok := names[up]; ok {
		return v, true
	}
	up = strings.TrimPrefix(up, prefix)
	n, err := strconv.ParseUint(up, 10, 16)
	return uint16(n), err == nil && up != ""
}

// probeDNS sends the endpoint's one query, over UDP and, when the answer
// comes truncated, again over TCP, and judges the answer. The whole
// exchange is the dns phase.
func probeDNS(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()
	t := dnsTarget(ep)
	if t == nil {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseDNS, Err: errors.New("dns endpoint without a query")}
		return a
	}

	q := new(dns.Msg)
	q.Id = dns.Id()
	q.RecursionDesired = true
	q.Question = []dns.Question{{Name: t.Question.Name, Qtype: t.Question.Type, Qclass: t.Question.Class}}
	q.SetEdns0(dnsUDPSize, false)
	query, err := q.Pack()
	if err != nil {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseDNS, Err: fmt.Errorf("DNS query for %s does not pack: %v", t.Question, err)}
		return a
	}
	defer func() { a.Timings.DNS = time.Since(start) }()

	dial, f := dnsDialer(ctx, t, opt, &a.Timings)
	if f != nil {
		a.Failure = f
		return a
	}
	raw, remote, f := dial.exchangeUDP(ctx, query)
	a.RemoteAddr = remote
	if f != nil {
		a.Failure = f
		return a
	}
	transport := "udp"
	ans, f := judgeDNSAnswer(raw, q.Id, t.Question, &t.Expect)
	if ans != nil && ans.Truncated {
		transport = "tcp"
		raw, remote, f = dial.exchangeTCP(ctx, query)
		a.RemoteAddr = remote
		if f != nil {
			a.Failure = f
			return a
		}
		ans, f = judgeDNSAnswer(raw, q.Id, t.Question, &t.Expect)
	}
	a.Failure = f
	if ans != nil {
		a.SetDetail("transport", transport)
		a.SetDetail("rcode", ans.Rcode)
		if len(ans.Records) > 0 {
			a.SetDetail("answers", ans.Records)
		}
		a.SetDetail("size", ans.Size)
	}
	return a
}

// dnsDial reaches the attempt's DNS server.
type dnsDial struct {
	// dial opens a connection over transport, "udp" or "tcp".
	dial func(ctx context.Context, transport string) (net.Conn, error)
	// resolver is set when the server is the resolver of every lookup (the
	// target names none): a cause of this machine's (no route, nothing
	// listening on the resolver's port) then reads as it does for a
	// lookup, "resolver unreachable: ...".
	resolver bool
}

// failure classifies an error of the exchange.
func (d *dnsDial) failure(ctx context.Context, err error) *Failure {
	if errno := syscall.Errno(0); d.resolver && errors.As(err, &errno) && slices.Contains(localErrnos, errno) {
		err = &resolverUnreachableError{lookup: &net.DNSError{Err: errno.Error()}, errno: errno}
	}
	return classify(ctx, err, PhaseDNS)
}

// dnsDialer says how an attempt reaches its server: the one the target
// names, looked up first when it is a name; else the configured resolver,
// through the dial of the resolver every lookup uses (it sends whatever it
// is given to the resolver: or --resolver server); else the first name
// server of /etc/resolv.conf, or 127.0.0.1:53 without one, as Go's own
// resolver does.
func dnsDialer(ctx context.Context, t *DNSTarget, opt *Options, tm *Timings) (*dnsDial, *Failure) {
	if t.Server != "" {
		network := opt.network()
		addrs, f := resolve(ctx, t.Server, network, opt, tm)
		if f != nil {
			return nil, f
		}
		family := strings.TrimPrefix(network, "tcp")
		return &dnsDial{dial: func(ctx context.Context, transport string) (net.Conn, error) {
			if transport == "tcp" {
				return connect(ctx, network, addrs, t.Port)
			}
			var d net.Dialer
			return d.DialContext(ctx, transport+family, net.JoinHostPort(addrs[0].String(), t.Port))
		}}, nil
	}
	addr := systemNameServer()
	if r := opt.resolver(); r.Dial != nil {
		return &dnsDial{resolver: true, dial: func(ctx context.Context, transport string) (net.Conn, error) {
			return r.Dial(ctx, transport, addr)
		}}, nil
	}
	return &dnsDial{resolver: true, dial: func(ctx context.Context, transport string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, transport, addr)
	}}, nil
}

// systemNameServer is the first name server of /etc/resolv.conf as
// host:port, read on each attempt as Go's resolver rereads it, so that a
// long --watch follows the machine from network to network.
func systemNameServer() string {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil || len(cc.Servers) == 0 {
		return net.JoinHostPort("127.0.0.1", defaultDNSPort)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port)
}

// exchangeUDP sends query in one datagram and reads one back, of at most
// dnsUDPRead bytes.
func (d *dnsDial) exchangeUDP(ctx context.Context, query []byte) (raw []byte, remote string, f *Failure) {
	c, err := d.dial(ctx, "udp")
	if err != nil {
		return nil, "", d.failure(ctx, err)
	}
	conn := bind(ctx, c)
	defer conn.Close()
	remote = conn.RemoteAddr().String()
	if _, err := conn.Write(query); err != nil {
		return nil, remote, d.failure(ctx, err)
	}
	buf := make([]byte, dnsUDPRead)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, remote, d.failure(ctx, err)
	}
	return buf[:n], remote, nil
}

// exchangeTCP sends query over a fresh TCP connection, framed by its
// two-byte length, and reads the answer so framed: at most 65535 bytes
// whatever the server sends after them.
func (d *dnsDial) exchangeTCP(ctx context.Context, query []byte) (raw []byte, remote string, f *Failure) {
	c, err := d.dial(ctx, "tcp")
	if err != nil {
		return nil, "", d.failure(ctx, err)
	}
	conn := bind(ctx, c)
	defer conn.Close()
	remote = conn.RemoteAddr().String()
	framed := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(query)), uint16(len(query)))
	if _, err := conn.Write(append(framed, query...)); err != nil {
		return nil, remote, d.failure(ctx, err)
	}
	var prefix [2]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		return nil, remote, d.failure(ctx, err)
	}
	size := binary.BigEndian.Uint16(prefix[:])
	if size == 0 {
		return nil, remote, &Failure{Class: ClassProtocol, Phase: PhaseDNS, Err: errors.New("DNS server answered an empty message over TCP")}
	}
	raw = make([]byte, size)
	if _, err := io.ReadFull(conn, raw); err != nil {
		return nil, remote, d.failure(ctx, err)
	}
	return raw, remote, nil
}
