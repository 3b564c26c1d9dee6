package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// JUnit renders a <testsuite> per service and a <testcase> per endpoint, the
// shape CI systems (GitHub, GitLab, Jenkins) show as test results. Down is
// a failure; degraded is a failure only when FailOn is degraded or lower;
// unknown is skipped, since nothing about the service was learnt. Controls
// make their own suite, "controls", after the services.
type JUnit struct {
	opt Options
}

// NewJUnit returns the JUnit renderer.
func NewJUnit(opt Options) *JUnit { return &JUnit{opt: opt} }

// junitControls is the suite name and class name of the controls.
const junitControls = "controls"

type junitSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	// Skipped is counted per suite only: the JUnit schema Jenkins' xunit
	// plugin validates by has no skipped attribute on <testsuites>.
	Skipped int          `xml:"-"`
	Time    string       `xml:"time,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string `xml:"name,attr"`
	Tests     int    `xml:"tests,attr"`
	Failures  int    `xml:"failures,attr"`
	Errors    int    `xml:"errors,attr"`
	Skipped   int    `xml:"skipped,attr"`
	Time      string `xml:"time,attr"`
	Timestamp string `xml:"timestamp,attr"`
	// Properties carry the run's diagnosis and since when the service's
	// status holds, for the person reading the CI report.
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`

	seconds float64
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`

	seconds float64
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Details string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// suiteProperties are the diagnosis of the run and the service's span.
func suiteProperties(r *probe.Report, s *probe.ServiceResult) *junitProperties {
	var p junitProperties
	if d := r.Diagnosis; d.Code != "" {
		p.Property = append(p.Property,
			junitProperty{"diagnosis", d.Code},
			junitProperty{"diagnosis_message", oneLine(d.Message)})
	}
	if s != nil {
		p.Property = append(p.Property, junitProperty{"status", s.Status.String()})
		if since := spanStamp(s.Span); since != "" {
			p.Property = append(p.Property, junitProperty{"status_since", since})
		}
	}
	if len(p.Property) == 0 {
		return nil
	}
	return &p
}

// add appends a case and keeps the suite's counts and time in step with its
// cases; nothing else writes them.
func (s *junitSuite) add(c junitCase) {
	s.Cases = append(s.Cases, c)
	s.Tests++
	if c.Failure != nil {
		s.Failures++
	}
	if c.Skipped != nil {
		s.Skipped++
	}
	s.seconds += c.seconds
	s.Time = junitSeconds(s.seconds)
}

// add appends a suite and adds its counts to the totals.
func (ss *junitSuites) add(s junitSuite) {
	ss.Suites = append(ss.Suites, s)
	ss.Tests += s.Tests
	ss.Failures += s.Failures
	ss.Errors += s.Errors
	ss.Skipped += s.Skipped
}

// Render writes the XML document.
func (j *JUnit) Render(w io.Writer, r *probe.Report) error {
	stamp := startedAt(r, j.opt).Format(time.RFC3339)
	out := junitSuites{Name: "msgprobe", Time: junitSeconds(r.Duration.Seconds())}
	for i := range r.Services {
		s := &r.Services[i]
		name := serviceOf(s).Name
		suite := junitSuite{Name: name, Time: junitSeconds(0), Timestamp: stamp, Properties: suiteProperties(r, s)}
		for k := range s.Endpoints {
			e := &s.Endpoints[k]
			c := j.testCase(name, e, r.Note)
			if s.Status == probe.Unknown {
				// The verdict on the service is withheld (its endpoints'
				// failures are likely the local network's), so a CI job
				// must not count them as the service failing. Each case
				// says its own reason, then why it was not judged.
				c.Failure, c.SystemOut = nil, ""
				why := firstNonEmpty(r.Note, s.Reason, "unknown")
				msg := why
				if e.Reason != "" && e.Reason != why {
					msg = e.Reason + " (not judged: " + why + ")"
				}
				c.Skipped = &junitSkipped{Message: oneLine(msg)}
			}
			suite.add(c)
		}
		out.add(suite)
	}
	if len(r.Controls) > 0 {
		suite := junitSuite{Name: junitControls, Time: junitSeconds(0), Timestamp: stamp, Properties: suiteProperties(r, nil)}
		for k := range r.Controls {
			suite.add(j.testCase(junitControls, &r.Controls[k], r.Note))
		}
		out.add(suite)
	}
	body, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, xml.Header+string(body)+"\n")
	return err
}

func (j *JUnit) testCase(class string, e *probe.EndpointResult, note string) junitCase {
	// Attempts run one after another, so their totals add up to the time
	// this endpoint took.
	var spent time.Duration
	for _, a := range e.Attempts {
		spent += a.Timings.Total
	}
	c := junitCase{
		Name:      endpointOf(e).Name,
		Classname: class,
		Time:      junitSeconds(spent.Seconds()),
		seconds:   spent.Seconds(),
	}
	reason := oneLine(e.Reason)
	switch {
	case e.Status == probe.Down, e.Status == probe.Degraded && j.opt.FailOn <= probe.Degraded:
		if reason == "" {
			reason = e.Status.String()
		}
		typ := e.Status.String()
		if ec := mainError(e); ec != nil {
			typ = string(ec.Class)
		}
		c.Failure = &junitFailure{Message: reason, Type: typ, Details: junitDetails(e)}
	case e.Status == probe.Unknown:
		c.Skipped = &junitSkipped{Message: oneLine(firstNonEmpty(reason, note, "unknown"))}
	case e.Status == probe.Degraded:
		// Not a failure under this --fail-on, but the reason must not be lost.
		c.SystemOut = "degraded: " + reason + "\n" + junitDetails(e)
	}
	return c
}

// junitDetails is the body of a failure: what was probed and every distinct
// error, one per line, for the person reading the CI log.
func junitDetails(e *probe.EndpointResult) string {
	ep := endpointOf(e)
	var b strings.Builder
	fmt.Fprintf(&b, "target: %s\nkind: %s\nattempts: %d, failed: %d\n", target(ep), ep.Kind, len(e.Attempts), e.Failures)
	if e.Latency != nil {
		fmt.Fprintf(&b, "latency p50: %s, p95: %s\n", human(e.Latency.P50), human(e.Latency.P95))
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, "http status: %d\n", e.HTTPStatus)
	}
	for _, ec := range e.Errors {
		fmt.Fprintf(&b, "%s at %s (%dx): %s\n", ec.Class, ec.Phase, ec.Count, oneLine(ec.Message))
	}
	return b.String()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func junitSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
