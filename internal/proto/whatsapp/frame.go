package whatsapp

import (
	"errors"
	"fmt"
	"io"
)

// The connection headers a client sends once, before its first frame, and
// mixes into the handshake as the Noise prologue: "WA", then the protocol's
// magic value and the version of its token dictionary.
var (
	// HeaderWeb is today's, the multi-device web protocol over WebSocket
	// (whatsmeow socket/constants.go: WAMagicValue 6, token.DictVersion 3;
	// Baileys NOISE_WA_HEADER).
	HeaderWeb = []byte{'W', 'A', 6, 3}
	// HeaderMobile is the historical mobile protocol over raw TCP to
	// g.whatsapp.net:443 (Baileys' removed mobile socket, its forks'
	// MOBILE_NOISE_HEADER).
	HeaderMobile = []byte{'W', 'A', 5, 2}
)

// FrameLengthSize is the size of a frame's big-endian length prefix.
const FrameLengthSize = 3

// MaxFrame bounds the frame msgprobe accepts from a server. A real
// ServerHello is a few hundred bytes (two keys, two 64-byte signatures and
// their details); even with the optional post-quantum fields it stays far
// below this. The wire format allows 16 MiB, which a hostile server would
// otherwise make us allocate.
const MaxFrame = 64 << 10

// AppendFrame appends data to dst as one frame: its 3-byte big-endian
// length, then the bytes.
func AppendFrame(dst, data []byte) ([]byte, error) {
	if len(data) >= 1<<(8*FrameLengthSize) {
		return dst, errors.New("whatsapp: frame too large for a 3-byte length")
	}
	n := len(data)
	dst = append(dst, byte(n>>16), byte(n>>8), byte(n))
	return append(dst, data...), nil
}

// FrameLength decodes a frame's 3-byte length prefix.
func FrameLength(prefix [FrameLengthSize]byte) int {
	return int(prefix[0])<<16 | int(prefix[1])<<8 | int(prefix[2])
}

// ReadFrame reads one frame from r and returns its contents. A frame longer
// than limit is an ErrMalformed error, found from the prefix alone: nothing
// of its size is allocated or read. Errors of r come back unchanged, so the
// caller can tell a timeout or a closed connection from a bad answer;
// a stream that ends inside a frame is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var prefix [FrameLengthSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, err
	}
	n := FrameLength(prefix)
	if n > limit {
		return nil, malformed("WhatsApp frame of %d bytes, over the %d-byte limit%s", n, limit, looksLike(prefix))
	}
	if n == 0 {
		return nil, malformed("WhatsApp answered an empty frame")
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return data, nil
}

// looksLike quotes a length prefix that is text, the sign of a server that
// speaks another protocol (an HTTP error page, a banner), so the reason
// says what answered.
func looksLike(prefix [FrameLengthSize]byte) string {
	for _, c := range prefix {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return fmt.Sprintf(" (the answer starts %q)", prefix[:])
}
