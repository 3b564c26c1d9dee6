package report

import (
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/msgprobe/msgprobe/probe"
)

// Prometheus renders the text exposition format that node_exporter's
// textfile collector reads. The metrics are built with client_golang and
// written by expfmt, so names, label escaping and ordering are the
// library's, not ours.
//
// Every endpoint series carries the labels service, endpoint, target and
// kind. Controls use service="(control)", as in the CSV and Nagios formats:
// one label set for every endpoint series keeps the families consistent,
// and a query excludes controls with service!="(control)".
//
// All values are gauges: each file describes one run, and a counter would
// restart at every run.
type Prometheus struct {
	opt Options
}

// NewPrometheus returns the Prometheus text renderer.
func NewPrometheus(opt Options) *Prometheus { return &Prometheus{opt: opt} }

var endpointLabels = []string{"service", "endpoint", "target", "kind"}

func with(labels []string, more ...string) []string {
	return append(append([]string(nil), labels...), more...)
}

var (
	promEndpointUp = prometheus.NewDesc("msgprobe_endpoint_up",
		"Whether at least one attempt at the endpoint succeeded (its status is up or degraded).",
		endpointLabels, nil)
	promEndpointStatus = prometheus.NewDesc("msgprobe_endpoint_status",
		"The endpoint's status: 1 for the series whose status label matches, 0 for the others.",
		with(endpointLabels, "status"), nil)
	promEndpointLatency = prometheus.NewDesc("msgprobe_endpoint_latency_seconds",
		"Total time of the successful attempts of the run: quantile 0 is the minimum, 0.5 the median, 0.95 the 95th percentile, 1 the maximum.",
		endpointLabels, nil)
	promEndpointPhase = prometheus.NewDesc("msgprobe_endpoint_phase_seconds",
		"Median time of one phase over the successful attempts; phases that did not happen are absent.",
		with(endpointLabels, "phase"), nil)
	promEndpointFailures = prometheus.NewDesc("msgprobe_endpoint_failures",
		"Failed attempts at the endpoint in the last run.",
		endpointLabels, nil)
	promEndpointAttempts = prometheus.NewDesc("msgprobe_endpoint_attempts",
		"Attempts at the endpoint in the last run.",
		endpointLabels, nil)
	promEndpointHTTPStatus = prometheus.NewDesc("msgprobe_endpoint_http_status_code",
		"The last HTTP status code the endpoint answered with.",
		endpointLabels, nil)
	promCertNotAfter = prometheus.NewDesc("msgprobe_tls_cert_not_after_timestamp_seconds",
		"Expiry of the endpoint's leaf certificate, in seconds since the Unix epoch.",
		endpointLabels, nil)
	promServiceStatus = prometheus.NewDesc("msgprobe_service_status",
		"The service's status: 1 for the series whose status label matches, 0 for the others.",
		[]string{"service", "status"}, nil)
	promServiceUp = prometheus.NewDesc("msgprobe_service_up",
		"Whether the service is usable (its status is up or degraded).",
		[]string{"service"}, nil)
	promRunDuration = prometheus.NewDesc("msgprobe_run_duration_seconds",
		"How long the run took.", nil, nil)
	promLastRun = prometheus.NewDesc("msgprobe_last_run_timestamp_seconds",
		"When the run finished, in seconds since the Unix epoch.", nil, nil)
	promRunStatus = prometheus.NewDesc("msgprobe_run_status",
		"The overall status of the run: 1 for the series whose status label matches, 0 for the others.",
		[]string{"status"}, nil)
)

var promDescs = []*prometheus.Desc{
	promEndpointUp, promEndpointStatus, promEndpointLatency, promEndpointPhase,
	promEndpointFailures, promEndpointAttempts, promEndpointHTTPStatus, promCertNotAfter,
	promServiceStatus, promServiceUp, promRunDuration, promLastRun, promRunStatus,
}

var allStatuses = []probe.Status{probe.Up, probe.Degraded, probe.Down, probe.Unknown}

// Render writes the exposition text.
func (p *Prometheus) Render(w io.Writer, r *probe.Report) error {
	// A private registry: the process-wide default one would add Go runtime
	// metrics that have nothing to do with the probed services. The pedantic
	// registry also checks that every metric collected was described.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(&promCollector{r: r, opt: p.opt}); err != nil {
		return err
	}
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}

// promCollector turns one report into constant metrics.
type promCollector struct {
	r   *probe.Report
	opt Options
}

func (c *promCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range promDescs {
		ch <- d
	}
}

func (c *promCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	r := c.r
	// Two endpoints with the same labels would make Gather fail and the
	// whole file go unwritten; the first one is kept instead.
	seen := map[string]bool{}
	endpoint := func(service string, e *probe.EndpointResult) {
		ep := endpointOf(e)
		labels := []string{service, ep.Name, target(ep), string(ep.Kind)}
		key := strings.Join(labels, "\x00")
		if seen[key] {
			return
		}
		seen[key] = true
		gauge(promEndpointUp, boolValue(e.Failures < len(e.Attempts)), labels...)
		for _, st := range allStatuses {
			gauge(promEndpointStatus, boolValue(e.Status == st), with(labels, st.String())...)
		}
		if l := e.Latency; l != nil {
			// A summary, not gauges with a quantile label: promtool's lint
			// (and so `promtool check metrics`) rejects the latter.
			var sum float64
			var n uint64
			for _, a := range e.Attempts {
				if a.Failure == nil {
					sum += a.Timings.Total.Seconds()
					n++
				}
			}
			ch <- prometheus.MustNewConstSummary(promEndpointLatency, n, sum, map[float64]float64{
				0: l.Min.Seconds(), 0.5: l.P50.Seconds(), 0.95: l.P95.Seconds(), 1: l.Max.Seconds(),
			}, labels...)
			for _, ph := range []struct {
				name string
				d    time.Duration
			}{
				{"dns", e.Phases.DNS}, {"connect", e.Phases.Connect}, {"tls", e.Phases.TLS},
				{"ttfb", e.Phases.TTFB}, {"total", e.Phases.Total},
			} {
				if ph.d != 0 {
					gauge(promEndpointPhase, ph.d.Seconds(), with(labels, ph.name)...)
				}
			}
		}
		gauge(promEndpointFailures, float64(e.Failures), labels...)
		gauge(promEndpointAttempts, float64(len(e.Attempts)), labels...)
		if e.HTTPStatus != 0 {
			gauge(promEndpointHTTPStatus, float64(e.HTTPStatus), labels...)
		}
		if e.TLS != nil && !e.TLS.NotAfter.IsZero() {
			gauge(promCertNotAfter, unixSeconds(e.TLS.NotAfter), labels...)
		}
	}

	seenService := map[string]bool{}
	for i := range r.Services {
		s := &r.Services[i]
		name := serviceOf(s).Name
		for j := range s.Endpoints {
			endpoint(name, &s.Endpoints[j])
		}
		if seenService[name] {
			continue
		}
		seenService[name] = true
		for _, st := range allStatuses {
			gauge(promServiceStatus, boolValue(s.Status == st), name, st.String())
		}
		gauge(promServiceUp, boolValue(s.Status == probe.Up || s.Status == probe.Degraded), name)
	}
	for j := range r.Controls {
		endpoint(csvControl, &r.Controls[j])
	}

	gauge(promRunDuration, r.Duration.Seconds())
	gauge(promLastRun, unixSeconds(startedAt(r, c.opt).Add(r.Duration)))
	for _, st := range allStatuses {
		gauge(promRunStatus, boolValue(r.Status == st), st.String())
	}
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
