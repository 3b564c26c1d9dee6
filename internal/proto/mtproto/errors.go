package mtproto

import "fmt"

// A ProtocolError is an answer that is not a well-formed resPQ to our
// request: a frame that breaks its transport's rules, a message that is not
// resPQ, or a resPQ that echoes another nonce. The peer spoke, but not as a
// Telegram DC does.
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string { return e.Msg }

func protocolErrorf(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// An UntrustedError is a well-formed resPQ whose key fingerprints include
// none of the expected ones: something answered in MTProto, but it does not
// hold Telegram's server key.
type UntrustedError struct {
	Got  []uint64 // the fingerprints the server listed
	Want []uint64 // the fingerprints any one of which would have done
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("MTProto resPQ lists none of the expected key fingerprints (it lists %s)", fingerprintList(e.Got))
}

func fingerprintList(fps []uint64) string {
	if len(fps) == 0 {
		return "none"
	}
	const shown = 4
	s := ""
	for i, fp := range fps {
		if i == shown {
			return s + fmt.Sprintf(" and %d more", len(fps)-shown)
		}
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%#016x", fp)
	}
	return s
}

// A TransportError is the negative code a DC sends in place of an answer
// (core.telegram.org/mtproto/mtproto-transports, "Transport errors").
type TransportError struct {
	Code int32
}

// The transport error codes the documentation lists.
const (
	CodeNotFound  int32 = -404 // no such auth key, or a malformed request
	CodeFlood     int32 = -429 // too many connections from this address
	CodeInvalidDC int32 = -444 // the DC id given to the proxy or DC is not valid
)

func (e *TransportError) Error() string {
	return fmt.Sprintf("Telegram transport error %d (%s)", e.Code, e.Meaning())
}

// Meaning is the documented meaning of the code, in a few words.
func (e *TransportError) Meaning() string {
	switch e.Code {
	case CodeNotFound:
		return "auth key not found, or a malformed request"
	case CodeFlood:
		return "too many connections from this address"
	case CodeInvalidDC:
		return "invalid DC id"
	}
	return "undocumented code"
}
