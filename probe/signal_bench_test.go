package probe

import (
	"crypto/tls"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// One signal:// chat attempt against the loopback Signal-like server: dns
// (none, an IP literal), connect, TLS, the WebSocket upgrade, the
// keepalive and its answer, and the close; compare with
// BenchmarkAttemptTLS, the handshake alone.
func BenchmarkSignalAttempt(b *testing.B) {
	ca := fixture.NewCA(b)
	srv := fixture.StartSignal(b, ca.Valid("127.0.0.1"), fixture.SignalHealthy)
	ep := benchEndpoint(b, "signal://"+srv.Addr+"/v1/websocket/")
	ep.TLSConfig = &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	benchAttempts(b, ep)
}
