package probe

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// How a protocol joins msgprobe
//
// A protocol is one file in this package (or a file here and a folder of
// pure encoders and parsers under internal/proto/): it declares a Protocol
// value per scheme it serves, the option Blocks and ExpectKeys it brings, its
// classes and phases, its ProbeFunc, and its part of the JSON Schema in
// probe/schema/NAME.json. The tables in protocols.go list them, one line
// each; nothing else in the loader changes. tcp.go is the smallest example,
// http.go with http_config.go the fullest.
//
// The loader does what every endpoint shares (name, role, critical, the
// settings, positions, unknown-key hints), parses the target as a URL and
// hands it to the protocol's Target func, then decodes each option block
// the endpoint carries with that block's Decode, then calls Finish. Decode
// functions read YAML nodes through the loader's helpers, which keep every
// error positioned (FILE:LINE:COL) and never echo a value that may be a
// secret:
//
//	l.fields(n, keySchema{...})  a mapping's keys, unknown ones reported with hints
//	l.str, l.integer, l.boolean, l.duration, l.stringList   typed scalars
//	l.errorf(node, hint, format, args...)                    one positioned error
//	l.resolvePath(p)            a path relative to the config file
//
// A block's decoded value goes into ep.Options[block name]; the prober reads
// it back with optionsOf.

// Protocol is one target scheme: what its endpoints must prove and how.
type Protocol struct {
	Kind Kind
	// Proves says in a few words what an up endpoint of this kind proved,
	// for `msgprobe list` and the README.
	Proves string
	// Blocks are the option blocks an endpoint of this kind may carry,
	// by name (see Block); any other known block is an error.
	Blocks []string
	// Expect are the expect keys it honours (see ExpectKey).
	Expect []string
	// TLS is true when the protocol speaks TLS: the tls block's
	// configuration is built into ep.TLSConfig at load time.
	TLS bool
	// HTTP is true when it sends an HTTP request shaped by the http block.
	HTTP bool
	// Target checks the parsed target and completes ep.Host and ep.Port
	// (defaults, SRV-less forms...). It reports problems with l.errorf on
	// n and returns false when the target is unusable. The loader has
	// already checked the scheme, the URL syntax and IPv6 brackets.
	Target func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool
	// Finish, when set, runs after every block was decoded: defaults that
	// depend on several blocks, cross-checks.
	Finish func(l *loader, ep *Endpoint)
	// Hints give a hint for a block that does not apply to this kind
	// ("use a tls:// target to check the handshake").
	Hints map[string]string
	// Phases are the phases its attempts record, in order, for the README
	// and `msgprobe list`.
	Phases []Phase
	// Classes are the failure classes it adds beyond the common ones.
	Classes []ClassInfo
	// Probe makes one attempt. Prober, when set, is used instead: it
	// builds what every attempt at one endpoint can share (an HTTP client,
	// a request) once, and returns the ProbeFunc of those attempts.
	Probe  ProbeFunc
	Prober func(ep *Endpoint) ProbeFunc
	// Notes are a few words per option worth showing in `msgprobe list`
	// ("3 dialogue steps"). Never a secret.
	Notes func(ep *Endpoint) []string
	// Once marks protocols whose attempts act on an account (delivery
	// probes): they run once per round unless samples is set explicitly,
	// and never at the same time as another attempt on the same account.
	Once bool
	// Account names the account an endpoint acts on, for Once protocols.
	Account func(ep *Endpoint) string
	// OwnQuery marks protocols whose target's query is msgprobe's own
	// syntax (dns:///name?type=NS), never sent to a service: it is shown
	// as written, where other targets' query values are masked as
	// possible tokens.
	OwnQuery bool
}

// Block is an option block of an endpoint (`tls:`, `http:`, `websocket:`).
type Block struct {
	Name string
	// Keys are the keys it holds; written at the endpoint's level by
	// mistake, they get a hint naming the block.
	Keys []string
	// Decode reads the block's node into ep (usually ep.Options[Name]).
	// A null block is skipped before Decode is called.
	Decode func(l *loader, n *yaml.Node, ep *Endpoint)
}

