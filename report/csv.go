package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// CSV renders one row per endpoint, service first, for spreadsheets and
// scripts. Controls come after the services with the service "(control)",
// a name no service can take without the parentheses looking deliberate.
// The last row is the run's diagnosis, service "(diagnosis)": its code in
// the endpoint column, the run's status, and its sentence as the reason, so
// that a spreadsheet user finds it by filtering the first column. Lines end
// in CRLF, as RFC 4180 says and spreadsheets expect.
type CSV struct{ opt Options }

// NewCSV returns the CSV renderer.
func NewCSV(opt Options) *CSV { return &CSV{opt: opt} }

// csvDiagnosis is the service column of the diagnosis row.
const csvDiagnosis = "(diagnosis)"

// csvControl is the service column of control rows.
const csvControl = "(control)"

var csvHeader = []string{
	"service", "endpoint", "target", "kind", "status", "critical",
	"p50_ms", "p95_ms", "failures", "attempts", "http_status",
	"class", "phase", "reason", "status_since",
}

// Render writes the header and the rows.
func (c *CSV) Render(w io.Writer, r *probe.Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for i := range r.Services {
		s := &r.Services[i]
		for j := range s.Endpoints {
			if err := cw.Write(csvRow(serviceOf(s).Name, &s.Endpoints[j])); err != nil {
				return err
			}
		}
	}
	for j := range r.Controls {
		if err := cw.Write(csvRow(csvControl, &r.Controls[j])); err != nil {
			return err
		}
	}
	if d := r.Diagnosis; d.Code != "" {
		row := make([]string, len(csvHeader))
		row[0], row[1], row[4], row[13] = csvDiagnosis, d.Code, r.Status.String(), oneLine(d.Message)
		row[14] = startedAt(r, c.opt).Format(time.RFC3339)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRow leaves a measurement's cell empty when it was not taken, so that a
// spreadsheet does not average in zeros.
func csvRow(service string, e *probe.EndpointResult) []string {
	ep := endpointOf(e)
	var p50ms, p95ms, httpStatus, class, phase string
	if l := e.Latency; l != nil {
		p50ms, p95ms = formatFloat(msData(l.P50)), formatFloat(msData(l.P95))
	}
	if e.HTTPStatus != 0 {
		httpStatus = strconv.Itoa(e.HTTPStatus)
	}
	if ec := mainError(e); ec != nil {
		class, phase = string(ec.Class), string(ec.Phase)
	}
	return []string{
		service, ep.Name, target(ep), string(ep.Kind), e.Status.String(),
		strconv.FormatBool(ep.Critical), p50ms, p95ms,
		strconv.Itoa(e.Failures), strconv.Itoa(len(e.Attempts)), httpStatus,
		class, phase, oneLine(e.Reason), spanStamp(e.Span),
	}
}
