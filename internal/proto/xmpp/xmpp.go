// Package xmpp reads what an XMPP server says on a client stream (RFC 6120)
// far enough for msgprobe to judge it: the stream header, the stream
// features (STARTTLS, SASL mechanisms, resource binding), stream errors and
// the short answers of the STARTTLS and SASL negotiations.
//
// A Reader reads from the connection through a byte budget and builds each
// top-level element as a small tree of bounded depth, so a hostile server
// (an endless stanza, endless nesting, a DTD) ends in a typed error instead
// of a memory spike. Errors of the transport (a timeout, a reset, a closed
// connection) come back as themselves so that the caller can classify them;
// everything the server said wrong is a *ProtocolError, *LimitError or
// *StreamError.
//
// The negotiation itself is the caller's: msgprobe times every step and
// decides what each answer means, which a client library's one-call
// session setup would hide.
package xmpp

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The namespaces of RFC 6120 that a client stream uses.
const (
	NSStream        = "http://etherx.jabber.org/streams"
	NSClient        = "jabber:client"
	NSTLS           = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL          = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind          = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession       = "urn:ietf:params:xml:ns:xmpp-session"
	NSStreamErrors  = "urn:ietf:params:xml:ns:xmpp-streams"
	NSStanzaErrors  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsXMLNamespaces = "xmlns"
)

// DefaultLimit is the byte budget of one stream's negotiation: a stream
// header and features are a few hundred bytes; Prosody's and ejabberd's stay
// under 2 KiB even with many extensions.
const DefaultLimit = 64 << 10

// MaxDepth is the deepest nesting of elements a Reader accepts inside the
// stream. Features and SASL answers nest three levels; messages with
// extensions a few more.
const MaxDepth = 16

// maxMechanisms bounds how many SASL mechanisms are kept; servers offer a
// handful.
const maxMechanisms = 32

// Reader reads one XML stream from a server. It is not safe for concurrent
// use.
type Reader struct {
	lr  *limitReader
	br  *bufio.Reader
	dec *xml.Decoder
	hdr bool // the stream header has been read
}

// NewReader reads a stream from r, reading at most limit bytes from it in
// total (DefaultLimit when limit <= 0).
func NewReader(r io.Reader, limit int64) *Reader {
	if limit <= 0 {
		limit = DefaultLimit
	}
	lr := &limitReader{r: r, left: limit, limit: limit}
	br := bufio.NewReaderSize(lr, 4096)
	dec := xml.NewDecoder(br)
	dec.Strict = true
	// XMPP is UTF-8 only (RFC 6120 §11.6); any other declared encoding is
	// refused by encoding/xml without a CharsetReader, as it should be.
	return &Reader{lr: lr, br: br, dec: dec}
}

// Grant adds n bytes to the budget: a caller that moves on from the
// negotiation to waiting for stanzas gives each wait a budget of its own.
func (r *Reader) Grant(n int64) {
	r.lr.left += n
	r.lr.limit += n
}

// Read is the number of bytes read from the underlying reader so far.
func (r *Reader) Read() int64 { return r.lr.limit - r.lr.left }

// Buffered is the number of bytes read from the connection that the decoder
// has not consumed. After <proceed/> it must be zero: anything the server
// sent before the TLS handshake would otherwise be taken as encrypted
// stream content (the STARTTLS injection of CVE-2011-0411 and its kin).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// StreamHeader is the server's <stream:stream> opening tag.
type StreamHeader struct {
	From    string
	To      string
	ID      string
	Version string
	Lang    string
}

// Header reads the stream header: an optional XML declaration, then the
// opening <stream:stream> tag in the streams namespace with jabber:client
// as its content namespace.
func (r *Reader) Header() (StreamHeader, error) {
	if r.hdr {
		return StreamHeader{}, errors.New("xmpp: stream header already read")
	}
	// A stream starts with '<' after optional whitespace. Judge the first
	// byte at once: encoding/xml would wait for the end of a text that a
	// server speaking something else may never finish.
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if r.lr.err != nil {
				return StreamHeader{}, r.lr.err
			}
			return StreamHeader{}, err
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		_ = r.br.UnreadByte()
		if c != '<' {
			head, _ := r.br.Peek(min(r.br.Buffered(), 40))
			return StreamHeader{}, protoErrorf("XMPP server sent text, not a stream header: %q", excerpt(head))
		}
		break
	}
	for {
		tok, err := r.token()
		if err != nil {
			return StreamHeader{}, err
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return StreamHeader{}, protoErrorf("XMPP server sent a processing instruction <?%s?>", clean(t.Target))
			}
		case xml.CharData:
			if !isSpace(t) {
				return StreamHeader{}, protoErrorf("XMPP server sent text, not a stream header: %q", excerpt(t))
			}
		case xml.StartElement:
			h, err := ParseHeader(t)
			if err != nil {
				return StreamHeader{}, err
			}
			r.hdr = true
			return h, nil
		case xml.Comment:
			return StreamHeader{}, protoErrorf("XMPP server sent an XML comment, which RFC 6120 forbids")
		case xml.Directive:
			return StreamHeader{}, protoErrorf("XMPP server sent a DTD or other directive, which RFC 6120 forbids")
		default:
			return StreamHeader{}, protoErrorf("XMPP server closed an element it never opened")
		}
	}
}