// ExpectKey is one key of an endpoint's expect block.
type ExpectKey struct {
	Name   string
	Decode func(l *loader, kv keyVal, ep *Endpoint)
}

// ClassInfo describes a failure class a protocol adds.
type ClassInfo struct {
	Class Class
	// Short names the class in a word or three, for a service's reason
	// ("no WebSocket upgrade"); empty means the failure's own message.
	Short string
	// SelfDescribed classes use the failure's message as the reason text:
	// the prober writes it as one line naming the layer ("connected, no
	// WebSocket upgrade in 5s").
	SelfDescribed bool
}

// The classes and phases every protocol that speaks above TCP may use.
const (
	// ClassProtocolTimeout: connected, but the protocol never answered.
	ClassProtocolTimeout Class = "protocol_timeout"
	// ClassProtocolUntrusted: it answered, but the key or certificate it
	// proved is not the service's.
	ClassProtocolUntrusted Class = "protocol_untrusted"

	// PhaseHandshake is a protocol's own handshake (Noise, MTProto, ...).
	PhaseHandshake Phase = "handshake"
	// PhaseDialogue is a send/expect exchange after the handshake.
	PhaseDialogue Phase = "dialogue"
)

// commonClasses are the protocol-layer classes shared by every protocol.
var commonClasses = []ClassInfo{
	{Class: ClassProtocolTimeout, SelfDescribed: true},
	{Class: ClassProtocolUntrusted, SelfDescribed: true},
}

// optionsOf returns the decoded value of ep's block, or a new zero value
// when the endpoint has none, so that probers need no nil checks.
func optionsOf[T any](ep *Endpoint, block string) *T {
	if v, ok := ep.Options[block].(*T); ok {
		return v
	}
	return new(T)
}

// setOptions stores a block's decoded value.
func setOptions(ep *Endpoint, block string, v any) {
	if ep.Options == nil {
		ep.Options = map[string]any{}
	}
	ep.Options[block] = v
}

// ---- the registry, built once from the tables in protocols.go ----

type registry struct {
	byKind      map[Kind]*Protocol
	blocks      map[string]*Block
	expect      map[string]*ExpectKey
	classes     map[Class]ClassInfo
	schemes     []string // sorted
	endpoint    keySchema
	control     keySchema
	service     keySchema
	expectKeys  keySchema
	expectOrder []*ExpectKey
	blockOwners map[string][]Kind
}

var theRegistry = sync.OnceValue(func() *registry {
	r := &registry{
		byKind:      map[Kind]*Protocol{},
		blocks:      map[string]*Block{},
		expect:      map[string]*ExpectKey{},
		classes:     map[Class]ClassInfo{},
		blockOwners: map[string][]Kind{},
	}
	for _, b := range blocks {
		r.blocks[b.Name] = b
	}
	for _, k := range expectKeys {
		r.expect[k.Name] = k
	}
	for _, c := range commonClasses {
		r.classes[c.Class] = c
	}
	for _, p := range protocols {
		if _, dup := r.byKind[p.Kind]; dup {
			panic("probe: protocol " + string(p.Kind) + " registered twice")
		}
		r.byKind[p.Kind] = p
		r.schemes = append(r.schemes, string(p.Kind))
		for _, b := range p.Blocks {
			if r.blocks[b] == nil {
				panic("probe: protocol " + string(p.Kind) + " names unknown block " + b)
			}
			r.blockOwners[b] = append(r.blockOwners[b], p.Kind)
		}
		for _, k := range p.Expect {
			if r.expect[k] == nil {
				panic("probe: protocol " + string(p.Kind) + " names unknown expect key " + k)
			}
		}
		for _, c := range p.Classes {
			r.classes[c.Class] = c
		}
	}
	sort.Strings(r.schemes)

	keys := slices.Clone(commonEndpointKeys)
	misfit := map[string]string{
		"endpoints": "to a service", "functions": "to a service", "tags": "to a service",
		"description": "to a service",
	}
	for _, b := range blocks {
		keys = append(keys, b.Name)
		for _, k := range b.Keys {
			if _, taken := misfit[k]; !taken {
				misfit[k] = "under " + b.Name
			}
		}
	}
	var ek []string
	for _, k := range expectKeys {
		ek = append(ek, k.Name)
		if _, taken := misfit[k.Name]; !taken {
			misfit[k.Name] = "under expect"
		}
	}
	r.endpoint = keySchema{what: "endpoint", keys: keys, misplaced: misfit}
	r.control = keySchema{what: "control", keys: keys, misplaced: misfit}
	r.expectKeys = keySchema{what: "expect", keys: ek}
	r.expectOrder = expectKeys
	r.service = serviceSchema
	r.service.misplaced = maps.Clone(serviceSchema.misplaced)
	for _, b := range blocks {
		if _, taken := r.service.misplaced[b.Name]; !taken {
			r.service.misplaced[b.Name] = "to an endpoint, under endpoints"
		}
	}
	return r
})

