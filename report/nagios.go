package report

import (
	"io"
	"strings"

	"github.com/msgprobe/msgprobe/probe"
)

// Nagios renders the one-line output of a monitoring plugin:
//
//	MSGPROBE WARNING - 1 degraded: Signal | 'WhatsApp/web'=42.3ms;800;;0 ...
//
// The state word is the exit code's, whatever --fail-on says: a monitoring
// system reads the exit code, a person the word, and the two must agree.
// With the default --fail-on, up is OK, degraded WARNING, down CRITICAL;
// --fail-on down makes degraded OK, --fail-on never makes everything but
// unknown OK; unknown is always UNKNOWN (exit 3). The text after the dash
// names what is not up in any case. Perfdata has the p50 latency of every
// endpoint, with the endpoint's degraded_latency as the warning threshold;
// an endpoint with no successful attempt keeps its label with the value U
// (undetermined), so that its graph shows a gap rather than vanishing.
// Controls are labelled "(control)/name".
type Nagios struct{ opt Options }

// NewNagios returns the Nagios plugin renderer.
func NewNagios(opt Options) *Nagios { return &Nagios{opt: opt} }

var nagiosState = [...]string{
	probe.Up:       "OK",
	probe.Degraded: "WARNING",
	probe.Down:     "CRITICAL",
	probe.Unknown:  "UNKNOWN",
}

// Render writes the status line.
func (n *Nagios) Render(w io.Writer, r *probe.Report) error {
	state := nagiosState[ExitStatus(r.Status, n.opt.FailOn)]
	var b strings.Builder
	b.WriteString("MSGPROBE " + state + " - " + nagiosText(nagiosSummary(r)))
	var perf []string
	for i := range r.Services {
		s := &r.Services[i]
		for j := range s.Endpoints {
			perf = appendPerf(perf, serviceOf(s).Name, &s.Endpoints[j])
		}
	}
	for j := range r.Controls {
		perf = appendPerf(perf, csvControl, &r.Controls[j])
	}
	if len(perf) > 0 {
		b.WriteString(" | " + strings.Join(perf, " "))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// nagiosSummary names the services that are not up, worst first, so that
// the part a pager shows first is the part that matters.
func nagiosSummary(r *probe.Report) string {
	if r.Status == probe.Unknown {
		// The services were not judged because of this machine's network:
		// why is the whole message.
		switch d := r.Diagnosis; d.Code {
		case probe.DiagLocalNetwork, probe.DiagLocalDNS, probe.DiagIntercepted:
			return d.Code + ": " + d.Message
		}
		if r.Note != "" {
			return r.Note
		}
	}
	var groups []string
	for _, st := range []probe.Status{probe.Unknown, probe.Down, probe.Degraded} {
		var names []string
		for i := range r.Services {
			if r.Services[i].Status == st {
				names = append(names, serviceOf(&r.Services[i]).Name)
			}
		}
		if len(names) > 0 {
			groups = append(groups, plural(len(names), st.String(), st.String())+": "+strings.Join(names, ", "))
		}
	}
	if len(groups) == 0 {
		return plural(len(r.Services), "service", "services") + " up"
	}
	return strings.Join(groups, "; ")
}

func appendPerf(perf []string, service string, e *probe.EndpointResult) []string {
	ep := endpointOf(e)
	label := nagiosLabel(service + "/" + ep.Name)
	if e.Latency == nil {
		return append(perf, label+"=U")
	}
	warn := ""
	if ep.DegradedLatency > 0 {
		warn = formatFloat(msData(ep.DegradedLatency))
	}
	return append(perf, label+"="+formatFloat(msData(e.Latency.P50))+"ms;"+warn+";;0")
}

// ExitStatus is the status the exit code stands for under failOn (a
// status, or FailNever): the status itself when it fails the run or is
// unknown, up otherwise. msgprobe check exits with its code (0 up, 1
// degraded, 2 down, 3 unknown); the nagios format prints its word.
func ExitStatus(st probe.Status, failOn probe.Status) probe.Status {
	switch {
	case st < probe.Up || st >= probe.Unknown:
		return probe.Unknown
	case st == probe.Up, st < failOn:
		return probe.Up
	}
	return st
}

// nagiosLabel quotes a perfdata label. The plugin guidelines allow any
// character but '=' and a quote, which is written twice; '|' would end the
// text part for some parsers and a line break would end the output, so
// those are replaced.
func nagiosLabel(s string) string {
	s = nagiosLabelReplacer.Replace(oneLine(s))
	return "'" + s + "'"
}

var nagiosLabelReplacer = strings.NewReplacer("'", "''", "=", "_", "|", "/")

// nagiosText keeps the human part on one line and free of the perfdata
// separator.
func nagiosText(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", "/")
}
