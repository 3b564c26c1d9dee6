package xmpp

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SCRAM is the client side of one SASL SCRAM exchange (RFC 5802, and
// RFC 7677 for SHA-256) without channel binding ("n,,"): the password never
// crosses the wire, and the server proves it knows the account's key too.
type SCRAM struct {
	mech     string
	h        func() hash.Hash
	user     string
	password string
	nonce    string

	clientFirstBare string
	serverSignature []byte
}

// MaxSCRAMIterations bounds the PBKDF2 work a server may ask for: deployed
// servers use 4096 to 100000, and a larger count only burns the prober's
// CPU.
const MaxSCRAMIterations = 200000

// SCRAMMechanisms are the mechanisms NewSCRAM knows, strongest first.
var SCRAMMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}

// NewSCRAM starts an exchange with mechanism mech for user (the JID's
// local part) and password; nonce is the client's random nonce, printable
// ASCII without ','.
func NewSCRAM(mech, user, password, nonce string) (*SCRAM, error) {
	s := &SCRAM{mech: mech, user: user, password: password, nonce: nonce}
	switch mech {
	case "SCRAM-SHA-1":
		s.h = sha1.New
	case "SCRAM-SHA-256":
		s.h = sha256.New
	default:
		return nil, fmt.Errorf("xmpp: unknown SCRAM mechanism %q", mech)
	}
	if nonce == "" || strings.ContainsAny(nonce, ",") || !printable(nonce) {
		return nil, errors.New("xmpp: the SCRAM nonce must be printable ASCII without ','")
	}
	s.clientFirstBare = "n=" + saslName(user) + ",r=" + nonce
	return s, nil
}

// Mechanism is the mechanism's name, as <auth mechanism=…> carries it.
func (s *SCRAM) Mechanism() string { return s.mech }

// ClientFirst is the initial response: no channel binding, no authzid.
func (s *SCRAM) ClientFirst() []byte { return []byte("n,," + s.clientFirstBare) }

// ClientFinal reads the server-first-message and computes the
// client-final-message with the proof of the password.
func (s *SCRAM) ClientFinal(serverFirst []byte) ([]byte, error) {
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return nil, err
	}
	if _, ok := attrs['m']; ok {
		return nil, scramErrorf("XMPP server's SCRAM challenge asks for an extension (m=) msgprobe does not know")
	}
	nonce, salt64, iter64 := attrs['r'], attrs['s'], attrs['i']
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return nil, scramErrorf("XMPP server's SCRAM nonce does not extend the client's")
	}
	if !printable(nonce) {
		return nil, scramErrorf("XMPP server's SCRAM nonce is not printable")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, scramErrorf("XMPP server's SCRAM salt is not base64")
	}
	iter, err := strconv.Atoi(iter64)
	if err != nil || iter < 1 {
		return nil, scramErrorf("XMPP server's SCRAM iteration count %q is not a positive number", excerpt([]byte(iter64)))
	}
	if iter > MaxSCRAMIterations {
		return nil, scramErrorf("XMPP server asks for %d SCRAM iterations, more than %d", iter, MaxSCRAMIterations)
	}
	salted, err := pbkdf2.Key(s.h, s.password, salt, iter, s.h().Size())
	if err != nil {
		return nil, scramErrorf("SCRAM key derivation failed: %v", err)
	}
	clientKey := s.hmac(salted, "Client Key")
	storedKey := s.sum(clientKey)
	withoutProof := "c=biws,r=" + nonce // biws: base64("n,,")
	authMessage := s.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	clientSig := s.hmac(storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ clientSig[i]
	}
	serverKey := s.hmac(salted, "Server Key")
	s.serverSignature = s.hmac(serverKey, authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks the server-final-message: the server's signature proves it
// holds the account's keys, so that a server that accepts any password is
// not taken for a working login.
func (s *SCRAM) Verify(serverFinal []byte) error {
	if s.serverSignature == nil {
		return errors.New("xmpp: SCRAM Verify before ClientFinal")
	}
	attrs, err := scramAttrs(serverFinal)
	if err != nil {
		return err
	}
	if e, ok := attrs['e']; ok {
		return scramErrorf("XMPP server ended SCRAM with error %q", excerpt([]byte(e)))
	}
	v, err := base64.StdEncoding.DecodeString(attrs['v'])
	if err != nil || subtle.ConstantTimeCompare(v, s.serverSignature) != 1 {
		return scramErrorf("XMPP server's SCRAM signature is wrong: it does not hold this account's key")
	}
	return nil
}

func (s *SCRAM) hmac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *SCRAM) sum(b []byte) []byte {
	h := s.h()
	h.Write(b)
	return h.Sum(nil)
}

