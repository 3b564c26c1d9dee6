package whatsapp

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of handshake failure a caller tells apart with errors.Is.
var (
	// ErrMalformed: the server answered, but not with a well-formed
	// WhatsApp ServerHello (bad framing or protobuf, a field of the wrong
	// size, a ciphertext that does not open).
	ErrMalformed = errors.New("whatsapp: malformed handshake")
	// ErrUntrusted: the server answered WhatsApp's handshake, but its key
	// is not vouched for by the root key: a signature that does not verify,
	// serials that do not chain, a leaf key that is not the static key, a
	// certificate outside its validity.
	ErrUntrusted = errors.New("whatsapp: untrusted certificate")
)

// Error is a handshake failure of one of the kinds above, with a message
// that reads as a reason on its own ("WhatsApp ServerHello ...").
type Error struct {
	Kind error // ErrMalformed or ErrUntrusted
	Msg  string
}

func (e *Error) Error() string        { return e.Msg }
func (e *Error) Is(target error) bool { return target == e.Kind }

func malformed(format string, args ...any) error {
	return &Error{Kind: ErrMalformed, Msg: fmt.Sprintf(format, args...)}
}

func untrusted(format string, args ...any) error {
	return &Error{Kind: ErrUntrusted, Msg: fmt.Sprintf(format, args...)}
}

// ValidityError is a certificate used outside its validity window. It is
// ErrUntrusted, and says which certificate and the dates.
type ValidityError struct {
	Cert      string // "leaf" or "intermediate"
	NotBefore time.Time
	NotAfter  time.Time
	Now       time.Time
}

func (e *ValidityError) Error() string {
	const day = time.DateOnly
	if e.Now.Before(e.NotBefore) {
		return fmt.Sprintf("WhatsApp %s certificate not valid before %s (valid %s to %s)",
			e.Cert, e.NotBefore.UTC().Format(day), e.NotBefore.UTC().Format(day), e.NotAfter.UTC().Format(day))
	}
	return fmt.Sprintf("WhatsApp %s certificate expired on %s (valid %s to %s)",
		e.Cert, e.NotAfter.UTC().Format(day), e.NotBefore.UTC().Format(day), e.NotAfter.UTC().Format(day))
}

func (e *ValidityError) Is(target error) bool { return target == ErrUntrusted }
