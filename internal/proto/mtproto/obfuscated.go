package mtproto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ObfuscationHeaderLen is the length of the header an obfuscated connection
// opens with.
const ObfuscationHeaderLen = 64

// forbiddenOpenings are the first four bytes an obfuscation header must not
// have, because a DC (or a middlebox) would read them as another protocol:
// HTTP methods, a TLS ClientHello, and the plain intermediate and padded
// intermediate tags (mtproto-transports, "Transport obfuscation").
var forbiddenOpenings = [][]byte{
	[]byte("HEAD"), []byte("POST"), []byte("GET "), []byte("OPTI"),
	{0x16, 0x03, 0x01, 0x02},
	{0xdd, 0xdd, 0xdd, 0xdd},
	{0xee, 0xee, 0xee, 0xee},
}

// headerAllowed reports whether 64 random bytes may open an obfuscated
// connection: not EF (abridged), none of forbiddenOpenings, and a non-zero
// second word (which the full transport's sequence number 0 would be).
func headerAllowed(h []byte) bool {
	if h[0] == 0xef {
		return false
	}
	for _, f := range forbiddenOpenings {
		if bytes.Equal(h[:4], f) {
			return false
		}
	}
	return binary.LittleEndian.Uint32(h[4:8]) != 0
}

// maxHeaderTries bounds the redraws of a forbidden header. Random bytes hit a
// forbidden opening with probability about 2^-8, so a reader that keeps
// producing them is broken, not unlucky.
const maxHeaderTries = 64

// newObfuscation draws the obfuscation header for a connection carrying
// transport tag to DC dc, and returns the 64 bytes to send first and the
// client's two AES-256-CTR streams: enc for everything it sends after the
// header, dec for everything it receives.
//
// The encryption key and IV are header[8:40] and header[40:56]; the
// decryption key and IV are the same ranges of the header reversed. The
// whole header goes through enc, and the wire carries its first 56 bytes in
// the clear and bytes 56-64 (tag, DC id, two random bytes) encrypted.
func newObfuscation(random io.Reader, tag [4]byte, dc int16) (wire []byte, enc, dec cipher.Stream, err error) {
	var h [ObfuscationHeaderLen]byte
	for try := 0; ; try++ {
		if try == maxHeaderTries {
			return nil, nil, nil, errors.New("mtproto: the random source keeps giving forbidden obfuscation headers")
		}
		if _, err := io.ReadFull(random, h[:]); err != nil {
			return nil, nil, nil, fmt.Errorf("mtproto: random bytes for the obfuscation header: %w", err)
		}
		if headerAllowed(h[:]) {
			break
		}
	}
	copy(h[56:60], tag[:])
	binary.LittleEndian.PutUint16(h[60:62], uint16(dc))

	enc, dec = headerStreams(h[:])
	var sealed [ObfuscationHeaderLen]byte
	enc.XORKeyStream(sealed[:], h[:])
	wire = make([]byte, 0, ObfuscationHeaderLen)
	wire = append(wire, h[:56]...)
	wire = append(wire, sealed[56:]...)
	return wire, enc, dec, nil
}

// headerStreams returns the CTR stream keyed by h[8:40] with IV h[40:56],
// and the one keyed by the same ranges of h reversed. Only h[8:56] matters,
// which travels in the clear, so both ends can compute both streams.
func headerStreams(h []byte) (forward, reversed cipher.Stream) {
	var rev [ObfuscationHeaderLen]byte
	for i := range rev {
		rev[i] = h[ObfuscationHeaderLen-1-i]
	}
	return ctr(h[8:40], h[40:56]), ctr(rev[8:40], rev[40:56])
}

func ctr(key, iv []byte) cipher.Stream {
	block, err := aes.NewCipher(key)
	if err != nil {
		// A 32-byte key always makes an AES-256 cipher.
		panic(err)
	}
	return cipher.NewCTR(block, iv)
}

// ObfuscatedServer is the DC's side of an obfuscated connection, for test
// servers: what the client's header said, and the streams that decrypt what
// it sends and encrypt what is sent back.
type ObfuscatedServer struct {
	Transport  Transport
	DC         int16
	FromClient cipher.Stream
	ToClient   cipher.Stream
}

// AcceptObfuscation reads a client's 64-byte obfuscation header as a DC does
// and returns the transport its tag names, the DC id and the server's
// streams: FromClient already past the header, ToClient at its start.
func AcceptObfuscation(header []byte) (*ObfuscatedServer, error) {
	if len(header) != ObfuscationHeaderLen {
		return nil, protocolErrorf("MTProto obfuscation header is %d bytes, not %d", len(header), ObfuscationHeaderLen)
	}
	fromClient, toClient := headerStreams(header)
	var plain [ObfuscationHeaderLen]byte
	fromClient.XORKeyStream(plain[:], header)
	s := &ObfuscatedServer{
		DC:         int16(binary.LittleEndian.Uint16(plain[60:62])),
		FromClient: fromClient,
		ToClient:   toClient,
	}
	var tag [4]byte
	copy(tag[:], plain[56:60])
	for _, t := range Transports {
		if tt, ok := t.obfuscatedTag(); ok && tt == tag {
			s.Transport = t
			return s, nil
		}
	}
	return nil, protocolErrorf("MTProto obfuscation header carries protocol tag %x, not a known transport", tag)
}
