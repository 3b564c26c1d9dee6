package main

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// exporter is serve's state shared by the round loop and the HTTP
// handlers: the last completed round, the process's own metrics and the
// configuration reload.
type exporter struct {
	opts *serveOptions
	loop *round.Loop
	log  *slog.Logger

	gatherer prometheus.Gatherer
	metrics  *serveMetrics

	// probes bounds the /probe requests in flight: each one probes, and a
	// scraper gone wrong must not turn serve into a load generator.
	probes chan struct{}

	mu   sync.Mutex
	last *round.Result
}

// maxProbesInFlight bounds the concurrent /probe requests; more get 503.
const maxProbesInFlight = 16

// serveMetrics are the families serve adds to the report's: how the rounds
// go and what the config declares.
type serveMetrics struct {
	roundDuration  prometheus.Gauge
	roundTimestamp prometheus.Gauge
	roundSuccess   prometheus.Gauge
	rounds         prometheus.Counter
	overruns       prometheus.Counter
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
}

func newExporter(opts *serveOptions, loop *round.Loop, log *slog.Logger) *exporter {
	e := &exporter{opts: opts, loop: loop, log: log, probes: make(chan struct{}, maxProbesInFlight)}
	reg := prometheus.NewRegistry()
	var r prometheus.Registerer = reg
	if opts.Vantage != "" {
		r = prometheus.WrapRegistererWith(prometheus.Labels{"vantage": opts.Vantage}, reg)
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		r.MustRegister(g)
		return g
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		r.MustRegister(c)
		return c
	}
	e.metrics = &serveMetrics{
		roundDuration:  gauge("msgprobe_round_duration_seconds", "How long the last completed round took."),
		roundTimestamp: gauge("msgprobe_round_timestamp_seconds", "When the last completed round ended, in seconds since the Unix epoch."),
		roundSuccess:   gauge("msgprobe_round_success", "Whether the last completed round probed every endpoint before its deadline and wrote its state (1) or not (0); says nothing of the services' statuses."),
		rounds:         counter("msgprobe_rounds_total", "Rounds completed since serve started."),
		overruns:       counter("msgprobe_round_overruns_total", "Rounds that took longer than --interval, so that the next one started late; rounds never overlap."),
		reloadOK:       gauge("msgprobe_config_last_reload_successful", "Whether the last configuration reload (SIGHUP) succeeded."),
		reloadTime:     gauge("msgprobe_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded, in seconds since the Unix epoch."),
	}
	e.metrics.reloadOK.Set(1)
	e.metrics.reloadTime.SetToCurrentTime()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &configCollector{e})
	e.gatherer = reg
	return e
}

// publish is the loop's sink: the round becomes the one /metrics serves.
func (e *exporter) publish(r *round.Result) error {
	e.mu.Lock()
	e.last = r
	e.mu.Unlock()
	return nil
}

