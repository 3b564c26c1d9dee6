// Package report formats a probe.Report: one file per format, each a type
// with a constructor and a Render method behind the Renderer interface.
// Renderers only read the report; judging happened in package probe.
package report

import (
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// FailNever is the Options.FailOn value for --fail-on never: no status
// fails the run. It sorts after every real status, so "status >= FailOn"
// is never true.
const FailNever = probe.Unknown + 1

// Options are the choices a renderer takes from the command line and its IO.
type Options struct {
	// Color enables ANSI colors (table only). The caller decides it from its
	// IO (terminal, --no-color, NO_COLOR); renderers never look at the
	// process's stdout.
	Color bool
	// FailOn is the lowest status that fails the run, or FailNever. Only
	// junit reads it: a degraded endpoint is a <failure> when
	// FailOn <= probe.Degraded. The zero value (probe.Up) therefore behaves
	// like the CLI default, degraded. Down is a failure whatever FailOn says,
	// as the spec requires.
	FailOn probe.Status
	// Now is the clock, used only when the report carries no start time;
	// nil means time.Now.
	Now func() time.Time
	// Since, when set, tells the status of a service (endpoint "") or of
	// one of its endpoints as the state kept between rounds remembers it:
	// since when it holds and how many rounds in a row found it. Only
	// html reads it.
	Since func(service, endpoint string) (Held, bool)
}

// Held is a status as the state remembers it.
type Held struct {
	Status probe.Status
	Since  time.Time
	Rounds int
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Renderer writes a report in one format.
type Renderer interface {
	Render(w io.Writer, r *probe.Report) error
}

// Formats are the names New accepts, in the order help texts list them.
var Formats = []string{"table", "json", "csv", "markdown", "html", "junit", "prometheus", "nagios"}

// New returns the renderer for a format name.
func New(format string, opt Options) (Renderer, error) {
	switch format {
	case "table":
		return NewTable(opt), nil
	case "json":
		return NewJSON(opt), nil
	case "csv":
		return NewCSV(opt), nil
	case "markdown":
		return NewMarkdown(opt), nil
	case "html":
		return NewHTML(opt), nil
	case "junit":
		return NewJUnit(opt), nil
	case "prometheus":
		return NewPrometheus(opt), nil
	case "nagios":
		return NewNagios(opt), nil
	}
	return nil, fmt.Errorf("unknown format %q (valid: %s)", format, strings.Join(Formats, ", "))
}

// startedAt is the report's start time in UTC, falling back to the clock
// for a report built without one.
func startedAt(r *probe.Report, opt Options) time.Time {
	if r.StartedAt.IsZero() {
		return opt.now().UTC()
	}
	return r.StartedAt.UTC()
}

// endpointOf never returns nil, so that a result built by hand without its
// endpoint still renders.
func endpointOf(e *probe.EndpointResult) *probe.Endpoint {
	if e.Endpoint == nil {
		return &probe.Endpoint{}
	}
	return e.Endpoint
}

func serviceOf(s *probe.ServiceResult) *probe.Service {
	if s.Service == nil {
		return &probe.Service{}
	}
	return s.Service
}

// target is the endpoint's target with its secrets masked, because the
// spec forbids leaking credentials from the config. The loader masks them
// already (an endpoint it built has a URL); an Endpoint built elsewhere
// may not be.
func target(ep *probe.Endpoint) string {
	if ep.URL != nil {
		return ep.Target
	}
	return probe.MaskTarget(ep.Target)
}

// ms is a duration in milliseconds rounded to 0.1, the precision every
// format shows.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}

// formatFloat writes a float with as few digits as it needs: 42.3, 800.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// human is a duration for people: two or three significant digits.
func human(d time.Duration) string {
	switch {
	case d <= 0:
		return "0ms"
	// The bounds sit half a unit below the next one so that rounding never
	// shows "10.0ms" or "1000ms".
	case d < 9950*time.Microsecond:
		return strconv.FormatFloat(ms(d), 'f', 1, 64) + "ms"
	case d < 999500*time.Microsecond:
		return strconv.FormatInt(int64(math.Round(float64(d)/float64(time.Millisecond))), 10) + "ms"
	case d < 9995*time.Millisecond:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
}

// loss is failed/attempts, e.g. "1/3".
func loss(e *probe.EndpointResult) string {
	return strconv.Itoa(e.Failures) + "/" + strconv.Itoa(len(e.Attempts))
}

// p50 is the human median latency, "-" when no attempt succeeded.
func p50(e *probe.EndpointResult) string {
	if e.Latency == nil {
		return "-"
	}
	return human(e.Latency.P50)
}

// mainError is the most frequent error of an endpoint (the first one on a
// tie), or nil when no attempt failed.
func mainError(e *probe.EndpointResult) *probe.ErrorCount {
	var best *probe.ErrorCount
	for i := range e.Errors {
		if best == nil || e.Errors[i].Count > best.Count {
			best = &e.Errors[i]
		}
	}
	return best
}

func tlsVersion(v uint16) string { return tls.VersionName(v) }

// detail is the one-line explanation people read next to a status: the
// reason when there is one, otherwise what a healthy endpoint showed. An
// unverified certificate is always mentioned, because the spec wants
// skipped verification visible.
func detail(e *probe.EndpointResult) string {
	var parts []string
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	} else {
		if e.HTTPStatus != 0 {
			parts = append(parts, "HTTP "+strconv.Itoa(e.HTTPStatus))
		}
		if e.TLS != nil {
			parts = append(parts, tlsVersion(e.TLS.Version))
			if e.TLS.Verified {
				parts = append(parts, "cert "+strconv.Itoa(e.DaysLeft)+"d")
			}
		}
	}
	if e.TLS != nil && !e.TLS.Verified {
		parts = append(parts, "cert not verified")
	}
	return oneLine(strings.Join(parts, ", "))
}

// oneLine keeps line-oriented formats intact whatever an error message holds.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return strconv.Itoa(n) + " " + one
	}
	return strconv.Itoa(n) + " " + many
}

// endpointCount counts the endpoints of every service, controls excluded.
func endpointCount(r *probe.Report) int {
	n := 0
	for i := range r.Services {
		n += len(r.Services[i].Endpoints)
	}
	return n
}

// summaryLine is the one-line footer that table and markdown share:
// "4 services: 3 up, 1 degraded, 0 down, 0 unknown · 52 endpoints · 812ms".
func summaryLine(r *probe.Report) string {
	s := r.Summary
	parts := []string{
		fmt.Sprintf("%s: %d up, %d degraded, %d down, %d unknown",
			plural(len(r.Services), "service", "services"), s.Up, s.Degraded, s.Down, s.Unknown),
		plural(endpointCount(r), "endpoint", "endpoints"),
	}
	if len(r.Controls) > 0 {
		parts = append(parts, plural(len(r.Controls), "control", "controls"))
	}
	parts = append(parts, human(r.Duration))
	return strings.Join(parts, " · ")
}
