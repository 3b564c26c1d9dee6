package signal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The keepalive request as protocols.md §2c spells it out, byte by byte,
// from WebSocketProtocol.proto's field numbers.
const keepaliveHex = "0801" + "1216" + "0a03" + "474554" + // "GET"
	"120d" + "2f76312f6b656570616c697665" + // "/v1/keepalive"
	"2001"

func TestKeepaliveRequestBytes(t *testing.T) {
	want, err := hex.DecodeString(keepaliveHex)
	if err != nil {
		t.Fatal(err)
	}
	got := KeepaliveRequest(1)
	if len(got) != 26 {
		t.Errorf("keepalive request is %d bytes, want 26", len(got))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("keepalive request\n got % x\nwant % x", got, want)
	}
}

// The healthy answer's prefix in protocols.md §2c: type RESPONSE, then a
// response whose first fields are id 1 and status 200.
func TestResponseEncoding(t *testing.T) {
	b := AppendResponse(nil, Response{ID: 1, Status: 200})
	want := []byte{0x08, 0x02, 0x1a, 0x05, 0x08, 0x01, 0x10, 0xc8, 0x01}
	if !bytes.Equal(b, want) {
		t.Errorf("response\n got % x\nwant % x", b, want)
	}
}

func TestRoundTrip(t *testing.T) {
	req := Request{Verb: "PUT", Path: "/v1/address", Body: []byte{1, 2}, ID: 1<<63 + 5,
		Headers: []string{"X-Signal-Timestamp:1764612000000", "Content-Type:application/x-protobuf"}}
	m, err := Parse(AppendRequest(nil, req))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeRequest || m.Response != nil || !reflect.DeepEqual(*m.Request, req) {
		t.Errorf("request round trip: %+v %+v", m, m.Request)
	}

	resp := Response{ID: 7, Status: 500, Message: "Internal Server Error", Body: []byte("{}"),
		Headers: []string{"x-signal-timestamp: 1764612000000"}}
	m, err = Parse(AppendResponse(nil, resp))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeResponse || m.Request != nil || !reflect.DeepEqual(*m.Response, resp) {
		t.Errorf("response round trip: %+v %+v", m, m.Response)
	}
	if v, ok := Header(m.Response.Headers, "X-Signal-Timestamp"); !ok || v != "1764612000000" {
		t.Errorf("Header = %q, %v", v, ok)
	}
	if _, ok := Header(m.Response.Headers, "X-Signal"); ok {
		t.Error("Header matched a prefix of a name")
	}
}

func TestProvisioningAddress(t *testing.T) {
	const addr = "q83vEjRWeJCrze8SNFZ4kA=="
	got, err := ParseProvisioningAddress(AppendProvisioningAddress(nil, addr))
	if err != nil || got != addr {
		t.Errorf("got %q, %v", got, err)
	}
	got, err = ParseProvisioningAddress(nil)
	if err != nil || got != "" {
		t.Errorf("empty message: %q, %v", got, err)
	}
}

// Unknown fields, and known ones of another wire type, are skipped as any
// protobuf decoder skips them: a newer server adding a field still parses.
func TestParseSkipsUnknown(t *testing.T) {
	b := []byte{
		0x08, 0x02, // type RESPONSE
		0x25, 1, 2, 3, 4, // field 4, fixed32: unknown
		0x12, 0x00, // request, as bytes: present, empty
		0x1a, 0x08, // response, 8 bytes
		0x08, 0x03, // id 3
		0x12, 0x01, 'x', // status as bytes: wrong wire type, skipped
		0x10, 0xc8, 0x01, // status 200
		0x31, 1, 2, 3, 4, 5, 6, 7, 8, // field 6, fixed64: unknown
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeResponse || m.Response == nil || m.Response.ID != 3 || m.Response.Status != 200 {
		t.Errorf("got %+v %+v", m, m.Response)
	}
	if m.Request == nil {
		t.Error("an empty request field is present, not absent")
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string][]byte{
		"truncated varint":     {0x08, 0x80},
		"truncated length":     {0x12, 0x05, 0x0a},
		"bad tag":              {0x00},
		"group":                {0x0b, 0x0c},
		"truncated inner":      {0x1a, 0x02, 0x08, 0x80},
		"huge declared length": {0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	big := make([]byte, MaxMessage+1)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: err = %v", err)
	}
	if _, err := ParseProvisioningAddress(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized address: err = %v", err)
	}
	var many []string
	for range maxHeaders + 1 {
		many = append(many, "")
	}
	if _, err := Parse(AppendResponse(nil, Response{Headers: many})); !errors.Is(err, ErrMalformed) ||
		!strings.Contains(err.Error(), "headers") {
		t.Errorf("too many headers: err = %v", err)
	}
}

// FuzzSignalMessage feeds the decoders what a hostile server could send: no
// panic, and whatever parses encodes back to something that parses to the
// same value.
func FuzzSignalMessage(f *testing.F) {
	f.Add(KeepaliveRequest(1))
	f.Add(AppendResponse(nil, Response{ID: 1, Status: 200, Message: "OK",
		Headers: []string{"X-Signal-Timestamp:1764612000000"}}))
	f.Add(AppendRequest(nil, Request{Verb: "PUT", Path: "/v1/address",
		Body: AppendProvisioningAddress(nil, "q83vEjRWeJCrze8SNFZ4kA=="), ID: 9}))
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil {
			if m.Request != nil {
				again, err := Parse(AppendRequest(nil, *m.Request))
				if err != nil || !reflect.DeepEqual(normReq(again.Request), normReq(m.Request)) {
					t.Fatalf("request does not re-encode: %v %+v %+v", err, again.Request, m.Request)
				}
				_, _ = ParseProvisioningAddress(m.Request.Body)
			}
			if m.Response != nil {
				again, err := Parse(AppendResponse(nil, *m.Response))
				if err != nil || !reflect.DeepEqual(normResp(again.Response), normResp(m.Response)) {
					t.Fatalf("response does not re-encode: %v %+v %+v", err, again.Response, m.Response)
				}
				_, _ = Header(m.Response.Headers, "X-Signal-Timestamp")
			}
		}
		_, _ = ParseProvisioningAddress(b)
	})
}

// normReq and normResp make an absent body and an empty one compare equal:
// the encoder writes neither, the decoder may have read either.
func normReq(r *Request) Request {
	c := *r
	if len(c.Body) == 0 {
		c.Body = nil
	}
	return c
}

func normResp(r *Response) Response {
	c := *r
	if len(c.Body) == 0 {
		c.Body = nil
	}
	return c
}