func (e *exporter) lastRound() *round.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// roundDone logs a round and its transitions and updates the round
// metrics. A round whose files could not be written is logged and the next
// one tries again: an exporter does not stop for that.
func (e *exporter) roundDone(r *round.Result, err error) error {
	rep := r.Report
	ok := err == nil && r.Cause == nil
	m := e.metrics
	m.roundDuration.Set(rep.Duration.Seconds())
	m.roundTimestamp.Set(float64(rep.StartedAt.Add(rep.Duration).UnixNano()) / 1e9)
	m.roundSuccess.Set(boolFloat(ok))
	m.rounds.Inc()
	if rep.Duration > e.opts.Interval {
		m.overruns.Inc()
		e.log.Warn("the round took longer than the interval; the next starts now", "round", r.Round, "duration", rep.Duration.String(), "interval", e.opts.Interval.String())
	}
	if err != nil {
		e.log.Error("round not recorded", "round", r.Round, "err", err.Error())
	}
	for _, t := range rep.Transitions {
		attrs := []any{"service", t.Service}
		if t.Endpoint != "" {
			attrs = append(attrs, "endpoint", t.Endpoint)
		}
		attrs = append(attrs, "from", t.From.String(), "to", t.To.String(), "since", t.Since.Format(time.RFC3339), "runs", t.Runs)
		if t.Reason != "" && t.To != probe.Up {
			attrs = append(attrs, "reason", t.Reason)
		}
		e.log.Info("status changed", attrs...)
	}
	s := rep.Summary
	attrs := []any{"round", r.Round, "started", rep.StartedAt.Format(time.RFC3339Nano), "duration", rep.Duration.String(),
		"status", rep.Status.String(), "diagnosis", rep.Diagnosis.Code,
		"up", s.Up, "degraded", s.Degraded, "down", s.Down, "unknown", s.Unknown}
	if r.Cause != nil {
		attrs = append(attrs, "cut_short", r.Cause.Error())
	}
	e.log.Info("round", attrs...)
	return nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reload reads the config again (SIGHUP). A config that does not load
// keeps the running one; the next round probes the new one.
func (e *exporter) reload(io *IO) {
	cfg, err := loadServeConfig(e.opts, io)
	if err != nil {
		e.metrics.reloadOK.Set(0)
		e.log.Error("config reload failed, keeping the previous config", "err", strings.TrimRight(err.Error(), "\n"))
		return
	}
	e.loop.SetConfig(cfg)
	e.metrics.reloadOK.Set(1)
	e.metrics.reloadTime.SetToCurrentTime()
	e.log.Info("config reloaded", "services", len(cfg.Services), "endpoints", round.EndpointTotal(cfg))
}

// configCollector exports what the config declares about the services of
// the last round, as info series a rule joins on: the function each
// endpoint serves (its role, or the endpoint itself when it has none, as
// the verdict counts it) and the tags of each service.
type configCollector struct{ e *exporter }

var (
	endpointInfoDesc = prometheus.NewDesc("msgprobe_endpoint_info",
		"The function (role) an endpoint of the last round serves; endpoints without a role are a function of their own. Always 1.",
		[]string{"service", "endpoint", "function"}, nil)
	serviceTagDesc = prometheus.NewDesc("msgprobe_service_tag_info",
		"One series per tag of a service of the last round. Always 1.",
		[]string{"service", "tag"}, nil)
)

func (c *configCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- endpointInfoDesc
	ch <- serviceTagDesc
}

func (c *configCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.e.lastRound()
	if r == nil {
		return
	}
	valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	// Duplicates would fail the whole scrape; the first one wins, as in
	// the report's own families.
	tags, eps := map[[2]string]bool{}, map[[2]string]bool{}
	for i := range r.Report.Services {
		s := &r.Report.Services[i]
		if s.Service == nil {
			continue
		}
		name := valid(s.Service.Name)
		for _, tag := range s.Service.Tags {
			if k := [2]string{name, valid(tag)}; !tags[k] {
				tags[k] = true
				ch <- prometheus.MustNewConstMetric(serviceTagDesc, prometheus.GaugeValue, 1, name, k[1])
			}
		}
		for j := range s.Endpoints {
			ep := s.Endpoints[j].Endpoint
			if ep == nil {
				continue
			}
			fn := ep.Role
			if fn == "" {
				fn = ep.Name
			}
			if k := [2]string{name, valid(ep.Name)}; !eps[k] {
				eps[k] = true
				ch <- prometheus.MustNewConstMetric(endpointInfoDesc, prometheus.GaugeValue, 1, name, k[1], valid(fn))
			}
		}
	}
}

// handler routes serve's endpoints. ctx is serve's: its end cancels the
// /probe requests in flight, so that a stop is never held up by them.
func (e *exporter) handler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) { e.serveProbe(ctx, w, r) })
	mux.HandleFunc("GET /{$}", e.serveStatus)
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	}
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /-/healthy", ok)
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if e.lastRound() == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: the first round has not completed\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// serveMetrics writes serve's own families, then the last round in the
// families of `check -f prometheus`, streamed as the renderer writes them.
func (e *exporter) serveMetrics(w http.ResponseWriter, r *http.Request) {
	mfs, err := e.gatherer.Gather()
	if err != nil {
		e.log.Error("gathering metrics", "err", err.Error())
		http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", string(textFormat))
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := expfmt.NewEncoder(bw, textFormat)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the scraper went away
		}
	}
	if last := e.lastRound(); last != nil {
		if err := probeRenderer.Render(e.labelled(bw), last.Report); err != nil {
			return
		}
	}
	bw.Flush()
}

// labelled adds the vantage label to every series written through it,
// when --vantage asks for one.
func (e *exporter) labelled(w io.Writer) io.Writer {
	if e.opts.Vantage == "" {
		return w
	}
	return newLabelWriter(w, "vantage", e.opts.Vantage)
}

// defaultScrapeTimeout is /probe's bound when the request does not carry
// Prometheus's X-Prometheus-Scrape-Timeout-Seconds: Prometheus's own
// default scrape timeout.
const defaultScrapeTimeout = 10 * time.Second