// commonEndpointKeys are the keys every endpoint may have, whatever its
// protocol.
var commonEndpointKeys = []string{"name", "target", "critical", "role", "timeout", "samples", "degraded_latency", "cert_min_days", "family"}

// ProtocolOf returns the protocol of a kind, nil for an unknown kind.
func ProtocolOf(k Kind) *Protocol { return theRegistry().byKind[k] }

// Schemes lists the supported schemes, sorted.
func Schemes() []string { return slices.Clone(theRegistry().schemes) }

// UsesTLS reports whether a probe of this kind performs a TLS handshake.
func (k Kind) UsesTLS() bool {
	p := ProtocolOf(k)
	return p != nil && p.TLS
}

// UsesHTTP reports whether a probe of this kind sends an HTTP request.
func (k Kind) UsesHTTP() bool {
	p := ProtocolOf(k)
	return p != nil && p.HTTP
}

// accepts reports whether endpoints of this kind may carry block.
func (p *Protocol) accepts(block string) bool { return slices.Contains(p.Blocks, block) }

// classInfo returns what a protocol declared about class c.
func classInfo(c Class) (ClassInfo, bool) {
	ci, ok := theRegistry().classes[c]
	return ci, ok
}

// selfDescribed reports whether a failure of class c reads as its message.
func selfDescribed(c Class) bool {
	ci, ok := classInfo(c)
	return ok && ci.SelfDescribed
}

// Classes lists every failure class msgprobe may report: the common ones,
// then each protocol's, without repeats.
func Classes() []Class {
	out := slices.Clone(baseClasses)
	for _, c := range commonClasses {
		out = appendClass(out, c.Class)
	}
	for _, p := range protocols {
		for _, c := range p.Classes {
			out = appendClass(out, c.Class)
		}
	}
	return out
}

func appendClass(list []Class, c Class) []Class {
	if slices.Contains(list, c) {
		return list
	}
	return append(list, c)
}

// baseClasses are the classes of the spec and of the tcp, tls and http
// probers.
var baseClasses = []Class{
	ClassDNSNXDomain, ClassDNSTimeout, ClassDNSError, ClassConnectionRefused,
	ClassConnectionReset, ClassTimeout, ClassNetworkUnreachable, ClassHostUnreachable,
	ClassTLSCertExpired, ClassTLSCertHostname, ClassTLSCertUntrusted, ClassTLSHandshake,
	ClassHTTPStatus, ClassHTTPBody, ClassEOF, ClassProtocol, ClassCanceled, ClassLocalResource,
}

// noAnswer is the message of a protocol that connected and then heard
// nothing until the attempt's deadline: "connected, no WhatsApp handshake
// reply in 5s". what names what was awaited.
func noAnswer(what string, timeout time.Duration) string {
	return "connected, no " + what + " in " + formatTimeout(timeout)
}

// formatTimeout writes a timeout the way a config says it: "5s", "1.5s",
// "500ms".
func formatTimeout(d time.Duration) string {
	if d <= 0 {
		return "the time given"
	}
	d = d.Round(time.Millisecond)
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// schemeList is the schemes for a hint, in the table's order: "tcp, tls,
// http, https, ...".
func schemeList() string {
	names := make([]string, len(protocols))
	for i, p := range protocols {
		names[i] = string(p.Kind)
	}
	return strings.Join(names, ", ")
}
