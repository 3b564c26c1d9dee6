package probe

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// dnsQuestion is what a dns:// endpoint asks: one name, type and class.
type dnsQuestion struct {
	Name  string // fully qualified, with the trailing dot
	Type  uint16
	Class uint16
}

// String is the question as a reason line names it: "uptime.signal.org A".
func (q dnsQuestion) String() string {
	s := strings.TrimSuffix(q.Name, ".")
	if s == "" {
		s = "."
	}
	s += " " + dnsTypeName(q.Type)
	if q.Class != dns.ClassINET {
		s += " " + dnsClassName(q.Class)
	}
	return s
}

func dnsTypeName(t uint16) string {
	if name, ok := dns.TypeToString[t]; ok {
		return name
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func dnsClassName(c uint16) string {
	if name, ok := dns.ClassToString[c]; ok {
		return name
	}
	return "CLASS" + strconv.Itoa(int(c))
}

func dnsRcodeName(rc int) string {
	if name, ok := dns.RcodeToString[rc]; ok {
		return name
	}
	return "RCODE" + strconv.Itoa(rc)
}

// DNSExpect is what a dns:// answer must show.
type DNSExpect struct {
	Rcode       int    // the answer's rcode; NOERROR unless expect.rcode says otherwise
	MinAnswers  int    // at least this many records of the asked type; 1 by default
	Contains    string // some answer record's data holds this text, case aside
	NotContains string // no answer record's data holds this text, case aside
	// Outages are answers by which a service reports itself down, such as
	// Signal's 127.0.0.2 for uptime.signal.org: a record holding Answer
	// fails the attempt with Reason, the service's own verdict, as the
	// message.
	Outages []DNSOutage
}

// DNSOutage is one entry of expect.outage_answers.
type DNSOutage struct {
	Answer string
	Reason string
}

// defaultDNSExpect is what a dns:// endpoint expects when its expect block
// says nothing: an answer without error that holds a record.
var defaultDNSExpect = DNSExpect{Rcode: dns.RcodeSuccess, MinAnswers: 1}

// dnsAnswer is what an attempt learnt from an answer that belongs to its
// query, for the report.
type dnsAnswer struct {
	Rcode     string   `json:"rcode"`
	Records   []string `json:"answers,omitempty"` // the answer section's data, in presentation form
	Truncated bool     `json:"truncated,omitempty"`
	Size      int      `json:"size"` // bytes of the answer on the wire
}

// maxDNSRecordsKept bounds the records an answer keeps for the report.
const maxDNSRecordsKept = 16

// judgeDNSAnswer judges raw, a message off the wire, as the answer to the
// query with id and question q. It is a pure function of its arguments.
// The answer is nil when raw is no answer to this query at all (garbage,
// another id, another question): the failure then is a protocol one. When
// the answer is truncated the caller asks again over TCP, whatever the
// failure says about the part it holds.
func judgeDNSAnswer(raw []byte, id uint16, q dnsQuestion, exp *DNSExpect) (*dnsAnswer, *Failure) {
	protocol := func(format string, args ...any) (*dnsAnswer, *Failure) {
		return nil, &Failure{Class: ClassProtocol, Phase: PhaseDNS, Err: fmt.Errorf(format, args...)}
	}
	if len(raw) > dns.MaxMsgSize {
		return protocol("DNS answer larger than %d bytes", dns.MaxMsgSize)
	}
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		return protocol("DNS server answered something that is not DNS (%s)", strings.ReplaceAll(err.Error(), "dns: ", ""))
	}
	switch {
	case !m.Response:
		return protocol("DNS server sent a query, not an answer")
	case m.Id != id:
		return protocol("DNS answer's id is not the query's")
	case len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Name) ||
		m.Question[0].Qtype != q.Type || m.Question[0].Qclass != q.Class:
		return protocol("DNS answer is not for %s", q)
	}

	ans := &dnsAnswer{Rcode: dnsRcodeName(m.Rcode), Truncated: m.Truncated, Size: len(raw)}
	matching := 0
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == q.Type || q.Type == dns.TypeANY {
			matching++
		}
		if len(ans.Records) < maxDNSRecordsKept {
			ans.Records = append(ans.Records, rdata(rr))
		}
	}
	fail := func(class Class, format string, args ...any) (*dnsAnswer, *Failure) {
		phase := PhaseAnswer
		if class == ClassDNSServfail || class == ClassDNSRefused {
			phase = PhaseDNS
		}
		return ans, &Failure{Class: class, Phase: phase, Err: fmt.Errorf(format, args...)}
	}
	if m.Rcode != exp.Rcode {
		class := ClassDNSRcode
		switch m.Rcode {
		case dns.RcodeServerFailure:
			class = ClassDNSServfail
		case dns.RcodeRefused:
			class = ClassDNSRefused
		}
		if exp.Rcode != dns.RcodeSuccess {
			return fail(class, "DNS server answered %s for %s, expected %s", ans.Rcode, q, dnsRcodeName(exp.Rcode))
		}
		return fail(class, "DNS server answered %s for %s", ans.Rcode, q)
	}
	if matching < exp.MinAnswers {
		if matching == 0 {
			return fail(ClassDNSNoAnswer, "DNS answer for %s has no %s record", q, dnsTypeName(q.Type))
		}
		return fail(ClassDNSNoAnswer, "DNS answer for %s has %d %s records, expected at least %d",
			q, matching, dnsTypeName(q.Type), exp.MinAnswers)
	}
	for _, o := range exp.Outages {
		if r, ok := recordHolding(m.Answer, o.Answer); ok {
			return fail(ClassDNSAnswer, "%s (DNS answer %s)", o.Reason, truncate(r, maxShown))
		}
	}
	if exp.NotContains != "" {
		if r, ok := recordHolding(m.Answer, exp.NotContains); ok {
			return fail(ClassDNSAnswer, "DNS answer for %s is %s, want none with %q", q, truncate(r, maxShown), exp.NotContains)
		}
	}
	if exp.Contains != "" {
		if _, ok := recordHolding(m.Answer, exp.Contains); !ok {
			return fail(ClassDNSAnswer, "DNS answer for %s is %s, want one with %q", q, shownRecords(ans.Records), exp.Contains)
		}
	}
	return ans, nil
}

// rdata is a record's data in presentation form, without its owner name,
// TTL, class and type: "127.0.0.1", "10 mx.example.net.".
func rdata(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// recordHolding is the data of the first answer record that holds text,
// ignoring case as names are compared.
func recordHolding(rrs []dns.RR, text string) (string, bool) {
	want := strings.ToLower(text)
	for _, rr := range rrs {
		if d := rdata(rr); strings.Contains(strings.ToLower(d), want) {
			return d, true
		}
	}
	return "", false
}

// shownRecords is the records as a failure message quotes them: short, on
// one line.
func shownRecords(records []string) string {
	if len(records) == 0 {
		return "empty"
	}
	return truncate(strings.Join(records, ", "), maxShown)
}
