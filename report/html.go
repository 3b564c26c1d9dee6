package report

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// HTML renders a status page: one self-contained document (its style
// inline, no script, no request for anything else) that a person reads on
// a desktop or a phone, in light or dark mode. Each service shows its
// status as a word and a sign (a colour alone says nothing to a
// colour-blind reader or a printer), its reason, since when its status
// holds, the verdict of each function, the latency of each endpoint and,
// when a History is given, the statuses of its last rounds. The run's
// diagnosis heads the page.
//
// The colours mean what they mean in the table: up green, degraded
// yellow, down red, unknown magenta. Every string of the report goes
// through html/template, which escapes it for where it lands.
type HTML struct {
	opt  Options
	page Page
}

// Page are the choices of a live page that a one-shot report does not
// have; the zero value is the page `check -f html` writes.
type Page struct {
	// Vantage names where the probes ran from, shown in the title.
	Vantage string
	// Refresh, when positive, asks the browser to load the page again
	// after that long (a meta refresh, not a script): serve's interval.
	Refresh time.Duration
	// History, when set, is shown per service: the statuses of its last
	// rounds, newest last.
	History *History
}

// NewHTML returns the renderer of `-f html`.
func NewHTML(opt Options) *HTML { return &HTML{opt: opt} }

// NewHTMLPage returns the renderer of a live page.
func NewHTMLPage(opt Options, p Page) *HTML { return &HTML{opt: opt, page: p} }

// Render writes the page. It is built in memory first, so that a failure
// never leaves half a page.
func (h *HTML) Render(w io.Writer, r *probe.Report) error {
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, h.view(r)); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// History keeps the statuses of the last rounds for a live page. It is
// safe for concurrent use: a round loop adds while a handler renders.
type History struct {
	mu     sync.Mutex
	max    int
	rounds []HistoryRound // oldest first
}

// HistoryRound is what a page remembers of one round: when it started,
// its status and the status of each service by name.
type HistoryRound struct {
	At       time.Time
	Status   probe.Status
	Services map[string]probe.Status
}

// NewHistory keeps the last n rounds (at least one).
func NewHistory(n int) *History { return &History{max: max(n, 1)} }

// Add remembers a round, forgetting the oldest beyond the bound.
func (h *History) Add(r *probe.Report) {
	hr := HistoryRound{At: r.StartedAt, Status: r.Status, Services: make(map[string]probe.Status, len(r.Services))}
	for i := range r.Services {
		name := serviceOf(&r.Services[i]).Name
		if _, dup := hr.Services[name]; !dup {
			hr.Services[name] = r.Services[i].Status
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.rounds) == h.max {
		copy(h.rounds, h.rounds[1:])
		h.rounds = h.rounds[:h.max-1]
	}
	h.rounds = append(h.rounds, hr)
}

// Rounds are the remembered rounds, oldest first. The slice is a copy;
// the maps are shared and never modified.
func (h *History) Rounds() []HistoryRound {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HistoryRound(nil), h.rounds...)
}

// The view: what the template shows, every value a string or a flag, so
// that the template decides nothing.

type htmlView struct {
	Title     string
	Refresh   int // seconds; 0: no refresh
	Status    htmlStatus
	Diagnosis *htmlDiagnosis
	Note      string
	Summary   string
	Started   string // RFC 3339, for <time>
	StartedAt string // as people read it
	Changes   []string
	Services  []htmlService
	Controls  []htmlEndpoint
	Rounds    int // rounds of history shown; 0: none
}

type htmlDiagnosis struct{ Code, Message string }

// htmlStatus is a status as the page shows it: the word, the sign that
// stands beside it and the class that colours both.
type htmlStatus struct {
	Word, Sign, Class string
}

type htmlService struct {
	Name      string
	Tags      string
	Status    htmlStatus
	Reason    string
	Since     string
	Functions []htmlFunction
	Endpoints []htmlEndpoint
	History   []htmlHistoryCell
	HistLine  string // the history in words: "9 up, 1 down"
}

type htmlFunction struct {
	Name   string
	Status htmlStatus
	Count  string // "2/2 up"
	Note   string // "critical"
}

type htmlEndpoint struct {
	Name    string
	Target  string
	Status  htmlStatus
	Latency string
	P95     string
	Phases  string
	Loss    string
	Detail  string
}

type htmlHistoryCell struct {
	Status htmlStatus
	Title  string // "09:37 UTC: down"
}

var htmlSigns = [...]string{probe.Up: "✓", probe.Degraded: "!", probe.Down: "✕", probe.Unknown: "?"}

func statusView(s probe.Status) htmlStatus {
	if s < probe.Up || s > probe.Unknown {
		return htmlStatus{Word: s.String(), Sign: htmlSigns[probe.Unknown], Class: "s-unknown"}
	}
	return htmlStatus{Word: s.String(), Sign: htmlSigns[s], Class: "s-" + s.String()}
}

// pageTime is how the page writes a time: in UTC, said so, since the
// reader's zone is not the prober's; with the date when it is not the
// round's day.
func pageTime(t, ref time.Time) string {
	return clock(t.UTC(), ref.UTC()) + " UTC"
}

