// Package mtproto speaks the first step of Telegram's MTProto key exchange:
// an unencrypted req_pq_multi over one of the TCP transports (abridged,
// intermediate, full), plain or obfuscated, and the checks of the resPQ that
// answers it. That is the smallest exchange a Telegram data centre answers
// without an account, and its answer names the server's RSA key by
// fingerprint. Nothing here dials: the caller writes Exchange.Request and
// hands the answer's reader to Exchange.ReadAnswer. The server half (framing
// a resPQ, opening an obfuscated stream) is here too, for test servers and
// fuzzing.
//
// Byte layouts: core.telegram.org/mtproto/auth_key and samples-auth_key,
// core.telegram.org/mtproto/mtproto-transports; tdlib
// td/generate/scheme/mtproto_api.tl and td/mtproto/TcpTransport.cpp.
package mtproto

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// TL constructors, as numbers (they travel little-endian).
const (
	ConstructorReqPQMulti uint32 = 0xbe7e8ef1 // req_pq_multi nonce:int128 = ResPQ
	ConstructorResPQ      uint32 = 0x05162463 // resPQ nonce server_nonce pq:string fingerprints:Vector<long>
	ConstructorVector     uint32 = 0x1cb5c415
)

// ProductionFingerprint is the fingerprint of Telegram's production RSA key
// (tdesktop mtproto_dc_options.cpp kPublicRSAKeys; gotd
// mtproto/_data/public_keys.pem): the low 64 bits of SHA-1 of the key's TL
// serialisation. It is above 2^63: fingerprints are unsigned.
const ProductionFingerprint uint64 = 0xd09d1d85de64fd85

// ProductionFingerprints are the fingerprints a resPQ from a production DC
// must include one of.
func ProductionFingerprints() []uint64 { return []uint64{ProductionFingerprint} }

// NonceLen is the length of the client's and the server's nonces.
const NonceLen = 16

// plainHeaderLen is auth_key_id(8) message_id(8) message_data_length(4).
const plainHeaderLen = 20

// ReqPQMultiLen is the length of the unencrypted req_pq_multi message.
const ReqPQMultiLen = plainHeaderLen + 4 + NonceLen

// MessageID is a client message id for a message sent at t: the Unix time in
// the upper 32 bits, the fraction of the second below, divisible by 4 as
// client message ids must be (core.telegram.org/mtproto/description).
func MessageID(t time.Time) uint64 {
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint64(t.Unix())<<32 | frac&^3
}

// ReqPQMulti is the unencrypted req_pq_multi message: auth_key_id 0, the
// message id, the body length (20), the constructor and the nonce. It is the
// payload that a transport frames.
func ReqPQMulti(msgID uint64, nonce [NonceLen]byte) []byte {
	b := make([]byte, 0, ReqPQMultiLen)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint64(b, msgID)
	b = binary.LittleEndian.AppendUint32(b, 4+NonceLen)
	b = binary.LittleEndian.AppendUint32(b, ConstructorReqPQMulti)
	return append(b, nonce[:]...)
}

// ParseReqPQMulti reads a req_pq_multi message, as a server does, and
// returns its nonce.
func ParseReqPQMulti(payload []byte) ([NonceLen]byte, error) {
	var nonce [NonceLen]byte
	body, err := plainBody(payload)
	if err != nil {
		return nonce, err
	}
	if len(body) != 4+NonceLen {
		return nonce, protocolErrorf("MTProto request body is %d bytes, req_pq_multi is %d", len(body), 4+NonceLen)
	}
	if c := binary.LittleEndian.Uint32(body); c != ConstructorReqPQMulti {
		return nonce, protocolErrorf("MTProto request is constructor %#08x, not req_pq_multi", c)
	}
	copy(nonce[:], body[4:])
	return nonce, nil
}

// ResPQ is the server's answer to req_pq_multi.
type ResPQ struct {
	MessageID    uint64
	Nonce        [NonceLen]byte
	ServerNonce  [NonceLen]byte
	PQ           []byte   // big-endian product of two primes, for the proof of work we never do
	Fingerprints []uint64 // the RSA keys the server offers
}

// PQHex is pq in hex, for reports.
func (r *ResPQ) PQHex() string { return hex.EncodeToString(r.PQ) }

// EncodeResPQ is the unencrypted message carrying r, as a DC sends it.
func EncodeResPQ(r *ResPQ) []byte {
	body := binary.LittleEndian.AppendUint32(nil, ConstructorResPQ)
	body = append(body, r.Nonce[:]...)
	body = append(body, r.ServerNonce[:]...)
	body = appendTLBytes(body, r.PQ)
	body = binary.LittleEndian.AppendUint32(body, ConstructorVector)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(r.Fingerprints)))
	for _, fp := range r.Fingerprints {
		body = binary.LittleEndian.AppendUint64(body, fp)
	}
	return PlainMessage(r.MessageID, body)
}

