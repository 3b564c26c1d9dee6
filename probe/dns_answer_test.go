package probe

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

var signalQuestion = dnsQuestion{Name: "uptime.signal.org.", Type: dns.TypeA, Class: dns.ClassINET}

// answerTo packs an answer to q with id and the records given.
func answerTo(t testing.TB, id uint16, q dnsQuestion, rcode int, records ...string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.Id, m.Response, m.Rcode = id, true, rcode
	m.Question = []dns.Question{{Name: q.Name, Qtype: q.Type, Qclass: q.Class}}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJudgeDNSAnswer(t *testing.T) {
	signal := &DNSExpect{MinAnswers: 1, Contains: "127.0.0.1", Outages: []DNSOutage{{"127.0.0.2", "Signal reports an outage"}}}
	if ans, f := judgeDNSAnswer(answerTo(t, 7, signalQuestion, 0, "uptime.signal.org. 60 IN A 127.0.0.1"), 7, signalQuestion, signal); f != nil ||
		ans.Rcode != "NOERROR" || len(ans.Records) != 1 || ans.Records[0] != "127.0.0.1" {
		t.Errorf("up: %+v %v", ans, f)
	}
	// Names compare without case, as DNS does; a CNAME in front of the
	// records is followed but not counted.
	q := dnsQuestion{Name: "WWW.Chat.test.", Type: dns.TypeA, Class: dns.ClassINET}
	raw := answerTo(t, 1, dnsQuestion{Name: "www.chat.test.", Type: dns.TypeA, Class: dns.ClassINET}, 0,
		"www.chat.test. CNAME edge.cdn.test.", "edge.cdn.test. A 192.0.2.1")
	if _, f := judgeDNSAnswer(raw, 1, q, &DNSExpect{MinAnswers: 1, Contains: "CDN.test"}); f != nil {
		t.Errorf("cname: %v", f)
	}
	if _, f := judgeDNSAnswer(raw, 1, q, &DNSExpect{MinAnswers: 2}); f == nil || f.Error() != "DNS answer for WWW.Chat.test A has 1 A records, expected at least 2" {
		t.Errorf("cname counted: %v", f)
	}

	query := new(dns.Msg)
	query.SetQuestion(signalQuestion.Name, dns.TypeA)
	query.Id = 9
	packedQuery, _ := query.Pack()
	for _, tc := range []struct {
		name string
		raw  []byte
		msg  string
	}{
		{"a query", packedQuery, "DNS server sent a query, not an answer"},
		{"empty", nil, "DNS server answered something that is not DNS (bad header id: overflow unpacking uint16)"},
		{"another type", answerTo(t, 9, dnsQuestion{Name: signalQuestion.Name, Type: dns.TypeAAAA, Class: dns.ClassINET}, 0), "DNS answer is not for uptime.signal.org A"},
	} {
		ans, f := judgeDNSAnswer(tc.raw, 9, signalQuestion, signal)
		if ans != nil || f == nil || f.Class != ClassProtocol || f.Phase != PhaseDNS || f.Error() != tc.msg {
			t.Errorf("%s: %+v %v, want protocol %q", tc.name, ans, f, tc.msg)
		}
	}

	// A truncated answer says so, whatever else is wrong with what it holds.
	m := new(dns.Msg)
	_ = m.Unpack(answerTo(t, 3, signalQuestion, 0))
	m.Truncated = true
	tc, _ := m.Pack()
	if ans, f := judgeDNSAnswer(tc, 3, signalQuestion, signal); ans == nil || !ans.Truncated || f == nil || f.Class != ClassDNSNoAnswer {
		t.Errorf("truncated: %+v %v", ans, f)
	}

	// A long answer is cut short in the message.
	var many []string
	for range 30 {
		many = append(many, "uptime.signal.org. A 10.10.10.10")
	}
	_, f := judgeDNSAnswer(answerTo(t, 4, signalQuestion, 0, many...), 4, signalQuestion, signal)
	if f == nil || len(f.Error()) > 200 || !strings.HasSuffix(f.Error(), `…, want one with "127.0.0.1"`) {
		t.Errorf("long answer: %v", f)
	}
}

// FuzzDNSAnswer feeds any bytes through miekg/dns's parser and the judge
// of dns:// answers: nothing panics, every failure has a class, a phase
// and a short one-line message, and an answer that passed really holds
// what was expected.
func FuzzDNSAnswer(f *testing.F) {
	f.Add(answerTo(f, 7, signalQuestion, 0, "uptime.signal.org. 60 IN A 127.0.0.1"))
	f.Add(answerTo(f, 7, signalQuestion, 0, "uptime.signal.org. 60 IN A 127.0.0.2"))
	f.Add(answerTo(f, 7, signalQuestion, dns.RcodeServerFailure))
	f.Add(answerTo(f, 7, signalQuestion, 0, "uptime.signal.org. CNAME x.signal.org.", `x.signal.org. TXT "127.0.0.1"`))
	f.Add([]byte("this is not a DNS message"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, exp := range []*DNSExpect{
			{MinAnswers: 1, Contains: "127.0.0.1", Outages: []DNSOutage{{"127.0.0.2", "Signal reports an outage"}}},
			{MinAnswers: 0, NotContains: "x"},
			{Rcode: dns.RcodeNameError},
		} {
			ans, fail := judgeDNSAnswer(raw, 7, signalQuestion, exp)
			if fail != nil {
				msg := fail.Error()
				if fail.Class == "" || fail.Phase == "" || strings.ContainsAny(msg, "\r\n") || len(msg) > 400 {
					t.Fatalf("failure %s at %s: %q", fail.Class, fail.Phase, msg)
				}
			}
			if fail == nil && ans == nil {
				t.Fatal("neither an answer nor a failure")
			}
			if fail == nil && exp.Contains != "" {
				held := false
				for _, r := range ans.Records {
					held = held || strings.Contains(strings.ToLower(r), exp.Contains)
				}
				if !held && len(ans.Records) < maxDNSRecordsKept {
					t.Fatalf("passed without %q: %q", exp.Contains, ans.Records)
				}
			}
		}
	})
}
