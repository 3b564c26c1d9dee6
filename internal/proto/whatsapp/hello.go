package whatsapp

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of HandshakeMessage and its parts (whatsmeow
// proto/waWa6/WAWebProtobufsWa6.proto).
const (
	fieldClientHello  = 2 // HandshakeMessage.clientHello
	fieldServerHello  = 3 // HandshakeMessage.serverHello
	fieldClientFinish = 4 // HandshakeMessage.clientFinish

	fieldEphemeral = 1 // ClientHello.ephemeral, ServerHello.ephemeral
	fieldStatic    = 2 // ServerHello.static
	fieldPayload   = 3 // ServerHello.payload
)

// KeySize is the size of an X25519 key.
const KeySize = 32

// tagSize is AES-GCM's authentication tag.
const tagSize = 16

// AppendClientHello appends the protobuf HandshakeMessage{clientHello{
// ephemeral}} to dst: 0x12 0x22 0x0a 0x20 and the 32-byte key.
func AppendClientHello(dst []byte, ephemeral []byte) []byte {
	inner := protowire.SizeTag(fieldEphemeral) + protowire.SizeBytes(len(ephemeral))
	dst = protowire.AppendTag(dst, fieldClientHello, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	dst = protowire.AppendTag(dst, fieldEphemeral, protowire.BytesType)
	return protowire.AppendBytes(dst, ephemeral)
}

// ServerHello is the server's first handshake message: its ephemeral key in
// the clear, its static key encrypted (32 bytes and a 16-byte tag), and the
// encrypted payload, a CertChain. The slices point into the frame parsed.
type ServerHello struct {
	Ephemeral []byte
	Static    []byte
	Payload   []byte
}

// ParseServerHello decodes a HandshakeMessage frame and returns its
// serverHello. Fields it does not know (the post-quantum extendedStatic,
// paddingBytes, extendedCiphertext) are skipped; a message without a
// serverHello, a field of the wrong wire type, or parts of the wrong size
// are ErrMalformed.
func ParseServerHello(frame []byte) (*ServerHello, error) {
	var (
		hello   ServerHello
		found   bool
		another string
	)
	err := walk(frame, "HandshakeMessage", func(f pbField) error {
		switch f.Num {
		case fieldServerHello:
			if f.Type != protowire.BytesType {
				return malformed("WhatsApp ServerHello of the wrong wire type")
			}
			found = true
			// Protobuf merges a repeated embedded message: later fields win.
			return walk(f.Bytes, "ServerHello", func(f pbField) error {
				var dst *[]byte
				switch f.Num {
				case fieldEphemeral:
					dst = &hello.Ephemeral
				case fieldStatic:
					dst = &hello.Static
				case fieldPayload:
					dst = &hello.Payload
				default:
					return nil
				}
				if f.Type != protowire.BytesType {
					return malformed("WhatsApp ServerHello field %d of the wrong wire type", f.Num)
				}
				*dst = f.Bytes
				return nil
			})
		case fieldClientHello:
			another = "a ClientHello"
		case fieldClientFinish:
			another = "a ClientFinish"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !found && another != "":
		return nil, malformed("WhatsApp handshake answered with %s, not a ServerHello", another)
	case !found:
		return nil, malformed("WhatsApp handshake reply holds no ServerHello")
	case len(hello.Ephemeral) != KeySize:
		return nil, malformed("WhatsApp ServerHello ephemeral key of %d bytes, not %d", len(hello.Ephemeral), KeySize)
	case len(hello.Static) != KeySize+tagSize:
		return nil, malformed("WhatsApp ServerHello encrypted static key of %d bytes, not %d", len(hello.Static), KeySize+tagSize)
	case len(hello.Payload) <= tagSize:
		return nil, malformed("WhatsApp ServerHello without a certificate payload")
	}
	return &hello, nil
}

// pbField is one field of a protobuf message: its number, wire type, and
// value (Bytes for length-delimited fields, pointing into the message;
// Varint for varints; neither for fixed-size fields, which WhatsApp's
// handshake has none of).
type pbField struct {
	Num    protowire.Number
	Type   protowire.Type
	Bytes  []byte
	Varint uint64
}

// walk calls visit for each field of the protobuf message b. Groups,
// truncated fields and bad tags are ErrMalformed; message names b in those
// errors.
func walk(b []byte, message string, visit func(pbField) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("WhatsApp %s is not valid protobuf (bad tag)", message)
		}
		b = b[n:]
		f := pbField{Num: num, Type: typ}
		switch typ {
		case protowire.BytesType:
			f.Bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.Varint, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			n = protowire.ConsumeFieldValue(num, typ, b)
		default:
			// Groups are long deprecated and nothing WhatsApp sends has one.
			return malformed("WhatsApp %s is not valid protobuf (group field %d)", message, num)
		}
		if n < 0 {
			return malformed("WhatsApp %s is not valid protobuf (field %d truncated)", message, num)
		}
		if err := visit(f); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
