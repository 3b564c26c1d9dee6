package probe

import (
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// BenchmarkXMPPAttempt is one xmpp:// attempt against the in-process
// scripted server: two streams, STARTTLS and a TLS handshake, with the
// server's side in the same process (see the note in bench_test.go).
func BenchmarkXMPPAttempt(b *testing.B) {
	ca := fixture.NewCA(b)
	addr := fixture.XMPPServer(b, ca, "example.test", fixture.XMPPGood)
	benchAttempts(b, xmppEndpoint(b, xmppTarget_("xmpp", addr, "example.test", "")+caBlock(ca)))
}

// BenchmarkXMPPSAttempt is one xmpps:// attempt: direct TLS, one stream.
func BenchmarkXMPPSAttempt(b *testing.B) {
	ca := fixture.NewCA(b)
	addr := fixture.XMPPServer(b, ca, "example.test", fixture.XMPPDirectTLS)
	benchAttempts(b, xmppEndpoint(b, xmppTarget_("xmpps", addr, "example.test", "")+caBlock(ca)))
}
