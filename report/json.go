package report

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// JSON renders the report in the stable shape of the spec (version 1).
// Measurements that were not taken are omitted rather than written as zero,
// so a consumer can tell "0 ms" from "not measured".
type JSON struct {
	opt Options
}

// NewJSON returns the JSON renderer.
func NewJSON(opt Options) *JSON { return &JSON{opt: opt} }

// jsonVersion is the version of the JSON shape; it changes only when a
// field changes meaning or disappears.
const jsonVersion = 1

type jsonReport struct {
	Version    int            `json:"version"`
	StartedAt  string         `json:"started_at"`
	DurationMS float64        `json:"duration_ms"`
	Status     probe.Status   `json:"status"`
	Summary    jsonSummary    `json:"summary"`
	Note       string         `json:"note"`
	Diagnosis  jsonDiagnosis  `json:"diagnosis"` // always present: "ok" is an answer too
	Controls   []jsonEndpoint `json:"controls"`
	Services   []jsonService  `json:"services"`
	// Transitions is present only when state is kept between runs.
	Transitions *[]jsonTransition `json:"transitions,omitempty"`
}

type jsonDiagnosis struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type jsonSummary struct {
	Up       int `json:"up"`
	Degraded int `json:"degraded"`
	Down     int `json:"down"`
	Unknown  int `json:"unknown"`
}

type jsonService struct {
	Name      string         `json:"name"`
	Status    probe.Status   `json:"status"`
	Reason    string         `json:"reason"`
	Tags      []string       `json:"tags"`
	Endpoints []jsonEndpoint `json:"endpoints"`
}

type jsonEndpoint struct {
	Name       string       `json:"name"`
	Target     string       `json:"target"`
	Kind       probe.Kind   `json:"kind"`
	Role       string       `json:"role,omitempty"`
	Status     probe.Status `json:"status"`
	Critical   bool         `json:"critical"`
	Reason     string       `json:"reason"`
	Attempts   int          `json:"attempts"`
	Failures   int          `json:"failures"`
	LatencyMS  *jsonLatency `json:"latency_ms,omitempty"`
	PhasesMS   *jsonPhases  `json:"phases_ms,omitempty"`
	Errors     []jsonError  `json:"errors,omitempty"`
	HTTPStatus int          `json:"http_status,omitempty"`
	Redirect   string       `json:"redirect,omitempty"`
	TLS        *jsonTLS     `json:"tls,omitempty"`
	// Protocol holds what the endpoint's protocol learnt: SASL
	// mechanisms, a certificate chain's fields, a round-trip time.
	Protocol map[string]any `json:"protocol,omitempty"`
}

type jsonLatency struct {
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// jsonPhases uses pointers because a phase that did not happen (no DNS for
// an IP literal, no TLS for tcp://) must be absent, while a measured phase
// that rounds to 0.0 must still show.
type jsonPhases struct {
	DNS     *float64 `json:"dns,omitempty"`
	Connect *float64 `json:"connect,omitempty"`
	TLS     *float64 `json:"tls,omitempty"`
	TTFB    *float64 `json:"ttfb,omitempty"`
	Total   *float64 `json:"total,omitempty"`
	// steps are the protocol phases (upgrade, handshake, ...), written
	// after the fixed ones in the order they happened.
	steps []probe.Step
}

// MarshalJSON writes the fixed phases, then the protocol's own.
func (p *jsonPhases) MarshalJSON() ([]byte, error) {
	type fixed jsonPhases
	b, err := json.Marshal((*fixed)(p))
	if err != nil || len(p.steps) == 0 {
		return b, err
	}
	buf := bytes.NewBuffer(b[:len(b)-1])
	for i, s := range p.steps {
		if i > 0 || len(b) > 2 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(string(s.Phase))
		buf.Write(name)
		buf.WriteByte(':')
		buf.WriteString(strconv.FormatFloat(ms(s.D), 'f', -1, 64))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

type jsonError struct {
	Class   probe.Class `json:"class"`
	Phase   probe.Phase `json:"phase"`
	Message string      `json:"message"`
	Count   int         `json:"count"`
}

type jsonTLS struct {
	Version  string `json:"version"`
	NotAfter string `json:"not_after"`
	DaysLeft int    `json:"days_left"`
	Subject  string `json:"subject,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	Verified bool   `json:"verified"`
}

// Render writes the report as indented JSON with a trailing newline.
func (j *JSON) Render(w io.Writer, r *probe.Report) error {
	out := jsonReport{
		Version:    jsonVersion,
		StartedAt:  startedAt(r, j.opt).Format(time.RFC3339),
		DurationMS: ms(r.Duration),
		Status:     r.Status,
		Summary: jsonSummary{
			Up:       r.Summary.Up,
			Degraded: r.Summary.Degraded,
			Down:     r.Summary.Down,
			Unknown:  r.Summary.Unknown,
		},
		Note:        r.Note,
		Diagnosis:   jsonDiagnosis{Code: r.Diagnosis.Code, Message: r.Diagnosis.Message},
		Controls:    jsonEndpoints(r.Controls),
		Transitions: jsonTransitions(r),
	}
	// The services are built and written one at a time (json_stream.go).
	return encodeJSON(w, out, r)
}

// jsonEndpoints never returns nil, so that an empty list is [] and not null.
func jsonEndpoints(results []probe.EndpointResult) []jsonEndpoint {
	out := make([]jsonEndpoint, 0, len(results))
	for i := range results {
		out = append(out, jsonEndpointOf(&results[i]))
	}
	return out
}

func jsonEndpointOf(e *probe.EndpointResult) jsonEndpoint {
	ep := endpointOf(e)
	out := jsonEndpoint{
		Name:       ep.Name,
		Target:     target(ep),
		Kind:       ep.Kind,
		Role:       ep.Role,
		Status:     e.Status,
		Critical:   ep.Critical,
		Reason:     e.Reason,
		Attempts:   len(e.Attempts),
		Failures:   e.Failures,
		HTTPStatus: e.HTTPStatus,
		Redirect:   e.Redirect,
		Protocol:   e.Details,
	}
	if l := e.Latency; l != nil {
		out.LatencyMS = &jsonLatency{Min: ms(l.Min), P50: ms(l.P50), P95: ms(l.P95), Max: ms(l.Max)}
		out.PhasesMS = jsonPhasesOf(e.Phases)
	}
	for _, ec := range e.Errors {
		out.Errors = append(out.Errors, jsonError{Class: ec.Class, Phase: ec.Phase, Message: ec.Message, Count: ec.Count})
	}
	if t := e.TLS; t != nil {
		out.TLS = &jsonTLS{
			Version:  tlsVersion(t.Version),
			NotAfter: t.NotAfter.UTC().Format(time.RFC3339),
			DaysLeft: e.DaysLeft,
			Subject:  t.Subject,
			Issuer:   t.Issuer,
			Verified: t.Verified,
		}
	}
	return out
}

func jsonPhasesOf(t probe.Timings) *jsonPhases {
	opt := func(d time.Duration) *float64 {
		if d == 0 {
			return nil
		}
		v := ms(d)
		return &v
	}
	p := &jsonPhases{DNS: opt(t.DNS), Connect: opt(t.Connect), TLS: opt(t.TLS), TTFB: opt(t.TTFB), Total: opt(t.Total), steps: t.Steps}
	if p.DNS == nil && p.Connect == nil && p.TLS == nil && p.TTFB == nil && p.Total == nil && len(p.steps) == 0 {
		return nil
	}
	return p
}