// ParseHeader reads a stream header from its start tag.
func ParseHeader(t xml.StartElement) (StreamHeader, error) {
	if t.Name.Space != NSStream || t.Name.Local != "stream" {
		return StreamHeader{}, protoErrorf("XMPP server sent <%s> instead of a stream header", describeName(t.Name))
	}
	var h StreamHeader
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value != NSClient {
				return StreamHeader{}, protoErrorf("XMPP server opened a %q stream, not a client stream", clean(a.Value))
			}
		case a.Name.Space == "" && a.Name.Local == "from":
			h.From = a.Value
		case a.Name.Space == "" && a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Space == "" && a.Name.Local == "id":
			h.ID = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			h.Version = a.Value
		case a.Name.Local == "lang" && a.Name.Space != nsXMLNamespaces:
			h.Lang = a.Value
		}
	}
	return h, nil
}

// Element is one top-level element of the stream with its content, as far
// as msgprobe needs it: names, attributes, children and the text directly
// inside.
type Element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*Element
	Text     string
}

// Is reports whether e has this namespace and local name.
func (e *Element) Is(space, local string) bool {
	return e != nil && e.Name.Space == space && e.Name.Local == local
}

// Child is e's first child with this namespace and local name, nil if none.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Is(space, local) {
			return c
		}
	}
	return nil
}

// ChildText is the text of e's first child with this namespace and local
// name, "" when e or the child is missing: a server's stanza may lack
// any element a caller looks for.
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text
	}
	return ""
}

// ChildElements are the children of e's first child with this namespace
// and local name, nil when either is missing.
func (e *Element) ChildElements(space, local string) []*Element {
	if c := e.Child(space, local); c != nil {
		return c.Children
	}
	return nil
}

// AttrValue is the value of e's unqualified attribute local, "" if absent.
func (e *Element) AttrValue(local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Next reads the next top-level element of the stream, skipping whitespace
// keepalives. A <stream:error> is returned as a *StreamError, the end of the
// stream as ErrStreamClosed.
func (r *Reader) Next() (*Element, error) {
	if !r.hdr {
		return nil, errors.New("xmpp: Next before Header")
	}
	for {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !isSpace(t) {
				return nil, protoErrorf("XMPP server sent text between stanzas: %q", excerpt(t))
			}
		case xml.EndElement:
			return nil, ErrStreamClosed
		case xml.StartElement:
			e, err := r.element(t, 1)
			if err != nil {
				return nil, err
			}
			if e.Is(NSStream, "error") {
				return nil, ParseStreamError(e)
			}
			return e, nil
		case xml.Comment:
			return nil, protoErrorf("XMPP server sent an XML comment, which RFC 6120 forbids")
		case xml.Directive:
			return nil, protoErrorf("XMPP server sent a DTD or other directive, which RFC 6120 forbids")
		case xml.ProcInst:
			return nil, protoErrorf("XMPP server sent a processing instruction inside the stream")
		}
	}
}

// element builds the element that start opens, depth levels deep.
func (r *Reader) element(start xml.StartElement, depth int) (*Element, error) {
	if depth > MaxDepth {
		return nil, protoErrorf("XMPP server nested elements more than %d deep", MaxDepth)
	}
	e := &Element{Name: start.Name, Attr: start.Attr}
	var text strings.Builder
	for {
		tok, err := r.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := r.element(t, depth+1)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.EndElement:
			e.Text = text.String()
			return e, nil
		case xml.CharData:
			text.Write(t)
		case xml.Comment:
			return nil, protoErrorf("XMPP server sent an XML comment, which RFC 6120 forbids")
		case xml.Directive, xml.ProcInst:
			return nil, protoErrorf("XMPP server sent a directive or processing instruction inside a stanza")
		}
	}
}

