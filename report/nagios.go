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
// The state word follows the overall status exactly as the exit code does
// (up OK, degraded WARNING, down CRITICAL, unknown UNKNOWN). Perfdata has
// the p50 latency of every endpoint that had a successful attempt, with the
// endpoint's degraded_latency as the warning threshold; controls are
// labelled "(control)/name".
type Nagios struct{}

// NewNagios returns the Nagios plugin renderer.
func NewNagios(Options) *Nagios { return &Nagios{} }

var nagiosState = [...]string{
	probe.Up:       "OK",
	probe.Degraded: "WARNING",
	probe.Down:     "CRITICAL",
	probe.Unknown:  "UNKNOWN",
}

// Render writes the status line.
func (*Nagios) Render(w io.Writer, r *probe.Report) error {
	state := nagiosState[probe.Unknown]
	if r.Status >= 0 && int(r.Status) < len(nagiosState) {
		state = nagiosState[r.Status]
	}
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
	if e.Latency == nil {
		return perf
	}
	ep := endpointOf(e)
	label := nagiosLabel(service + "/" + ep.Name)
	warn := ""
	if ep.DegradedLatency > 0 {
		warn = formatFloat(ms(ep.DegradedLatency))
	}
	return append(perf, label+"="+formatFloat(ms(e.Latency.P50))+"ms;"+warn+";;0")
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