// SCRAMError is a server's SCRAM message that is malformed or fails a
// check; Msg reads as one line naming XMPP.
type SCRAMError struct{ Msg string }

func (e *SCRAMError) Error() string { return e.Msg }

func scramErrorf(format string, args ...any) *SCRAMError {
	return &SCRAMError{Msg: fmt.Sprintf(format, args...)}
}

// scramAttrs splits a SCRAM message into its one-letter attributes
// (RFC 5802 §5.1). A repeated attribute is an error.
func scramAttrs(msg []byte) (map[byte]string, error) {
	if len(msg) == 0 || len(msg) > 4096 {
		return nil, scramErrorf("XMPP server's SCRAM message is empty or longer than 4 KiB")
	}
	attrs := map[byte]string{}
	for _, part := range strings.Split(string(msg), ",") {
		if len(part) < 2 || part[1] != '=' || !(part[0] >= 'a' && part[0] <= 'z' || part[0] >= 'A' && part[0] <= 'Z') {
			return nil, scramErrorf("XMPP server's SCRAM message is malformed")
		}
		if _, dup := attrs[part[0]]; dup {
			return nil, scramErrorf("XMPP server's SCRAM message repeats %q", part[:1])
		}
		attrs[part[0]] = part[2:]
	}
	return attrs, nil
}

// saslName escapes a user name for SCRAM's n= attribute (RFC 5802 §5.1).
// SASLprep is not applied: msgprobe's accounts are plain ASCII, and
// normalising would change nothing for them.
func saslName(s string) string {
	s = strings.ReplaceAll(s, "=", "=3D")
	return strings.ReplaceAll(s, ",", "=2C")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// PlainResponse is the SASL PLAIN initial response (RFC 4616) for user and
// password, without an authorization identity. Only ever sent inside TLS.
func PlainResponse(user, password string) []byte {
	return []byte("\x00" + user + "\x00" + password)
}

// SASLAnswer is the server's answer to an <auth/> or <response/>.
type SASLAnswer struct {
	// Kind is "challenge", "success" or "failure".
	Kind string
	// Data is the decoded payload of a challenge or success.
	Data []byte
	// Condition and Text describe a failure: "not-authorized", ...
	Condition string
	Text      string
}

// ParseSASL reads a SASL answer element (RFC 6120 §6.4).
func ParseSASL(e *Element) (SASLAnswer, error) {
	if e.Name.Space != NSSASL {
		return SASLAnswer{}, protoErrorf("XMPP server sent <%s> where a SASL answer was due", describeName(e.Name))
	}
	a := SASLAnswer{Kind: e.Name.Local}
	switch e.Name.Local {
	case "challenge", "success":
		text := strings.TrimSpace(e.Text)
		if text == "" || text == "=" {
			return a, nil
		}
		data, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return SASLAnswer{}, protoErrorf("XMPP server's SASL %s is not base64", e.Name.Local)
		}
		a.Data = data
	case "failure":
		for _, c := range e.Children {
			if c.Name.Space != NSSASL {
				continue
			}
			if c.Name.Local == "text" {
				a.Text = serverText(c.Text)
			} else if a.Condition == "" {
				a.Condition = clean(c.Name.Local)
			}
		}
		if a.Condition == "" {
			a.Condition = "not-authorized"
		}
	default:
		return SASLAnswer{}, protoErrorf("XMPP server sent <%s> where a SASL answer was due", describeName(e.Name))
	}
	return a, nil
}