// serveProbe probes one configured service (or one of its endpoints) now:
// the multi-target exporter pattern, without its hole. Only the names of
// the config are accepted; any other parameter, target= above all, is a
// 400 before anything is dialled, so that /probe can never be made to
// connect where a query says.
func (e *exporter) serveProbe(serveCtx context.Context, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "service" && k != "endpoint" {
			msg := fmt.Sprintf("unknown parameter %q: /probe takes service= and endpoint=, names from the config", k)
			if k == "target" || k == "module" {
				msg = fmt.Sprintf("%s= is not accepted: /probe probes the services of the config only, named by service= (and endpoint=)", k)
			}
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
	}
	if len(q["service"]) != 1 || len(q["endpoint"]) > 1 {
		http.Error(w, "give one service= (and at most one endpoint=), names from the config", http.StatusBadRequest)
		return
	}
	name, epName := q.Get("service"), q.Get("endpoint")
	cfg := e.loop.Config()
	i := slices.IndexFunc(cfg.Services, func(s *probe.Service) bool { return strings.EqualFold(s.Name, name) })
	if i < 0 {
		http.Error(w, fmt.Sprintf("no service named %q in the config", name), http.StatusBadRequest)
		return
	}
	svc := *cfg.Services[i]
	if q.Has("endpoint") {
		j := slices.IndexFunc(svc.Endpoints, func(ep *probe.Endpoint) bool { return ep.Name == epName })
		if j < 0 {
			http.Error(w, fmt.Sprintf("no endpoint named %q in service %q", epName, svc.Name), http.StatusBadRequest)
			return
		}
		svc.Endpoints = svc.Endpoints[j : j+1]
	}
	timeout := defaultScrapeTimeout
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 || s > 3600 {
			http.Error(w, fmt.Sprintf("invalid X-Prometheus-Scrape-Timeout-Seconds %q", v), http.StatusBadRequest)
			return
		}
		timeout = time.Duration(s * float64(time.Second))
	}
	timeout -= e.opts.ProbeOffset
	if timeout <= 0 {
		http.Error(w, "the scrape timeout leaves no time to probe after --probe.timeout-offset", http.StatusBadRequest)
		return
	}

	select {
	case e.probes <- struct{}{}:
		defer func() { <-e.probes }()
	default:
		http.Error(w, fmt.Sprintf("%d probes already in flight", maxProbesInFlight), http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(serveCtx, cancel)()

	one := round.New(&probe.Config{Services: []*probe.Service{&svc}, Resolver: cfg.Resolver})
	one.Concurrency = e.opts.Concurrency
	one.Network = e.loop.Network
	one.Resolver = e.loop.Resolver
	one.Deadline = timeout
	res := one.Probe(ctx)
	rep := res.Report
	e.log.Debug("probe", "service", svc.Name, "endpoint", epName, "status", rep.Status.String(), "duration", rep.Duration.String())

	w.Header().Set("Content-Type", string(textFormat))
	bw := bufio.NewWriterSize(w, 16<<10)
	lw := e.labelled(bw)
	fmt.Fprintf(lw, "# HELP msgprobe_probe_duration_seconds How long the probe took.\n# TYPE msgprobe_probe_duration_seconds gauge\nmsgprobe_probe_duration_seconds %s\n",
		strconv.FormatFloat(rep.Duration.Seconds(), 'g', -1, 64))
	fmt.Fprintf(lw, "# HELP msgprobe_probe_success Whether the service is usable (up or degraded).\n# TYPE msgprobe_probe_success gauge\nmsgprobe_probe_success %g\n",
		boolFloat(rep.Status == probe.Up || rep.Status == probe.Degraded))
	if err := probeRenderer.Render(lw, rep); err != nil {
		return
	}
	bw.Flush()
}

// serveStatus is the page a person looks at: the HTML report when this
// build has one, else a plain summary of the last round.
func (e *exporter) serveStatus(w http.ResponseWriter, r *http.Request) {
	last := e.lastRound()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if last != nil && slices.Contains(report.Formats, "html") {
		if h, err := report.New("html", report.Options{}); err == nil {
			h.Render(w, last.Report)
			return
		}
	}
	data := statusData{Vantage: e.opts.Vantage}
	if last != nil {
		rep := last.Report
		data.Done = true
		data.At = rep.StartedAt.Add(rep.Duration).Format(time.RFC3339)
		data.Status = rep.Status.String()
		data.Diagnosis = rep.Diagnosis.Message
		for i := range rep.Services {
			s := &rep.Services[i]
			if s.Service != nil {
				data.Services = append(data.Services, statusRow{s.Service.Name, s.Status.String(), s.Reason})
			}
		}
	}
	statusPage.Execute(w, data)
}

type statusData struct {
	Vantage, At, Status, Diagnosis string
	Done                           bool
	Services                       []statusRow
}

type statusRow struct{ Name, Status, Reason string }

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>msgprobe{{with .Vantage}} · {{.}}{{end}}</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem}td,th{padding:.2rem .6rem;text-align:left}
.up{color:#1a7f37}.degraded{color:#9a6700}.down{color:#cf222e}.unknown{color:#6e7781}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}.up{color:#3fb950}.degraded{color:#d29922}.down{color:#f85149}}</style>
</head><body>
<h1>msgprobe{{with .Vantage}} · {{.}}{{end}}</h1>
{{if .Done}}<p>Last round ended {{.At}}: <strong class="{{.Status}}">{{.Status}}</strong>{{with .Diagnosis}} — {{.}}{{end}}</p>
<table><tr><th>service</th><th>status</th><th>reason</th></tr>
{{range .Services}}<tr><td>{{.Name}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>No round has completed yet.</p>{{end}}
<p><a href="metrics">/metrics</a> · <a href="-/ready">/-/ready</a></p>
</body></html>
`))
