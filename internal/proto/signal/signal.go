// Package signal encodes and decodes the few protobuf messages that Signal's
// chat and provisioning WebSockets carry before any login: the
// WebSocketMessage envelope (Signal-Server
// websocket-resources/src/main/proto/WebSocketProtocol.proto) and the
// ProvisioningAddress the provisioning socket announces
// (TextSecure.proto / Provisioning.proto).
//
// The messages are encoded by hand with protowire, field by field, rather
// than generated from .proto files: they are three messages of a few scalar
// fields, a generated package would add Signal's .proto files, protoc and a
// code-generation step to the build for them, and a hand-written decoder
// is a pure function with a size cap of its own that a fuzz target can
// drive directly. protowire keeps the varint and tag arithmetic out of this
// file.
package signal

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxMessage is the largest WebSocket message from a server this package
// parses. Signal's keepalive answer and its provisioning address are a few
// dozen bytes; anything this large is not one of them.
const MaxMessage = 64 << 10

// maxHeaders bounds the headers kept from one message, so that a message of
// MaxMessage bytes made of empty headers cannot cost thousands of strings.
const maxHeaders = 64

// The types of a WebSocketMessage (WebSocketMessage.Type).
const (
	TypeRequest  = 1
	TypeResponse = 2
)

// The field numbers of WebSocketProtocol.proto.
const (
	fieldMessageType     = 1
	fieldMessageRequest  = 2
	fieldMessageResponse = 3

	fieldRequestVerb    = 1
	fieldRequestPath    = 2
	fieldRequestBody    = 3
	fieldRequestID      = 4
	fieldRequestHeaders = 5

	fieldResponseID      = 1
	fieldResponseStatus  = 2
	fieldResponseMessage = 3
	fieldResponseBody    = 4
	fieldResponseHeaders = 5

	fieldProvisioningAddress = 1
)

// ErrTooLarge is returned for a message above MaxMessage bytes.
var ErrTooLarge = errors.New("message too large")

// ErrMalformed is wrapped by every error about bytes that are not a valid
// message.
var ErrMalformed = errors.New("malformed message")

// Request is a WebSocketRequestMessage.
type Request struct {
	Verb    string
	Path    string
	Body    []byte
	ID      uint64
	Headers []string // "Name:value", as Signal writes them
}

// Response is a WebSocketResponseMessage.
type Response struct {
	ID      uint64
	Status  uint32
	Message string
	Body    []byte
	Headers []string
}

// Message is a WebSocketMessage: a request or a response. Type is what the
// type field says; Request and Response are nil when their field is absent.
type Message struct {
	Type     uint64
	Request  *Request
	Response *Response
}

// KeepaliveRequest is the request Signal's own clients keep the chat socket
// alive with (libsignal rust/net/src/chat/ws.rs): GET /v1/keepalive.
func KeepaliveRequest(id uint64) []byte {
	return AppendRequest(nil, Request{Verb: "GET", Path: "/v1/keepalive", ID: id})
}

// AppendRequest appends the WebSocketMessage that carries r to b.
func AppendRequest(b []byte, r Request) []byte {
	var inner []byte
	inner = appendString(inner, fieldRequestVerb, r.Verb)
	inner = appendString(inner, fieldRequestPath, r.Path)
	if r.Body != nil {
		inner = appendBytes(inner, fieldRequestBody, r.Body)
	}
	inner = protowire.AppendTag(inner, fieldRequestID, protowire.VarintType)
	inner = protowire.AppendVarint(inner, r.ID)
	for _, h := range r.Headers {
		inner = appendString(inner, fieldRequestHeaders, h)
	}
	b = protowire.AppendTag(b, fieldMessageType, protowire.VarintType)
	b = protowire.AppendVarint(b, TypeRequest)
	return appendBytes(b, fieldMessageRequest, inner)
}