func (h *HTML) view(r *probe.Report) *htmlView {
	at := startedAt(r, h.opt)
	v := &htmlView{
		Title:     "msgprobe",
		Status:    statusView(r.Status),
		Note:      oneLine(r.Note),
		Summary:   summaryLine(r),
		Started:   at.Format(time.RFC3339),
		StartedAt: at.Format("2006-01-02 15:04:05 UTC"),
	}
	if h.page.Vantage != "" {
		v.Title += " · " + h.page.Vantage
	}
	if h.page.Refresh > 0 {
		v.Refresh = max(1, int(h.page.Refresh.Round(time.Second)/time.Second))
	}
	if d := r.Diagnosis; d.Code != "" {
		v.Diagnosis = &htmlDiagnosis{Code: d.Code, Message: oneLine(d.Message)}
	}
	if v.Note == r.Diagnosis.Message {
		v.Note = "" // the diagnosis says it already
	}
	for _, t := range Changes(r) {
		v.Changes = append(v.Changes, TransitionLine(t, at))
	}
	rounds := h.page.History.Rounds()
	v.Rounds = len(rounds)
	for i := range r.Services {
		v.Services = append(v.Services, h.serviceView(r, &r.Services[i], at, rounds))
	}
	for i := range r.Controls {
		v.Controls = append(v.Controls, endpointView(&r.Controls[i]))
	}
	return v
}

func (h *HTML) serviceView(r *probe.Report, s *probe.ServiceResult, at time.Time, rounds []HistoryRound) htmlService {
	svc := serviceOf(s)
	out := htmlService{
		Name:   oneLine(svc.Name),
		Tags:   oneLine(strings.Join(svc.Tags, ", ")),
		Status: statusView(s.Status),
		Reason: oneLine(s.Reason),
		Since:  h.since(r, svc.Name, s.Status, at),
	}
	for _, f := range s.Functions {
		fv := htmlFunction{Name: oneLine(f.Name), Status: statusView(f.Status), Count: strconv.Itoa(f.Up) + "/" + strconv.Itoa(f.Total) + " up"}
		if f.Critical {
			fv.Note = "critical"
		}
		out.Functions = append(out.Functions, fv)
	}
	for i := range s.Endpoints {
		out.Endpoints = append(out.Endpoints, endpointView(&s.Endpoints[i]))
	}
	if len(rounds) > 0 {
		var counts [probe.Unknown + 2]int
		for _, hr := range rounds {
			st, ok := hr.Services[svc.Name]
			cell := htmlHistoryCell{Status: statusView(st)}
			if !ok {
				cell.Status = htmlStatus{Word: "not probed", Sign: "·", Class: "s-none"}
				counts[probe.Unknown+1]++
			} else if st >= probe.Up && st <= probe.Unknown {
				counts[st]++
			}
			cell.Title = pageTime(hr.At, at) + ": " + cell.Status.Word
			out.History = append(out.History, cell)
		}
		var parts []string
		for st := probe.Up; st <= probe.Unknown; st++ {
			if counts[st] > 0 {
				parts = append(parts, strconv.Itoa(counts[st])+" "+st.String())
			}
		}
		if n := counts[probe.Unknown+1]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" not probed")
		}
		out.HistLine = strings.Join(parts, ", ")
	}
	return out
}

// since says since when the service's status holds: from the state kept
// between rounds when it remembers this status (it keeps the last known
// one through a round that judged the service unknown), else from the
// round's own transition, else nothing (a one-shot check without --state
// cannot know).
func (h *HTML) since(r *probe.Report, service string, st probe.Status, at time.Time) string {
	if h.opt.Since != nil {
		if held, ok := h.opt.Since(service, ""); ok && held.Status == st {
			return st.String() + " since " + pageTime(held.Since, at) + " (" + plural(held.Rounds, "round", "rounds") + ")"
		}
	}
	for _, t := range r.Transitions {
		if t.Service == service && t.Endpoint == "" && t.To == st {
			return st.String() + " since this round (" + t.From.String() + " before, since " + pageTime(t.Since, at) + ")"
		}
	}
	return ""
}

func endpointView(e *probe.EndpointResult) htmlEndpoint {
	ep := endpointOf(e)
	v := htmlEndpoint{
		Name:    oneLine(ep.Name),
		Target:  oneLine(target(ep)),
		Status:  statusView(e.Status),
		Latency: p50(e),
		Loss:    loss(e),
		Detail:  detail(e),
	}
	if e.Latency != nil {
		v.P95 = "p95 " + human(e.Latency.P95)
		var phases []string
		for _, p := range []struct {
			name string
			d    time.Duration
		}{{"dns", e.Phases.DNS}, {"connect", e.Phases.Connect}, {"tls", e.Phases.TLS}, {"ttfb", e.Phases.TTFB}} {
			if p.d > 0 {
				phases = append(phases, p.name+" "+human(p.d))
			}
		}
		for _, s := range e.Phases.Steps {
			if s.D > 0 {
				phases = append(phases, oneLine(string(s.Phase))+" "+human(s.D))
			}
		}
		v.Phases = strings.Join(phases, " · ")
	}
	return v
}

//go:embed html.tmpl
var htmlTemplate string

var htmlPage = template.Must(template.New("status").Parse(htmlTemplate))
