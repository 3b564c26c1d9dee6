package mtproto

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// Transport is one of MTProto's TCP framings
// (core.telegram.org/mtproto/mtproto-transports).
type Transport string

// The transports this package speaks.
const (
	// Abridged: EF once, then each frame is its length/4 in one byte (or
	// 7F and three bytes) and the payload.
	Abridged Transport = "abridged"
	// Intermediate: EEEEEEEE once, then each frame is a 4-byte
	// little-endian length and the payload.
	Intermediate Transport = "intermediate"
	// Full: no tag; each frame is length (including itself), sequence
	// number, payload and CRC-32 of the rest.
	Full Transport = "full"
)

// Transports are the transport names in the order documentation lists them.
var Transports = []Transport{Abridged, Intermediate, Full}

// ParseTransport returns the transport named s.
func ParseTransport(s string) (Transport, bool) {
	for _, t := range Transports {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// tag is what a plain connection sends once, before its first frame.
func (t Transport) tag() []byte {
	switch t {
	case Abridged:
		return []byte{0xef}
	case Intermediate:
		return []byte{0xee, 0xee, 0xee, 0xee}
	}
	return nil
}

// obfuscatedTag is the protocol id an obfuscated connection carries in the
// encrypted bytes 56-60 of its header. Full framing has none: obfuscation
// carries abridged or intermediate only (tdlib TcpTransport.cpp).
func (t Transport) obfuscatedTag() ([4]byte, bool) {
	switch t {
	case Abridged:
		return [4]byte{0xef, 0xef, 0xef, 0xef}, true
	case Intermediate:
		return [4]byte{0xee, 0xee, 0xee, 0xee}, true
	}
	return [4]byte{}, false
}

// CanObfuscate reports whether t may be carried by the obfuscated transport.
func (t Transport) CanObfuscate() bool {
	_, ok := t.obfuscatedTag()
	return ok
}

// DetectTransport tells, from the first four bytes a client sent, which
// transport it speaks, as a DC does: EF is abridged, EEEEEEEE intermediate,
// a second word of zeros the full transport's first sequence number, and
// anything else the 64-byte obfuscation header (whose rules forbid exactly
// those openings). It needs 8 bytes; obfuscated is reported as "".
func DetectTransport(first [8]byte) (t Transport, obfuscated bool) {
	switch {
	case first[0] == 0xef:
		return Abridged, false
	case first[0] == 0xee && first[1] == 0xee && first[2] == 0xee && first[3] == 0xee:
		return Intermediate, false
	case binary.LittleEndian.Uint32(first[4:]) == 0:
		return Full, false
	}
	return "", true
}

// DefaultMaxFrame bounds a frame's payload when reading. A resPQ is about a
// hundred bytes; anything near this cap is not one.
const DefaultMaxFrame = 64 << 10

// Framer frames payloads for one direction of a connection; the full
// transport numbers its frames.
type Framer struct {
	Transport Transport
	seq       uint32
}

// Frame returns payload framed, without the connection's opening tag.
// Payloads are whole 4-byte words, as every MTProto message is.
func (f *Framer) Frame(payload []byte) []byte {
	switch f.Transport {
	case Abridged:
		n := len(payload) / 4
		var b []byte
		if n < 0x7f {
			b = append(make([]byte, 0, 1+len(payload)), byte(n))
		} else {
			b = append(make([]byte, 0, 4+len(payload)), 0x7f, byte(n), byte(n>>8), byte(n>>16))
		}
		return append(b, payload...)
	case Intermediate:
		b := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(payload)), uint32(len(payload)))
		return append(b, payload...)
	}
	b := make([]byte, 0, 12+len(payload))
	b = binary.LittleEndian.AppendUint32(b, uint32(12+len(payload)))
	b = binary.LittleEndian.AppendUint32(b, f.seq)
	f.seq++
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// FrameReader reads the frames of one direction of a connection, with a cap
// on their size; the full transport checks its sequence numbers and CRCs.
type FrameReader struct {
	Transport Transport
	Max       int // payload cap in bytes; 0 means DefaultMaxFrame
	seq       uint32
}

// ReadFrame reads one frame from r and returns its payload. A frame whose
// length exceeds the cap is an error before anything is allocated for it. A
// frame that carries a negative 4-byte code, or a length field that is one
// (as DCs do in the full transport), is a *TransportError. A stream that
// ends before the first byte returns io.EOF, one that ends inside a frame
// io.ErrUnexpectedEOF; other errors of r are returned as they are.
func (fr *FrameReader) ReadFrame(r io.Reader) ([]byte, error) {
	limit := fr.Max
	if limit <= 0 {
		limit = DefaultMaxFrame
	}
	var n int
	switch fr.Transport {
	case Abridged:
		var head [4]byte
		if _, err := io.ReadFull(r, head[:1]); err != nil {
			return nil, err
		}
		switch {
		case head[0] == 0x7f:
			if _, err := io.ReadFull(r, head[1:4]); err != nil {
				return nil, unexpected(err)
			}
			n = (int(head[1]) | int(head[2])<<8 | int(head[3])<<16) * 4
		case head[0] >= 0x80:
			return nil, protocolErrorf("MTProto abridged frame opens with %#02x, a quick acknowledgement nobody asked for", head[0])
		default:
			n = int(head[0]) * 4
		}
		return readPayload(r, n, limit)
	case Intermediate:
		var head [4]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil, err
		}
		length := binary.LittleEndian.Uint32(head[:])
		if code := int32(length); code < 0 {
			return nil, &TransportError{Code: code}
		}
		return readPayload(r, int(length), limit)
	case Full:
		return fr.readFull(r, limit)
	}
	return nil, protocolErrorf("MTProto transport %q is unknown", fr.Transport)
}

