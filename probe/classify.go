package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// describedError gives an error a short, stable message while keeping the
// original in the chain, so errors.As and errors.Is still see it. Stable
// matters: failures are grouped by message, and the raw texts carry
// ephemeral ports and clock readings that differ on every attempt.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// classify turns the error of a step that failed in phase into a Failure.
// The class comes from the error's type wherever one exists; a phase's
// default class covers what has no type (malformed HTTP responses, for one).
// ctx is the attempt's context: an error that its end caused is a timeout
// when the attempt's own deadline passed, and canceled when the run was
// stopped, whatever error the interrupted step happened to return.
func classify(ctx context.Context, err error, phase Phase) *Failure {
	if err == nil {
		return nil
	}
	if f := (*Failure)(nil); errors.As(err, &f) {
		return f
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if errors.Is(err, context.Canceled) || isTimeout(err) || ctx.Err() != nil || deadlinePassed(ctx) {
		return ended(ctx, err, phase)
	}
	return &Failure{Class: classOf(err, phase), Phase: phase, Err: &describedError{messageOf(err), err}}
}

// deadlinePassed reports whether ctx's deadline is behind us. Whatever went
// wrong then is the deadline's doing, even when the error does not say so:
// net/http reports a response head cut short by the deadline as malformed.
func deadlinePassed(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ended classifies an error that came from time running out or from
// cancellation.
func ended(ctx context.Context, err error, phase Phase) *Failure {
	// The connection's deadline is ctx's, and the connection may notice it
	// a moment before ctx does; wait for ctx so that its cause is known.
	if ctx.Err() == nil && deadlinePassed(ctx) {
		wait := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-wait.C:
		}
		wait.Stop()
	}
	if ctx.Err() != nil {
		// The runner cancels with a cause of its own (its --deadline, an
		// interrupt); only the attempt's own deadline makes a timeout.
		if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
			msg := "canceled"
			if !errors.Is(cause, context.Canceled) {
				msg += ": " + cause.Error()
			}
			return &Failure{Class: ClassCanceled, Phase: phase, Err: &describedError{msg, err}}
		}
	} else if errors.Is(err, context.Canceled) {
		return &Failure{Class: ClassCanceled, Phase: phase, Err: &describedError{"canceled", err}}
	}
	class := ClassTimeout
	if phase == PhaseDNS {
		class = ClassDNSTimeout
	}
	return &Failure{Class: class, Phase: phase, Err: &describedError{"timed out", err}}
}

// classOf finds the class of an error that is not about time running out.
func classOf(err error, phase Phase) Class {
	if ru := (*resolverUnreachableError)(nil); errors.As(err, &ru) {
		// No query got through. Where the cause is this machine's network,
		// the class says so, as it would for a connect; a resolver host that
		// refuses the query is reached, and only DNS is broken.
		switch {
		case isLocalResource(ru.errno):
			return ClassLocalResource
		}
		switch ru.errno {
		case syscall.ENETUNREACH, syscall.ENETDOWN:
			return ClassNetworkUnreachable
		case syscall.EHOSTUNREACH, syscall.EHOSTDOWN:
			return ClassHostUnreachable
		}
		return ClassDNSError
	}
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return ClassDNSNXDomain
		case dnsErr.IsTimeout:
			return ClassDNSTimeout
		}
		return ClassDNSError
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && isLocalResource(errno):
		// This machine ran out of descriptors, buffers or ports: nothing
		// was learnt about the endpoint, and saying "unreachable" would
		// blame the network for a local limit.
		return ClassLocalResource
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return ClassConnectionReset
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENETDOWN):
		return ClassNetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ClassHostUnreachable
	}
	if invalid := (x509.CertificateInvalidError{}); errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired {
			// x509 says "expired" for both ends of the validity period.
			if invalid.Cert != nil && time.Now().Before(invalid.Cert.NotBefore) {
				return ClassTLSCertNotYetValid
			}
			return ClassTLSCertExpired
		}
		return ClassTLSCertUntrusted
	}
	if errors.As(err, new(x509.HostnameError)) {
		return ClassTLSCertHostname
	}
	if isUntrusted(err) {
		return ClassTLSCertUntrusted
	}
	if isTLSError(err) {
		return ClassTLSHandshake
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ClassEOF
	}
	switch phase {
	case PhaseDNS:
		return ClassDNSError
	case PhaseConnect:
		// What remains at connect is the local system refusing to send
		// (no route or address, a local firewall): the network is at fault.
		return ClassNetworkUnreachable
	case PhaseTLS:
		return ClassTLSHandshake
	}
	// After the handshake the peer spoke, but not the protocol we expect.
	return ClassProtocol
}

// isLocalResource reports whether errno says this machine ran out of
// descriptors (per process or system-wide), socket buffers or ephemeral
// ports.
func isLocalResource(errno syscall.Errno) bool {
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.EADDRNOTAVAIL:
		return true
	}
	return false
}

func isUntrusted(err error) bool {
	if errors.As(err, new(x509.UnknownAuthorityError)) {
		return true
	}
	if errors.As(err, new(x509.SystemRootsError)) {
		return true
	}
	if errors.As(err, new(x509.ConstraintViolationError)) {
		return true
	}
	if errors.As(err, new(x509.UnhandledCriticalExtension)) {
		return true
	}
	if errors.As(err, new(x509.InsecureAlgorithmError)) {
		return true
	}
	// A verification failure of a kind this list does not know yet.
	return errors.As(err, new(*tls.CertificateVerificationError))
}

func isTLSError(err error) bool {
	if errors.As(err, new(tls.AlertError)) {
		return true
	}
	if errors.As(err, new(tls.RecordHeaderError)) {
		return true
	}
	return errors.As(err, new(*tls.ECHRejectionError))
}

// messageOf writes err for a person: without the addresses and ports the
// standard library wraps around the cause, without x509's time of check.
func messageOf(err error) string {
	if ru := (*resolverUnreachableError)(nil); errors.As(err, &ru) {
		if classOf(err, PhaseDNS) == ClassLocalResource {
			// The resolver was never asked: the lack is this machine's.
			return "no query sent: " + ru.errno.Error()
		}
		return ru.Error()
	}
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) {
		return "lookup " + dnsErr.Name + ": " + dnsErr.Err
	}
	if errno := syscall.Errno(0); errors.As(err, &errno) {
		return errno.Error()
	}
	if invalid := (x509.CertificateInvalidError{}); errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		// x509's own message has the time of the check, different on
		// every attempt.
		if c := invalid.Cert; time.Now().Before(c.NotBefore) {
			return "certificate is not valid before " + c.NotBefore.UTC().Format(time.DateOnly)
		}
		return "certificate expired on " + invalid.Cert.NotAfter.UTC().Format(time.DateOnly)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed by the peer"
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	if cve := (*tls.CertificateVerificationError)(nil); errors.As(err, &cve) && cve.Err != nil {
		err = cve.Err
	}
	if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Err != nil {
		msg := oe.Err.Error()
		if oe.Op == "remote error" {
			msg = "remote error: " + msg
		}
		return trimPrefixes(msg)
	}
	return trimPrefixes(err.Error())
}

func trimPrefixes(msg string) string {
	for _, p := range []string{"x509: ", "net/http: ", "tls: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