// PlainMessage wraps body in the unencrypted message header.
func PlainMessage(msgID uint64, body []byte) []byte {
	b := make([]byte, 0, plainHeaderLen+len(body))
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint64(b, msgID)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// plainBody checks an unencrypted message's header and returns its body.
func plainBody(payload []byte) ([]byte, error) {
	if len(payload) < plainHeaderLen {
		return nil, protocolErrorf("MTProto message is %d bytes, shorter than its %d-byte header", len(payload), plainHeaderLen)
	}
	if id := binary.LittleEndian.Uint64(payload); id != 0 {
		return nil, protocolErrorf("MTProto answer is encrypted (auth_key_id %#016x), not the plain-text resPQ", id)
	}
	n := binary.LittleEndian.Uint32(payload[16:])
	if body := payload[plainHeaderLen:]; uint64(n) != uint64(len(body)) {
		return nil, protocolErrorf("MTProto message says its body is %d bytes, the frame holds %d", n, len(body))
	}
	return payload[plainHeaderLen:], nil
}

// ParseResPQ reads the unencrypted resPQ message in payload (one transport
// frame's content) and checks that it answers the request that carried
// nonce: plain text (auth_key_id 0), a server message id, the resPQ
// constructor, our nonce echoed, a non-empty pq, and a well-formed vector of
// fingerprints filling the rest of the message exactly. It allocates nothing
// the payload's size does not bound.
func ParseResPQ(payload []byte, nonce [NonceLen]byte) (*ResPQ, error) {
	body, err := plainBody(payload)
	if err != nil {
		return nil, err
	}
	r := &ResPQ{MessageID: binary.LittleEndian.Uint64(payload[8:])}
	// Server message ids are 1 or 3 modulo 4 (core.telegram.org/mtproto/description):
	// an even one is a client's, as a server that reflects our request would send.
	if r.MessageID&1 == 0 {
		return nil, protocolErrorf("MTProto answer has a client's message id (%#016x), not a server's", r.MessageID)
	}
	if len(body) < 4 {
		return nil, protocolErrorf("MTProto answer body is %d bytes, too short for a constructor", len(body))
	}
	if c := binary.LittleEndian.Uint32(body); c != ConstructorResPQ {
		return nil, protocolErrorf("MTProto answer is constructor %#08x, not resPQ", c)
	}
	body = body[4:]
	if len(body) < 2*NonceLen {
		return nil, protocolErrorf("MTProto resPQ is cut short before its nonces")
	}
	copy(r.Nonce[:], body)
	copy(r.ServerNonce[:], body[NonceLen:])
	body = body[2*NonceLen:]
	if r.Nonce != nonce {
		return nil, protocolErrorf("MTProto resPQ echoes another nonce than ours")
	}
	pq, rest, err := readTLBytes(body)
	if err != nil {
		return nil, protocolErrorf("MTProto resPQ pq: %v", err)
	}
	if len(pq) == 0 {
		return nil, protocolErrorf("MTProto resPQ has an empty pq")
	}
	r.PQ = pq
	body = rest
	if len(body) < 8 {
		return nil, protocolErrorf("MTProto resPQ is cut short before its fingerprints")
	}
	if c := binary.LittleEndian.Uint32(body); c != ConstructorVector {
		return nil, protocolErrorf("MTProto resPQ fingerprints are constructor %#08x, not a vector", c)
	}
	count := binary.LittleEndian.Uint32(body[4:])
	body = body[8:]
	// Compared before anything is allocated, so a count of 2^32-1 costs
	// nothing.
	if uint64(count)*8 != uint64(len(body)) {
		return nil, protocolErrorf("MTProto resPQ says it lists %d fingerprints, %d bytes follow", count, len(body))
	}
	r.Fingerprints = make([]uint64, count)
	for i := range r.Fingerprints {
		r.Fingerprints[i] = binary.LittleEndian.Uint64(body[8*i:])
	}
	return r, nil
}

// CheckFingerprints reports an UntrustedError unless r lists at least one of
// want.
func CheckFingerprints(r *ResPQ, want []uint64) error {
	for _, got := range r.Fingerprints {
		for _, w := range want {
			if got == w {
				return nil
			}
		}
	}
	return &UntrustedError{Got: r.Fingerprints, Want: want}
}

// readTLBytes reads a TL string (bytes): a length byte below 254 and the
// bytes, or 254, a 3-byte length and the bytes; then padding to a multiple of
// four. The result aliases b.
func readTLBytes(b []byte) (data, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("missing")
	}
	n, head := int(b[0]), 1
	switch {
	case b[0] == 255:
		return nil, nil, fmt.Errorf("length byte 255 is not a TL string")
	case b[0] == 254:
		if len(b) < 4 {
			return nil, nil, fmt.Errorf("cut short in its length")
		}
		n, head = int(b[1])|int(b[2])<<8|int(b[3])<<16, 4
	}
	total := (head + n + 3) &^ 3
	if total > len(b) {
		return nil, nil, fmt.Errorf("says %d bytes, %d follow", n, len(b)-head)
	}
	return b[head : head+n], b[total:], nil
}

func appendTLBytes(b, data []byte) []byte {
	head := 1
	if len(data) < 254 {
		b = append(b, byte(len(data)))
	} else {
		head = 4
		b = append(b, 254, byte(len(data)), byte(len(data)>>8), byte(len(data)>>16))
	}
	b = append(b, data...)
	for pad := (head + len(data)) % 4; pad != 0 && pad < 4; pad++ {
		b = append(b, 0)
	}
	return b
}