// token is the decoder's next token, with the transport's own error in
// place of encoding/xml's "unexpected EOF" whenever reading failed, so that
// a timeout stays a timeout and a reset a reset.
func (r *Reader) token() (xml.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	// A syntax error in bytes already read is the server's, even when the
	// connection has ended since; encoding/xml's "unexpected EOF" is the
	// transport's.
	var se *xml.SyntaxError
	if errors.As(err, &se) && !strings.HasPrefix(se.Msg, "unexpected EOF") {
		return nil, &ProtocolError{Msg: "XMPP server sent malformed XML: " + clean(se.Msg)}
	}
	if r.lr.err != nil {
		if errors.Is(r.lr.err, io.EOF) && r.hdr {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, r.lr.err
	}
	if se != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return nil, err
}

// Features are what a server offers in <stream:features>.
type Features struct {
	// StartTLS is offered; StartTLSRequired when it carries <required/>.
	StartTLS         bool
	StartTLSRequired bool
	// Mechanisms are the SASL mechanisms offered, in the server's order.
	Mechanisms []string
	// Bind is resource binding (after authentication).
	Bind bool
	// Names are the qualified names of every feature, "starttls",
	// "mechanisms", "bind", "sm", ..., in the server's order.
	Names []string
}

// Features reads the next element and requires it to be
// <stream:features>.
func (r *Reader) Features() (Features, error) {
	e, err := r.Next()
	if err != nil {
		return Features{}, err
	}
	return ParseFeatures(e)
}

// ParseFeatures reads the features a <stream:features> element offers.
func ParseFeatures(e *Element) (Features, error) {
	if !e.Is(NSStream, "features") {
		return Features{}, protoErrorf("XMPP server sent <%s> where stream features were due", describeName(e.Name))
	}
	var f Features
	for _, c := range e.Children {
		if len(f.Names) < 64 {
			f.Names = append(f.Names, clean(c.Name.Local))
		}
		switch {
		case c.Is(NSTLS, "starttls"):
			f.StartTLS = true
			f.StartTLSRequired = c.Child(NSTLS, "required") != nil
		case c.Is(NSSASL, "mechanisms"):
			for _, m := range c.Children {
				if !m.Is(NSSASL, "mechanism") {
					continue
				}
				name := strings.TrimSpace(m.Text)
				if !validMechanism(name) {
					return Features{}, protoErrorf("XMPP server offered an invalid SASL mechanism name %q", excerpt([]byte(name)))
				}
				if len(f.Mechanisms) < maxMechanisms {
					f.Mechanisms = append(f.Mechanisms, name)
				}
			}
		case c.Is(NSBind, "bind"):
			f.Bind = true
		}
	}
	return f, nil
}

// validMechanism reports whether name is a SASL mechanism name as RFC 4422
// §3.1 defines one: 1 to 20 upper-case letters, digits, '-' or '_'.
func validMechanism(name string) bool {
	if len(name) < 1 || len(name) > 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// StreamError is a <stream:error> (RFC 6120 §4.9): the server ends the
// stream for the reason its condition names.
type StreamError struct {
	Condition string // "host-unknown", "see-other-host", ...; "undefined-condition" if none
	Text      string // the server's optional human-readable text, shortened
}

func (e *StreamError) Error() string {
	msg := "XMPP stream error: " + e.Condition
	if e.Text != "" {
		msg += " (" + e.Text + ")"
	}
	return msg
}

// ParseStreamError reads a <stream:error> element.
func ParseStreamError(e *Element) *StreamError {
	se := &StreamError{}
	for _, c := range e.Children {
		if c.Name.Space != NSStreamErrors {
			continue
		}
		if c.Name.Local == "text" {
			se.Text = serverText(c.Text)
		} else if se.Condition == "" {
			se.Condition = clean(c.Name.Local)
		}
	}
	if se.Condition == "" {
		se.Condition = "undefined-condition"
	}
	return se
}

// ErrStreamClosed is the server's </stream:stream>: it ended the stream
// cleanly, where msgprobe still expected something.
var ErrStreamClosed = &ProtocolError{Msg: "XMPP server closed the stream"}

// ProtocolError is a server's answer that breaks RFC 6120 or is not what
// the step expects. Msg reads as one line naming XMPP.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

func protoErrorf(format string, args ...any) *ProtocolError {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// LimitError is a server that sent more than the budget allowed before the
// step was done: an endless stanza or a flood.
type LimitError struct{ Limit int64 }

func (e *LimitError) Error() string {
	return fmt.Sprintf("XMPP server sent more than %s without finishing its answer", size(e.Limit))
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitReader reads from r until the budget is spent, then fails with a
// *LimitError. It remembers the first error r returned.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
	err   error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		l.err = &LimitError{Limit: l.limit}
		return 0, l.err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// excerpt is the start of a server's bytes, short and printable, for a
// one-line message.
func excerpt(b []byte) string { return excerptN(b, 40) }

// serverText is a server's human-readable text (a stream error's or SASL
// failure's <text/>), kept to one line of reasonable length.
func serverText(s string) string { return excerptN([]byte(s), 120) }

func excerptN(b []byte, max int) string {
	r := []rune(strings.ToValidUTF8(strings.TrimSpace(string(b)), "?"))
	cut := len(r) > max
	if cut {
		r = r[:max]
	}
	s := printableLine(string(r))
	if cut {
		s += "…"
	}
	return s
}

// clean keeps a server-chosen name to one short printable line.
func clean(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return printableLine(s)
}

func printableLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

func describeName(n xml.Name) string {
	local := clean(n.Local)
	switch n.Space {
	case "", NSClient:
		return local
	case NSStream:
		return "stream:" + local
	}
	return local + " xmlns='" + clean(n.Space) + "'"
}