// AppendResponse appends the WebSocketMessage that carries r to b.
func AppendResponse(b []byte, r Response) []byte {
	var inner []byte
	inner = protowire.AppendTag(inner, fieldResponseID, protowire.VarintType)
	inner = protowire.AppendVarint(inner, r.ID)
	inner = protowire.AppendTag(inner, fieldResponseStatus, protowire.VarintType)
	inner = protowire.AppendVarint(inner, uint64(r.Status))
	if r.Message != "" {
		inner = appendString(inner, fieldResponseMessage, r.Message)
	}
	if r.Body != nil {
		inner = appendBytes(inner, fieldResponseBody, r.Body)
	}
	for _, h := range r.Headers {
		inner = appendString(inner, fieldResponseHeaders, h)
	}
	b = protowire.AppendTag(b, fieldMessageType, protowire.VarintType)
	b = protowire.AppendVarint(b, TypeResponse)
	return appendBytes(b, fieldMessageResponse, inner)
}

// AppendProvisioningAddress appends a ProvisioningAddress{address} to b.
func AppendProvisioningAddress(b []byte, address string) []byte {
	return appendString(b, fieldProvisioningAddress, address)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// Parse decodes one WebSocketMessage. As protobuf decoders do, it skips
// fields it does not know (and known fields of another wire type), keeps
// the last value of a repeated scalar, and merges repeated sub-messages.
// The values it returns do not alias b.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessage {
		return m, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(b), MaxMessage)
	}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldMessageType && typ == protowire.VarintType:
			m.Type = n
		case num == fieldMessageRequest && typ == protowire.BytesType:
			if m.Request == nil {
				m.Request = &Request{}
			}
			return parseRequest(v, m.Request)
		case num == fieldMessageResponse && typ == protowire.BytesType:
			if m.Response == nil {
				m.Response = &Response{}
			}
			return parseResponse(v, m.Response)
		}
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

func parseRequest(b []byte, r *Request) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldRequestVerb && typ == protowire.BytesType:
			r.Verb = string(v)
		case num == fieldRequestPath && typ == protowire.BytesType:
			r.Path = string(v)
		case num == fieldRequestBody && typ == protowire.BytesType:
			r.Body = append([]byte(nil), v...)
		case num == fieldRequestID && typ == protowire.VarintType:
			r.ID = n
		case num == fieldRequestHeaders && typ == protowire.BytesType:
			return addHeader(&r.Headers, v)
		}
		return nil
	})
}

func parseResponse(b []byte, r *Response) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fieldResponseID && typ == protowire.VarintType:
			r.ID = n
		case num == fieldResponseStatus && typ == protowire.VarintType:
			// uint32 in the .proto: protobuf truncates a wider varint.
			r.Status = uint32(n)
		case num == fieldResponseMessage && typ == protowire.BytesType:
			r.Message = string(v)
		case num == fieldResponseBody && typ == protowire.BytesType:
			r.Body = append([]byte(nil), v...)
		case num == fieldResponseHeaders && typ == protowire.BytesType:
			return addHeader(&r.Headers, v)
		}
		return nil
	})
}

func addHeader(hs *[]string, v []byte) error {
	if len(*hs) >= maxHeaders {
		return fmt.Errorf("%w: more than %d headers", ErrMalformed, maxHeaders)
	}
	*hs = append(*hs, string(v))
	return nil
}

// ParseProvisioningAddress decodes a ProvisioningAddress and returns its
// address, empty when the field is absent.
func ParseProvisioningAddress(b []byte) (string, error) {
	if len(b) > MaxMessage {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(b), MaxMessage)
	}
	var addr string
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num == fieldProvisioningAddress && typ == protowire.BytesType {
			addr = string(v)
		}
		return nil
	})
	return addr, err
}

// fields walks the fields of one encoded message, handing each to fn: the
// bytes of a length-delimited field in v, the value of a varint in n. A
// group or a truncated field is malformed.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, tn := protowire.ConsumeTag(b)
		if tn < 0 {
			return fmt.Errorf("%w: bad field tag: %v", ErrMalformed, protowire.ParseError(tn))
		}
		b = b[tn:]
		var (
			v  []byte
			n  uint64
			vn int
		)
		switch typ {
		case protowire.VarintType:
			n, vn = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, vn = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type, protowire.Fixed64Type:
			vn = protowire.ConsumeFieldValue(num, typ, b)
		default:
			// Groups are not in these messages, and skipping one means
			// parsing what it nests: refuse it.
			return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		}
		if vn < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(vn))
		}
		b = b[vn:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// Header returns the value of the first header called name (compared
// without regard to case) and whether there was one. Signal writes headers
// as "Name:value"; spaces around either are not part of it.
func Header(headers []string, name string) (string, bool) {
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
