package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func tlsEndpoint(t *testing.T, addr string, cfg *tls.Config) *Endpoint {
	t.Helper()
	ep := targetEndpoint(t, "tls://"+addr)
	ep.TLSConfig = cfg
	return ep
}

func TestTLSHandshake(t *testing.T) {
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	ep := tlsEndpoint(t, fixture.TLSServer(t, cert), &tls.Config{RootCAs: ca.Pool()})
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.Timings.Connect <= 0 || a.Timings.TLS <= 0 {
		t.Errorf("connect = %v, tls = %v, want both > 0", a.Timings.Connect, a.Timings.TLS)
	}
	if a.TLS == nil {
		t.Fatal("no TLS information")
	}
	want := TLSInfo{
		Version:  tls.VersionTLS13,
		NotAfter: cert.Leaf.NotAfter,
		Subject:  "127.0.0.1",
		Issuer:   ca.Cert().Subject.CommonName,
		Verified: true,
	}
	if *a.TLS != want {
		t.Errorf("TLS info %+v, want %+v", *a.TLS, want)
	}
}

func TestTLSServerName(t *testing.T) {
	ca := fixture.NewCA(t)
	addr := fixture.TLSServer(t, ca.Valid("chat.test"))
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "chat.test"}
	wantOK(t, runProbe(t, tlsEndpoint(t, addr, cfg), nil, 10*time.Second))
}

func TestTLSCertificateFailures(t *testing.T) {
	ca, other := fixture.NewCA(t), fixture.NewCA(t)
	for _, tc := range []struct {
		name  string
		cert  tls.Certificate
		cfg   *tls.Config
		class Class
	}{
		{"expired", ca.Expired("127.0.0.1"), &tls.Config{RootCAs: ca.Pool()}, ClassTLSCertExpired},
		{"not yet valid", ca.Issue([]string{"127.0.0.1"}, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour)), &tls.Config{RootCAs: ca.Pool()}, ClassTLSCertNotYetValid},
		{"wrong host", ca.Valid("elsewhere.test"), &tls.Config{RootCAs: ca.Pool()}, ClassTLSCertHostname},
		{"other CA", other.Valid("127.0.0.1"), &tls.Config{RootCAs: ca.Pool()}, ClassTLSCertUntrusted},
		// Without a configuration the system's roots apply, which do
		// not know the fixture's CA.
		{"system roots", ca.Valid("127.0.0.1"), nil, ClassTLSCertUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := tlsEndpoint(t, fixture.TLSServer(t, tc.cert), tc.cfg)
			a := runProbe(t, ep, nil, 10*time.Second)
			wantFailure(t, a, tc.class, PhaseTLS)
			if a.Timings.Connect <= 0 {
				t.Errorf("connect = %v, want > 0", a.Timings.Connect)
			}
			if a.TLS != nil {
				t.Error("a failed handshake has TLS information")
			}
		})
	}
}

func TestTLSUntrustedAccepted(t *testing.T) {
	other := fixture.NewCA(t)
	addr := fixture.TLSServer(t, other.Valid("127.0.0.1"))

	t.Run("with its CA", func(t *testing.T) {
		a := runProbe(t, tlsEndpoint(t, addr, &tls.Config{RootCAs: other.Pool()}), nil, 10*time.Second)
		wantOK(t, a)
		if !a.TLS.Verified {
			t.Error("verified = false with verification on")
		}
	})
	t.Run("without verification", func(t *testing.T) {
		cfg := &tls.Config{InsecureSkipVerify: true}
		a := runProbe(t, tlsEndpoint(t, addr, cfg), nil, 10*time.Second)
		wantOK(t, a)
		if a.TLS.Verified {
			t.Error("verified = true with verification skipped")
		}
		if cfg.ServerName != "" {
			t.Error("the prober changed the endpoint's shared configuration")
		}
	})
}

func TestTLSSilentServerTimesOut(t *testing.T) {
	ca := fixture.NewCA(t)
	ep := tlsEndpoint(t, fixture.SilentTLS(t), &tls.Config{RootCAs: ca.Pool()})
	a := runProbe(t, ep, nil, 300*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseTLS)
	if a.Timings.Connect <= 0 {
		t.Errorf("connect = %v, want > 0", a.Timings.Connect)
	}
}

func TestTLSPeerHangsUp(t *testing.T) {
	a := runProbe(t, tlsEndpoint(t, fixture.HangUp(t), nil), nil, 10*time.Second)
	if a.Failure == nil || a.Failure.Phase != PhaseTLS ||
		(a.Failure.Class != ClassEOF && a.Failure.Class != ClassConnectionReset) {
		t.Fatalf("failure %+v, want eof or connection_reset at tls", a.Failure)
	}
}

func TestTLSNotTLS(t *testing.T) {
	// A plain-text server answering the ClientHello.
	addr := fixture.DripServer(t, []byte("SSH-2.0-OpenSSH_9.6\r\n"), 0)
	wantFailure(t, runProbe(t, tlsEndpoint(t, addr, nil), nil, 10*time.Second), ClassTLSHandshake, PhaseTLS)
}

func TestTLSCanceledDuringHandshake(t *testing.T) {
	// The run ends while the handshake waits on a silent server: the
	// attempt is canceled, not timed out, even though a deadline ended it.
	run, cancel := context.WithTimeoutCause(t.Context(), 200*time.Millisecond, errors.New("run deadline reached"))
	defer cancel()
	ctx, cancelAttempt := context.WithTimeout(run, 10*time.Second)
	defer cancelAttempt()
	a := runProbeCtx(t, ctx, tlsEndpoint(t, fixture.SilentTLS(t), nil), nil)
	wantFailure(t, a, ClassCanceled, PhaseTLS)
}
