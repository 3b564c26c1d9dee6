// Package probe loads a msgprobe configuration, probes its endpoints over
// TCP, TLS and HTTP(S), and judges the results. It measures into plain data;
// the report package formats that data. Nothing here prints or exits.
package probe

import (
	"crypto/tls"
	"net/url"
	"time"
)

// Kind is the probe an endpoint's target scheme selects.
type Kind string

// The kinds of probe, named after the target's scheme.
const (
	KindTCP   Kind = "tcp"
	KindTLS   Kind = "tls"
	KindHTTP  Kind = "http"
	KindHTTPS Kind = "https"
)

// Pos is a position in a configuration file, for error messages.
type Pos struct {
	File   string
	Line   int
	Column int
}

// Settings are the tunables that defaults set and services and endpoints may
// override.
type Settings struct {
	Timeout         time.Duration // bound on one attempt
	Samples         int           // attempts per endpoint, one after another
	DegradedLatency time.Duration // p50 above this => degraded
	CertMinDays     int           // certificate expiring sooner => degraded
}

// DefaultSettings are the built-in defaults of the spec.
var DefaultSettings = Settings{
	Timeout:         5 * time.Second,
	Samples:         3,
	DegradedLatency: time.Second,
	CertMinDays:     7,
}

// Config is a loaded, validated configuration with every default applied.
type Config struct {
	Version  int
	Defaults Settings
	Controls []*Endpoint
	Services []*Service
	Resolver string // "host:port" of the DNS server every lookup goes to; empty: the system's

	// Sources name the files the configuration was read from, in order.
	Sources []string
	// Warnings are things a valid configuration holds that have no effect
	// (defaults of a second file, which the first file's defaults shadow).
	Warnings []*ConfigError
}

// Service is a messaging service: a named group of endpoints.
type Service struct {
	Name        string
	Description string
	Tags        []string
	Endpoints   []*Endpoint
	Functions   map[string]Function // by role
	Pos         Pos
}

// Function says how the endpoints of one role judge a service: redundant
// endpoints of a role (WhatsApp's chat servers e1…e16) make one function.
type Function struct {
	Critical bool // the service is down when this function is down
	MinUp    int  // the function is down when fewer endpoints are up; 0: when none is
}

// Roles an endpoint may serve.
//
// delivery is the role of round-trip probes (matrix+deliver://, ...): they
// judge with the service's messaging function and decide it when they fail.
var Roles = []string{"messaging", "calls", "media", "web", "api", "push", RoleDelivery}

// Expect holds what a successful HTTP attempt must show.
type Expect struct {
	Status       []int  // empty: any 2xx or 3xx
	BodyContains string // empty: the body is not read
}

// StatusOK reports whether code is an expected HTTP status.
func (e Expect) StatusOK(code int) bool {
	if len(e.Status) == 0 {
		return code >= 200 && code < 400
	}
	for _, s := range e.Status {
		if s == code {
			return true
		}
	}
	return false
}

// HTTPOptions shape the request of an http:// or https:// probe.
type HTTPOptions struct {
	Method          string
	Headers         map[string]string
	FollowRedirects bool
}

// TLSOptions shape the handshake of a tls:// or https:// probe.
type TLSOptions struct {
	ServerName         string
	InsecureSkipVerify bool
	CAFile             string // absolute path, resolved against the config file
	CAPEM              string // inline PEM roots
	SystemRoots        bool   // trust the system roots as well as CAFile/CAPEM
}

// Endpoint is one target to probe, with its effective settings.
type Endpoint struct {
	Service  string // the owning service's name; empty for controls
	Name     string
	Target   string
	Kind     Kind
	URL      *url.URL
	Host     string // host name or IP literal, without brackets
	Port     string
	Critical bool
	Role     string // the function this endpoint serves, one of Roles; may be empty
	Settings
	Expect Expect
	HTTP   HTTPOptions
	TLS    TLSOptions
	Pos    Pos

	// Options are the decoded option blocks of the endpoint's protocol,
	// by block name (see Block); probers read them with optionsOf.
	Options map[string]any

	// TLSConfig is built once at load time for kinds that use TLS, so that
	// no attempt pays for reading CA files or building pools.
	TLSConfig *tls.Config

	// SetBy says which level of the configuration gave each of Settings.
	SetBy SettingSources
}

// Address is the host:port a probe dials.
func (e *Endpoint) Address() string {
	return joinHostPort(e.Host, e.Port)
}

// Phase names a step of an attempt, where time is measured and where a
// failure happens.
type Phase string

