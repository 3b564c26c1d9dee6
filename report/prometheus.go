package report

import (
	"bufio"
	"cmp"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// Prometheus renders the text exposition format (version 0.0.4) that
// node_exporter's textfile collector reads.
//
// It writes the text itself, family by family, instead of building the
// metrics with client_golang and encoding them with expfmt: on a fleet of
// 10,000 endpoints the library took half a second and 200 MB to hold every
// series as a protobuf before writing the first byte, and linking it slowed
// every start of the binary. The output is what those libraries wrote, byte
// for byte (a test checks it against them): families in name order, series
// in the order of their label values taken by label name, expfmt's escaping
// and number formatting.
//
// Every endpoint series carries the labels service, endpoint, target and
// kind. Controls use service="(control)", as in the CSV and Nagios formats:
// one label set for every endpoint series keeps the families consistent,
// and a query excludes controls with service!="(control)".
//
// Two endpoints with the same four labels, or two services with the same
// name, would be duplicate series, which Prometheus rejects along with the
// whole file; the first one in the report is written and the others are
// left out. Label values that are not valid UTF-8 have the bad bytes
// replaced by U+FFFD, since the format is UTF-8.
//
// All values are gauges, except the latency summary: each file describes
// one run, and a counter would restart at every run.
type Prometheus struct {
	opt Options
}

// NewPrometheus returns the Prometheus text renderer.
func NewPrometheus(opt Options) *Prometheus { return &Prometheus{opt: opt} }

// promFamily is the header of one metric family.
type promFamily struct {
	name, typ, help string
}

// The families, in the name order expfmt writes them in; Render follows
// this order.
var (
	promDiagnosis = promFamily{"msgprobe_diagnosis", "gauge",
		"Whose fault the run's failures are, named by the code label (ok when no service is down); the value is always 1."}
	promEndpointAttempts = promFamily{"msgprobe_endpoint_attempts", "gauge",
		"Attempts at the endpoint in the last run."}
	promEndpointFailures = promFamily{"msgprobe_endpoint_failures", "gauge",
		"Failed attempts at the endpoint in the last run."}
	promEndpointHTTPStatus = promFamily{"msgprobe_endpoint_http_status_code", "gauge",
		"The last HTTP status code the endpoint answered with."}
	promEndpointLatency = promFamily{"msgprobe_endpoint_latency_seconds", "summary",
		"Total time of the successful attempts of the run: quantile 0 is the minimum, 0.5 the median, 0.95 the 95th percentile, 1 the maximum."}
	promEndpointPhase = promFamily{"msgprobe_endpoint_phase_seconds", "gauge",
		"Median time of one phase over the successful attempts; phases that did not happen are absent."}
	promEndpointStatus = promFamily{"msgprobe_endpoint_status", "gauge",
		"The endpoint's status: 1 for the series whose status label matches, 0 for the others."}
	promEndpointUp = promFamily{"msgprobe_endpoint_up", "gauge",
		"Whether at least one attempt at the endpoint succeeded (its status is up or degraded)."}
	promLastRun = promFamily{"msgprobe_last_run_timestamp_seconds", "gauge",
		"When the run finished, in seconds since the Unix epoch."}
	promRunDuration = promFamily{"msgprobe_run_duration_seconds", "gauge",
		"How long the run took."}
	promRunStatus = promFamily{"msgprobe_run_status", "gauge",
		"The overall status of the run: 1 for the series whose status label matches, 0 for the others."}
	promServiceStatus = promFamily{"msgprobe_service_status", "gauge",
		"The service's status: 1 for the series whose status label matches, 0 for the others."}
	promServiceUp = promFamily{"msgprobe_service_up", "gauge",
		"Whether the service is usable (its status is up or degraded)."}
	promCertNotAfter = promFamily{"msgprobe_tls_cert_not_after_timestamp_seconds", "gauge",
		"Expiry of the endpoint's leaf certificate, in seconds since the Unix epoch."}
)

// promFamilies lists the families in the order Render writes them, for the
// test that keeps it the name order.
var promFamilies = []*promFamily{
	&promDiagnosis, &promEndpointAttempts, &promEndpointFailures, &promEndpointHTTPStatus,
	&promEndpointLatency, &promEndpointPhase, &promEndpointStatus, &promEndpointUp,
	&promLastRun, &promRunDuration, &promRunStatus, &promServiceStatus, &promServiceUp,
	&promCertNotAfter,
}

// promStatuses are the statuses in the order of their names, the order of
// the series that differ only by their status label.
var promStatuses = sortedByName([]probe.Status{probe.Up, probe.Degraded, probe.Down, probe.Unknown}, probe.Status.String)

// promPhase is one phase of msgprobe_endpoint_phase_seconds.
type promPhase struct {
	name string
	of   func(*probe.Timings) time.Duration
}

var promPhases = sortedByName([]promPhase{
	{"dns", func(t *probe.Timings) time.Duration { return t.DNS }},
	{"connect", func(t *probe.Timings) time.Duration { return t.Connect }},
	{"tls", func(t *probe.Timings) time.Duration { return t.TLS }},
	{"ttfb", func(t *probe.Timings) time.Duration { return t.TTFB }},
	{"total", func(t *probe.Timings) time.Duration { return t.Total }},
}, func(p promPhase) string { return p.name })

func sortedByName[T any](s []T, name func(T) string) []T {
	slices.SortFunc(s, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return s
}

// promEndpoint is an endpoint with its label values, valid UTF-8 but not
// yet escaped: series are sorted by the values themselves.
type promEndpoint struct {
	endpoint, kind, service, target string
	e                               *probe.EndpointResult
}

// compare orders endpoints as client_golang orders their series: by label
// values, the labels taken in name order.
func (a *promEndpoint) compare(b *promEndpoint) int {
	return cmp.Or(
		strings.Compare(a.endpoint, b.endpoint),
		strings.Compare(a.kind, b.kind),
		strings.Compare(a.service, b.service),
		strings.Compare(a.target, b.target),
	)
}

type promService struct {
	name string
	s    *probe.ServiceResult
}

// Render writes the exposition text.
func (p *Prometheus) Render(w io.Writer, r *probe.Report) error {
	eps := promEndpointsOf(r)
	svcs := promServicesOf(r)
	o := &promWriter{w: bufio.NewWriterSize(w, 64<<10)}

	if code := r.Diagnosis.Code; code != "" {
		o.start(&promDiagnosis)
		o.series("")
		o.label(true, "code", validUTF8(code))
		o.value("} ", 1)
	}

	o.start(&promEndpointAttempts)
	for i := range eps {
		o.endpoint(&eps[i], "", "", "")
		o.value("} ", float64(len(eps[i].e.Attempts)))
	}
	o.start(&promEndpointFailures)
	for i := range eps {
		o.endpoint(&eps[i], "", "", "")
		o.value("} ", float64(eps[i].e.Failures))
	}
	o.start(&promEndpointHTTPStatus)
	for i := range eps {
		if code := eps[i].e.HTTPStatus; code != 0 {
			o.endpoint(&eps[i], "", "", "")
			o.value("} ", float64(code))
		}
	}

	o.start(&promEndpointLatency)
	for i := range eps {
		ep := &eps[i]
		l := ep.e.Latency
		if l == nil {
			continue
		}
		for _, q := range []struct {
			label string
			d     time.Duration
		}{{"0", l.Min}, {"0.5", l.P50}, {"0.95", l.P95}, {"1", l.Max}} {
			o.endpoint(ep, "", "quantile", q.label)
			o.value("} ", q.d.Seconds())
		}
		// In attempt order, so that the float sum is the same every time.
		var sum float64
		var n uint64
		for _, a := range ep.e.Attempts {
			if a.Failure == nil {
				sum += a.Timings.Total.Seconds()
				n++
			}
		}
		o.endpoint(ep, "_sum", "", "")
		o.value("} ", sum)
		o.endpoint(ep, "_count", "", "")
		o.w.WriteString("} ")
		o.w.Write(strconv.AppendUint(o.w.AvailableBuffer(), n, 10))
		o.w.WriteByte('\n')
	}

	// The phase label sorts between kind and service: the series of the
	// endpoints that share an endpoint name and kind interleave by phase.
	o.start(&promEndpointPhase)
	for _, group := range groupBy(eps, func(a, b *promEndpoint) bool {
		return a.endpoint == b.endpoint && a.kind == b.kind
	}) {
		for _, ph := range promPhases {
			for i := range group {
				ep := &group[i]
				if ep.e.Latency == nil {
					continue
				}
				if d := ph.of(&ep.e.Phases); d != 0 {
					o.endpoint(ep, "", "phase", ph.name)
					o.value("} ", d.Seconds())
				}
			}
		}
		// The protocol's own phases follow the fixed ones, sorted by name.
		for _, name := range stepNames(group) {
			for i := range group {
				ep := &group[i]
				if ep.e.Latency == nil {
					continue
				}
				for _, s := range ep.e.Phases.Steps {
					if string(s.Phase) == name && s.D != 0 {
						o.endpoint(ep, "", "phase", validUTF8(name))
						o.value("} ", s.D.Seconds())
					}
				}
			}
		}
	}

	// The status label sorts between service and target.
	o.start(&promEndpointStatus)
	for _, group := range groupBy(eps, func(a, b *promEndpoint) bool {
		return a.endpoint == b.endpoint && a.kind == b.kind && a.service == b.service
	}) {
		for _, st := range promStatuses {
			for i := range group {
				o.endpoint(&group[i], "", "status", st.String())
				o.value("} ", boolValue(group[i].e.Status == st))
			}
		}
	}

	o.start(&promEndpointUp)
	for i := range eps {
		o.endpoint(&eps[i], "", "", "")
		o.value("} ", boolValue(eps[i].e.Failures < len(eps[i].e.Attempts)))
	}

	o.start(&promLastRun)
	o.series("")
	o.value(" ", unixSeconds(startedAt(r, p.opt).Add(r.Duration)))
	o.start(&promRunDuration)
	o.series("")
	o.value(" ", r.Duration.Seconds())
	o.start(&promRunStatus)
	for _, st := range promStatuses {
		o.series("")
		o.label(true, "status", st.String())
		o.value("} ", boolValue(r.Status == st))
	}

	o.start(&promServiceStatus)
	for _, s := range svcs {
		for _, st := range promStatuses {
			o.series("")
			o.label(true, "service", s.name)
			o.label(false, "status", st.String())
			o.value("} ", boolValue(s.s.Status == st))
		}
	}
	o.start(&promServiceUp)
	for _, s := range svcs {
		o.series("")
		o.label(true, "service", s.name)
		o.value("} ", boolValue(s.s.Status == probe.Up || s.s.Status == probe.Degraded))
	}

	o.start(&promCertNotAfter)
	for i := range eps {
		if t := eps[i].e.TLS; t != nil && !t.NotAfter.IsZero() {
			o.endpoint(&eps[i], "", "", "")
			o.value("} ", unixSeconds(t.NotAfter))
		}
	}

	// bufio.Writer keeps its first error, so one check covers every write.
	return o.w.Flush()
}

// promEndpointsOf collects the endpoints and controls in series order,
// without duplicates.
func promEndpointsOf(r *probe.Report) []promEndpoint {
	n := len(r.Controls)
	for i := range r.Services {
		n += len(r.Services[i].Endpoints)
	}
	eps := make([]promEndpoint, 0, n)
	add := func(service string, e *probe.EndpointResult) {
		ep := endpointOf(e)
		eps = append(eps, promEndpoint{
			endpoint: validUTF8(ep.Name),
			kind:     validUTF8(string(ep.Kind)),
			service:  service,
			target:   validUTF8(target(ep)),
			e:        e,
		})
	}
	for i := range r.Services {
		s := &r.Services[i]
		name := validUTF8(serviceOf(s).Name)
		for j := range s.Endpoints {
			add(name, &s.Endpoints[j])
		}
	}
	for j := range r.Controls {
		add(csvControl, &r.Controls[j])
	}
	// Stable, so that compacting keeps the first of equal endpoints.
	slices.SortStableFunc(eps, func(a, b promEndpoint) int { return a.compare(&b) })
	return slices.CompactFunc(eps, func(a, b promEndpoint) bool { return a.compare(&b) == 0 })
}

// promServicesOf collects the services in name order, the first of each
// name only.
func promServicesOf(r *probe.Report) []promService {
	svcs := make([]promService, len(r.Services))
	for i := range r.Services {
		svcs[i] = promService{validUTF8(serviceOf(&r.Services[i]).Name), &r.Services[i]}
	}
	slices.SortStableFunc(svcs, func(a, b promService) int { return strings.Compare(a.name, b.name) })
	return slices.CompactFunc(svcs, func(a, b promService) bool { return a.name == b.name })
}

// groupBy splits sorted endpoints into runs of neighbours that same says
// are alike.
func groupBy(eps []promEndpoint, same func(a, b *promEndpoint) bool) [][]promEndpoint {
	var groups [][]promEndpoint
	for start := 0; start < len(eps); {
		end := start + 1
		for end < len(eps) && same(&eps[start], &eps[end]) {
			end++
		}
		groups = append(groups, eps[start:end])
		start = end
	}
	return groups
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// promWriter writes the lines of the exposition text. A family's HELP and
// TYPE lines wait for its first series, because expfmt leaves out families
// without series and so do we.
type promWriter struct {
	w      *bufio.Writer
	fam    *promFamily
	headed bool
}

func (o *promWriter) start(f *promFamily) { o.fam, o.headed = f, false }

// series writes the metric name of the family, followed by suffix, and the
// family's header before its first series.
func (o *promWriter) series(suffix string) {
	if !o.headed {
		o.headed = true
		o.w.WriteString("# HELP ")
		o.w.WriteString(o.fam.name)
		o.w.WriteByte(' ')
		writeEscaped(o.w, o.fam.help, false)
		o.w.WriteString("\n# TYPE ")
		o.w.WriteString(o.fam.name)
		o.w.WriteByte(' ')
		o.w.WriteString(o.fam.typ)
		o.w.WriteByte('\n')
	}
	o.w.WriteString(o.fam.name)
	o.w.WriteString(suffix)
}

// label writes one name="value" pair, opening the braces for the first.
func (o *promWriter) label(first bool, name, value string) {
	if first {
		o.w.WriteByte('{')
	} else {
		o.w.WriteByte(',')
	}
	o.w.WriteString(name)
	o.w.WriteString(`="`)
	writeEscaped(o.w, value, true)
	o.w.WriteByte('"')
}

// endpoint starts a series of an endpoint family: the name with suffix and
// the four endpoint labels, with extra="value" merged in by name, as
// client_golang sorts label names. The quantile of a summary is not a
// label there and expfmt writes it after the others, so it goes last.
func (o *promWriter) endpoint(ep *promEndpoint, suffix, extra, value string) {
	o.series(suffix)
	labels := [...]struct{ name, value string }{
		{"endpoint", ep.endpoint}, {"kind", ep.kind}, {"service", ep.service}, {"target", ep.target},
	}
	first := true
	for _, l := range labels {
		if extra != "" && extra != "quantile" && extra < l.name {
			o.label(first, extra, value)
			first, extra = false, ""
		}
		o.label(first, l.name, l.value)
		first = false
	}
	if extra != "" {
		o.label(false, extra, value)
	}
}

// value ends a series line: sep (the closing brace, if any, and a space),
// the value and the newline.
func (o *promWriter) value(sep string, v float64) {
	o.w.WriteString(sep)
	o.w.Write(appendPromFloat(o.w.AvailableBuffer(), v))
	o.w.WriteByte('\n')
}

// appendPromFloat formats v as expfmt does: the shortest representation
// that reads back exactly, with Prometheus's spelling of the infinities
// and NaN (strconv says +Inf, -Inf and NaN too; the cases are spelled out
// so that the format does not rest on that) and 0 for negative zero.
func appendPromFloat(b []byte, v float64) []byte {
	switch {
	case v == 0:
		return append(b, '0')
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writeEscaped writes s with backslashes and newlines escaped, and double
// quotes too in a label value; HELP text leaves them as they are.
func writeEscaped(w *bufio.Writer, s string, quotes bool) {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '"':
			if !quotes {
				continue
			}
			esc = `\"`
		default:
			continue
		}
		w.WriteString(s[start:i])
		w.WriteString(esc)
		start = i + 1
	}
	w.WriteString(s[start:])
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds keeps millisecond precision, which is what Prometheus
// timestamps carry, so that nanosecond noise does not fill the last digits.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// stepNames are the protocol phases measured in a group of endpoints, sorted,
// without the names of the fixed phases.
func stepNames(group []promEndpoint) []string {
	var names []string
	for i := range group {
		for _, s := range group[i].e.Phases.Steps {
			n := string(s.Phase)
			if !slices.Contains(names, n) && !slices.ContainsFunc(promPhases, func(p promPhase) bool { return p.name == n }) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}