func (fr *FrameReader) readFull(r io.Reader, limit int) ([]byte, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:4]); err != nil {
		return nil, err
	}
	length := binary.LittleEndian.Uint32(head[:4])
	if code := int32(length); code < 0 {
		return nil, &TransportError{Code: code}
	}
	if length < 12 || length%4 != 0 {
		return nil, protocolErrorf("MTProto full frame length %d is not a frame's", length)
	}
	if uint64(length)-12 > uint64(limit) {
		return nil, protocolErrorf("MTProto frame of %d bytes is over the %d-byte cap", length-12, limit)
	}
	if _, err := io.ReadFull(r, head[4:]); err != nil {
		return nil, unexpected(err)
	}
	frame := make([]byte, length)
	copy(frame, head[:])
	if _, err := io.ReadFull(r, frame[8:]); err != nil {
		return nil, unexpected(err)
	}
	body := frame[:length-4]
	if got, want := binary.LittleEndian.Uint32(frame[length-4:]), crc32.ChecksumIEEE(body); got != want {
		return nil, protocolErrorf("MTProto full frame CRC is %#08x, its bytes give %#08x", got, want)
	}
	if seq := binary.LittleEndian.Uint32(head[4:]); seq != fr.seq {
		return nil, protocolErrorf("MTProto full frame has sequence number %d, expected %d", seq, fr.seq)
	}
	fr.seq++
	return transportCode(body[8:])
}

func readPayload(r io.Reader, n, limit int) ([]byte, error) {
	switch {
	case n == 0:
		return nil, protocolErrorf("MTProto frame is empty")
	case n > limit:
		return nil, protocolErrorf("MTProto frame of %d bytes is over the %d-byte cap", n, limit)
	case n%4 != 0:
		return nil, protocolErrorf("MTProto frame of %d bytes is not whole 4-byte words", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, unexpected(err)
	}
	return transportCode(payload)
}

// transportCode turns a 4-byte payload into the TransportError it carries.
func transportCode(payload []byte) ([]byte, error) {
	if len(payload) != 4 {
		return payload, nil
	}
	if code := int32(binary.LittleEndian.Uint32(payload)); code < 0 {
		return nil, &TransportError{Code: code}
	}
	return nil, protocolErrorf("MTProto frame of 4 bytes holds %d, not a transport error code", binary.LittleEndian.Uint32(payload))
}

// unexpected is err for a stream that ended inside a frame.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