// The phases of an attempt, in the order they happen.
const (
	PhaseDNS     Phase = "dns"
	PhaseConnect Phase = "connect"
	PhaseTLS     Phase = "tls"
	PhaseRequest Phase = "request" // writing the HTTP request
	PhaseTTFB    Phase = "ttfb"    // request written -> first response byte
	PhaseHTTP    Phase = "http"    // judging the response status
	PhaseBody    Phase = "body"    // reading and judging the body
)

// Class is the stable name of a failure's cause.
type Class string

// The failure classes of the spec.
const (
	ClassDNSNXDomain        Class = "dns_nxdomain"
	ClassDNSTimeout         Class = "dns_timeout"
	ClassDNSError           Class = "dns_error"
	ClassConnectionRefused  Class = "connection_refused"
	ClassConnectionReset    Class = "connection_reset"
	ClassTimeout            Class = "timeout"
	ClassNetworkUnreachable Class = "network_unreachable"
	ClassHostUnreachable    Class = "host_unreachable"
	ClassTLSCertExpired     Class = "tls_cert_expired"
	ClassTLSCertHostname    Class = "tls_cert_hostname"
	ClassTLSCertUntrusted   Class = "tls_cert_untrusted"
	ClassTLSHandshake       Class = "tls_handshake"
	ClassHTTPStatus         Class = "http_status"
	ClassHTTPBody           Class = "http_body"
	ClassEOF                Class = "eof"
	ClassProtocol           Class = "protocol"
	ClassCanceled           Class = "canceled"
	// ClassLocalResource extends the spec's list: the machine running
	// msgprobe ran out of file descriptors, buffers or ephemeral ports.
	ClassLocalResource Class = "local_resource"
)

// Failure is why an attempt failed: a class, the phase it failed in, and the
// underlying error. It is an error itself and unwraps to the cause.
type Failure struct {
	Class Class
	Phase Phase
	Err   error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return string(f.Class) + " at " + string(f.Phase)
	}
	return f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Timings are the measured durations of one attempt. A zero field was not
// measured (no DNS lookup for an IP literal, no TLS for tcp://).
type Timings struct {
	DNS     time.Duration
	Connect time.Duration
	TLS     time.Duration
	TTFB    time.Duration
	Total   time.Duration
	// Steps are the phases of a protocol above TLS (upgrade, handshake,
	// dialogue, login, send, deliver...), in the order they happened.
	Steps []Step
}

// Step is the measured duration of one protocol phase.
type Step struct {
	Phase Phase
	D     time.Duration
}

// AddStep records the duration of a protocol phase.
func (t *Timings) AddStep(p Phase, d time.Duration) {
	t.Steps = append(t.Steps, Step{p, d})
}

// TLSInfo describes the handshake of a successful TLS connection.
type TLSInfo struct {
	Version  uint16
	NotAfter time.Time // the leaf certificate's expiry
	Subject  string    // the leaf's common name
	Issuer   string    // the leaf issuer's common name, or its full name
	Verified bool      // false when verification was skipped
}

// Attempt is the outcome of one probe of one endpoint.
type Attempt struct {
	Start      time.Time
	Timings    Timings
	Failure    *Failure // nil when the attempt succeeded
	HTTPStatus int      // 0 when no response was read
	TLS        *TLSInfo // nil when no handshake completed
	RemoteAddr string   // the address connected to, when a connection was made
	// Redirect is the absolute URL an HTTP answer sent the client to: the
	// Location of a 3xx that was not followed, or the last URL of followed
	// redirects when it differs from the target. Captive portals show here.
	Redirect string
	// Details are what the protocol learnt beyond timings, for the report:
	// SASL mechanisms, the certificate fields of WhatsApp's chain, a
	// round-trip time. Keys are snake_case; values marshal to JSON. Never a
	// secret.
	Details map[string]any
}

// SetDetail records one protocol detail of the attempt.
func (a *Attempt) SetDetail(key string, v any) {
	if a.Details == nil {
		a.Details = map[string]any{}
	}
	a.Details[key] = v
}

// OK reports whether the attempt succeeded.
func (a *Attempt) OK() bool { return a.Failure == nil }

// The levels a setting may come from, most general first.
const (
	LevelBuiltin  = "built-in"
	LevelDefaults = "defaults"
	LevelService  = "service"
	LevelEndpoint = "endpoint"
)

// SettingSource is where one effective setting came from: a level and the
// position of the value; Pos is zero for a built-in default.
type SettingSource struct {
	Level string
	Pos   Pos
}

// SettingSources are the sources of an endpoint's Settings, field by field.
type SettingSources struct {
	Timeout         SettingSource
	Samples         SettingSource
	DegradedLatency SettingSource
	CertMinDays     SettingSource
}
