package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// timeoutError is a net.Error that says it timed out, as a resolver or a
// library of its own might return.
type timeoutError struct{}

func (timeoutError) Error() string   { return "slow" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp",
		Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 51234},
		Addr:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443},
		Err:    os.NewSyscallError(op, errno)}
}

func verifyError(err error) error {
	return &url.Error{Op: "Get", URL: "https://b.test/", Err: &tls.CertificateVerificationError{Err: err}}
}

func TestClassify(t *testing.T) {
	leaf := &x509.Certificate{
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, tc := range []struct {
		name  string
		err   error
		phase Phase
		class Class
		msg   string // when not empty, the failure's message
	}{
		{"nxdomain", &net.DNSError{Err: "no such host", Name: "nx.test", IsNotFound: true}, PhaseDNS, ClassDNSNXDomain, "lookup nx.test: no such host"},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "a.test", IsTimeout: true}, PhaseDNS, ClassDNSTimeout, "timed out"},
		{"dns servfail", &net.DNSError{Err: "server misbehaving", Name: "a.test"}, PhaseDNS, ClassDNSError, "lookup a.test: server misbehaving"},
		{"dns other", errors.New("no answer from the stub"), PhaseDNS, ClassDNSError, ""},
		{"refused", opError("connect", syscall.ECONNREFUSED), PhaseConnect, ClassConnectionRefused, "connection refused"},
		{"reset", opError("read", syscall.ECONNRESET), PhaseTTFB, ClassConnectionReset, "connection reset by peer"},
		{"out of descriptors", opError("dial", syscall.EMFILE), PhaseConnect, ClassLocalResource, "too many open files"},
		{"out of ports", opError("dial", syscall.EADDRNOTAVAIL), PhaseConnect, ClassLocalResource, "cannot assign requested address"},
		{"aborted", opError("read", syscall.ECONNABORTED), PhaseTLS, ClassConnectionReset, ""},
		{"broken pipe", opError("write", syscall.EPIPE), PhaseRequest, ClassConnectionReset, ""},
		{"network unreachable", opError("connect", syscall.ENETUNREACH), PhaseConnect, ClassNetworkUnreachable, ""},
		{"host unreachable", opError("connect", syscall.EHOSTUNREACH), PhaseConnect, ClassHostUnreachable, ""},
		{"connect other", opError("connect", syscall.EACCES), PhaseConnect, ClassNetworkUnreachable, ""},
		{"context deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), PhaseConnect, ClassTimeout, "timed out"},
		{"context deadline in dns", context.DeadlineExceeded, PhaseDNS, ClassDNSTimeout, ""},
		{"conn deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, PhaseTTFB, ClassTimeout, ""},
		{"net.Error timeout", timeoutError{}, PhaseTLS, ClassTimeout, ""},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), PhaseTTFB, ClassCanceled, "canceled"},
		{"expired", verifyError(x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}), PhaseTLS, ClassTLSCertExpired,
			"certificate expired on 2026-02-01"},
		{"not yet valid", verifyError(x509.CertificateInvalidError{Cert: &x509.Certificate{NotBefore: time.Now().Add(48 * time.Hour), NotAfter: time.Now().Add(96 * time.Hour)}, Reason: x509.Expired}),
			PhaseTLS, ClassTLSCertNotYetValid, "certificate is not valid before " + time.Now().Add(48*time.Hour).UTC().Format(time.DateOnly)},
		{"not allowed to sign", verifyError(x509.CertificateInvalidError{Cert: leaf, Reason: x509.NotAuthorizedToSign}), PhaseTLS, ClassTLSCertUntrusted, ""},
		{"hostname", verifyError(x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.test"}}, Host: "b.test"}), PhaseTLS, ClassTLSCertHostname,
			"certificate is valid for a.test, not b.test"},
		{"unknown authority", verifyError(x509.UnknownAuthorityError{}), PhaseTLS, ClassTLSCertUntrusted, ""},
		{"verification, other", &tls.CertificateVerificationError{Err: errors.New("custom check")}, PhaseTLS, ClassTLSCertUntrusted, ""},
		{"alert", tls.AlertError(40), PhaseTLS, ClassTLSHandshake, ""},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, PhaseTLS, ClassTLSHandshake,
			"first record does not look like a TLS handshake"},
		{"tls other", errors.New("tls: handshake failure"), PhaseTLS, ClassTLSHandshake, ""},
		{"eof", fmt.Errorf("read: %w", io.EOF), PhaseTTFB, ClassEOF, "connection closed by the peer"},
		{"unexpected eof", io.ErrUnexpectedEOF, PhaseBody, ClassEOF, ""},
		{"eof at tls", io.EOF, PhaseTLS, ClassEOF, ""},
		{"malformed", &url.Error{Op: "Get", URL: "http://a.test/", Err: errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "SSH-2.0"`)},
			PhaseHTTP, ClassProtocol, `HTTP/1.x transport connection broken: malformed HTTP response "SSH-2.0"`},
		{"resolver: no network", &resolverUnreachableError{lookup: &net.DNSError{Err: "dial udp 10.255.255.53:53: connect: network is unreachable", Name: "a.test"},
			errno: syscall.ENETUNREACH}, PhaseDNS, ClassNetworkUnreachable, "resolver unreachable: network is unreachable"},
		{"resolver: no route", &resolverUnreachableError{lookup: &net.DNSError{Err: "x", Name: "a.test"}, errno: syscall.EHOSTUNREACH},
			PhaseDNS, ClassHostUnreachable, "resolver unreachable: no route to host"},
		{"resolver: out of descriptors", &resolverUnreachableError{lookup: &net.DNSError{Err: "x", Name: "a.test"}, errno: syscall.EMFILE},
			PhaseDNS, ClassLocalResource, "no query sent: too many open files"},
		{"resolver: nothing listens", &resolverUnreachableError{lookup: &net.DNSError{Err: "x", Name: "a.test"}, errno: syscall.ECONNREFUSED},
			PhaseDNS, ClassDNSError, "resolver unreachable: connection refused"},
		{"already classified", fmt.Errorf("wrapped: %w", &Failure{Class: ClassHTTPBody, Phase: PhaseBody, Err: errors.New("x")}),
			PhaseTTFB, ClassHTTPBody, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := classify(context.Background(), tc.err, tc.phase)
			wantPhase := tc.phase
			if tc.name == "already classified" {
				wantPhase = PhaseBody
			}
			if f.Class != tc.class || f.Phase != wantPhase {
				t.Fatalf("classify(%v) = %s at %s, want %s at %s", tc.err, f.Class, f.Phase, tc.class, wantPhase)
			}
			if tc.msg != "" && f.Error() != tc.msg {
				t.Errorf("message %q, want %q", f.Error(), tc.msg)
			}
			if !errors.Is(f, tc.err) && tc.name != "already classified" {
				t.Error("the failure does not unwrap to the error")
			}
		})
	}
	if classify(context.Background(), nil, PhaseTLS) != nil {
		t.Error("classify(nil) is not nil")
	}
}

func TestClassifyByContext(t *testing.T) {
	malformed := errors.New(`malformed HTTP response "HTTP/"`)
	refused := opError("connect", syscall.ECONNREFUSED)
	stop := errors.New("run deadline reached")

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	runEnded, cancelRun := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), stop)
	defer cancelRun()
	attempt, cancelAttempt := context.WithTimeout(runEnded, time.Hour)
	defer cancelAttempt()
	canceled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	interrupted, interrupt := context.WithCancelCause(context.Background())
	interrupt(stop)

	for _, tc := range []struct {
		name  string
		ctx   context.Context
		err   error
		phase Phase
		class Class
	}{
		// A response head cut short by the deadline reads as malformed.
		{"deadline passed", expired, malformed, PhaseHTTP, ClassTimeout},
		{"deadline passed in dns", expired, errors.New("lookup failed"), PhaseDNS, ClassDNSTimeout},
		{"run deadline", attempt, os.ErrDeadlineExceeded, PhaseTLS, ClassCanceled},
		{"run deadline, any error", attempt, malformed, PhaseHTTP, ClassCanceled},
		{"canceled", canceled, refused, PhaseConnect, ClassCanceled},
		{"interrupted", interrupted, context.Canceled, PhaseConnect, ClassCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := classify(tc.ctx, tc.err, tc.phase)
			if f.Class != tc.class || f.Phase != tc.phase {
				t.Fatalf("classify = %s at %s (%v), want %s at %s", f.Class, f.Phase, f, tc.class, tc.phase)
			}
			if cause := context.Cause(tc.ctx); tc.class == ClassCanceled && cause == stop && !strings.Contains(f.Error(), stop.Error()) {
				t.Errorf("message %q does not name the cause", f.Error())
			}
		})
	}
}
