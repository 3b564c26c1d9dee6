package probe

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"
)

// KindDNS is a dns:// endpoint: one DNS query, judged by its answer.
const KindDNS Kind = "dns"

var dnsProtocol = Protocol{
	Kind:   KindDNS,
	Proves: "a DNS server answers the query as expect says",
	Blocks: []string{"expect"},
	Expect: []string{"rcode", "min_answers", "answer_contains", "answer_not_contains", "outage_answers"},
	Target: dnsTargetOf,
	Finish: finishDNS,
	Hints: map[string]string{
		"tls":  "dns:// queries in the clear; use tls://SERVER:853 to check a DNS-over-TLS server's handshake",
		"http": "dns:// sends no HTTP request",
	},
	Phases: []Phase{PhaseDNS, PhaseAnswer},
	Classes: []ClassInfo{
		{Class: ClassDNSServfail, Short: "SERVFAIL", SelfDescribed: true},
		{Class: ClassDNSRefused, Short: "REFUSED", SelfDescribed: true},
		{Class: ClassDNSRcode, Short: "DNS error code", SelfDescribed: true},
		{Class: ClassDNSNoAnswer, Short: "no DNS records", SelfDescribed: true},
		{Class: ClassDNSAnswer, Short: "unexpected DNS answer", SelfDescribed: true},
	},
	Probe: probeDNS,
	Notes: dnsNotes,
}

// dnsBlock is where a dns:// endpoint keeps its query and expectations in
// ep.Options: decoded from the target and the expect keys, not a block of
// its own in the file.
const dnsBlock = "dns"

// dnsTarget returns the endpoint's query, nil for an endpoint of another
// kind (an expect key of dns:// on one is only checked; the expect block
// reports that it does not apply).
func dnsTarget(ep *Endpoint) *DNSTarget {
	t, _ := ep.Options[dnsBlock].(*DNSTarget)
	return t
}

// dnsTargetOf is the protocol's Target: the query of the URL, the server
// as the endpoint's host and port (empty for the resolver), and the
// default expectations.
func dnsTargetOf(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	t, hint, err := parseDNSTarget(u)
	if err != nil {
		l.errorf(n, hint, "%v", err)
		return false
	}
	t.Expect = defaultDNSExpect
	ep.Host, ep.Port = t.Server, t.Port
	setOptions(ep, dnsBlock, t)
	return true
}

// finishDNS lets an expected rcode other than NOERROR do without records,
// unless min_answers asks for some.
func finishDNS(_ *loader, ep *Endpoint) {
	if t := dnsTarget(ep); t != nil && !t.minAnswersSet && t.Expect.Rcode != dns.RcodeSuccess {
		t.Expect.MinAnswers = 0
	}
}

var expectRcode = ExpectKey{Name: "rcode", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	s, good := l.str(q.v, "expect.rcode")
	if !good {
		return
	}
	rc, ok := dns.StringToRcode[strings.ToUpper(strings.TrimSpace(s))]
	if !ok {
		l.errorf(resolveAlias(q.v), "rcodes are named as dig shows them: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...",
			"expect.rcode %q is not a DNS rcode", s)
		return
	}
	if t := dnsTarget(ep); t != nil {
		t.Expect.Rcode = rc
	}
}}

var expectMinAnswers = ExpectKey{Name: "min_answers", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	n, good := l.integer(q.v, "expect.min_answers")
	if !good {
		return
	}
	if n < 0 || n > 65535 {
		l.errorf(resolveAlias(q.v), "", "expect.min_answers must be between 0 and 65535, got %d", n)
		return
	}
	if t := dnsTarget(ep); t != nil {
		t.Expect.MinAnswers, t.minAnswersSet = n, true
	}
}}

// answerText reads expect.answer_contains and its kin: text to find in an
// answer record's data.
func answerText(l *loader, n *yaml.Node, field string) (string, bool) {
	s, good := l.str(n, field)
	if good && s == "" {
		l.errorf(resolveAlias(n), "leave "+strings.TrimPrefix(field, "expect.")+" out to accept any records", "%s is empty", field)
		return "", false
	}
	return s, good
}

var expectAnswerContains = ExpectKey{Name: "answer_contains", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	if s, good := answerText(l, q.v, "expect.answer_contains"); good {
		if t := dnsTarget(ep); t != nil {
			t.Expect.Contains = s
		}
	}
}}

var expectAnswerNotContains = ExpectKey{Name: "answer_not_contains", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	if s, good := answerText(l, q.v, "expect.answer_not_contains"); good {
		if t := dnsTarget(ep); t != nil {
			t.Expect.NotContains = s
		}
	}
}}

// expectOutageAnswers reads expect.outage_answers, a mapping from answer
// text to the reason a service gives by that answer:
//
//	outage_answers: {127.0.0.2: Signal reports an outage}
var expectOutageAnswers = ExpectKey{Name: "outage_answers", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	n := resolveAlias(q.v)
	if n.Kind != yaml.MappingNode {
		l.errorf(n, `write a mapping of answer: reason, like {127.0.0.2: "Signal reports an outage"}`,
			"expect.outage_answers must be a mapping, got %s", nodeDesc(n))
		return
	}
	var outages []DNSOutage
	for i := 0; i+1 < len(n.Content); i += 2 {
		answer, okA := answerText(l, n.Content[i], "expect.outage_answers key")
		reason, okR := l.str(n.Content[i+1], "expect.outage_answers reason")
		if okR && strings.TrimSpace(reason) == "" {
			l.errorf(resolveAlias(n.Content[i+1]), "the reason is what the report says when this answer comes", "expect.outage_answers reason is empty")
			okR = false
		}
		if okR && strings.ContainsAny(reason, "\r\n") {
			l.errorf(resolveAlias(n.Content[i+1]), "", "expect.outage_answers reason must be one line")
			okR = false
		}
		if okA && okR {
			outages = append(outages, DNSOutage{Answer: answer, Reason: strings.TrimSpace(reason)})
		}
	}
	if t := dnsTarget(ep); t != nil {
		t.Expect.Outages = outages
	}
}}

// dnsNotes are the few words `msgprobe list` shows: what is asked of whom.
func dnsNotes(ep *Endpoint) []string {
	t := dnsTarget(ep)
	if t == nil {
		return nil
	}
	server := "the resolver"
	if t.Server != "" {
		server = joinHostPort(t.Server, t.Port)
	}
	notes := []string{fmt.Sprintf("%s query to %s", dnsTypeName(t.Question.Type), server)}
	if e := t.Expect; e.Rcode != dns.RcodeSuccess {
		notes = append(notes, "expects "+dnsRcodeName(e.Rcode))
	}
	switch n := len(t.Expect.Outages); n {
	case 0:
	case 1:
		notes = append(notes, "outage answer "+t.Expect.Outages[0].Answer)
	default:
		notes = append(notes, fmt.Sprintf("%d outage answers", n))
	}
	return notes
}
