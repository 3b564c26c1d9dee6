package report

import (
	"strings"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// Changes are the transitions worth a line for people: every service that
// changed, and the endpoints that changed inside a service that did not
// (when the service changed too, its own line already tells the news).
func Changes(r *probe.Report) []probe.Transition {
	changed := map[string]bool{}
	for _, t := range r.Transitions {
		if t.Endpoint == "" {
			changed[t.Service] = true
		}
	}
	var out []probe.Transition
	for _, t := range r.Transitions {
		if t.Endpoint == "" || !changed[t.Service] {
			out = append(out, t)
		}
	}
	return out
}

// TransitionLine is one change as people read it, at is when the run that
// found it started:
//
//	Signal: up → down (up since 09:38, 3 runs): chat: 2/2 attempts refused at connect
//	Signal/chat: down → up (down since 2026-11-24 22:10, 41 runs)
//
// The time is shown in at's time zone, with the date only when it is not
// at's day; the reason follows when the new status is not up.
func TransitionLine(t probe.Transition, at time.Time) string {
	var b strings.Builder
	b.WriteString(oneLine(t.Service))
	if t.Endpoint != "" {
		b.WriteString("/" + oneLine(t.Endpoint))
	}
	b.WriteString(": " + t.From.String() + " → " + t.To.String())
	b.WriteString(" (" + t.From.String() + " since " + clock(t.Since, at) + ", " + plural(t.Runs, "run", "runs") + ")")
	if t.To != probe.Up && t.Reason != "" {
		b.WriteString(": " + oneLine(t.Reason))
	}
	return b.String()
}

// clock is a time of day, with the date in front when it is not the same
// day as ref.
func clock(t, ref time.Time) string {
	if ref.IsZero() {
		ref = time.Now()
	}
	t = t.In(ref.Location())
	y1, m1, d1 := t.Date()
	y2, m2, d2 := ref.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// changeLines are the lines the table and quiet runs print for the
// report's changes.
func changeLines(r *probe.Report, opt Options) []string {
	var out []string
	at := r.StartedAt
	if at.IsZero() {
		at = opt.now()
	}
	for _, t := range Changes(r) {
		out = append(out, TransitionLine(t, at))
	}
	return out
}

type jsonTransition struct {
	Service  string       `json:"service"`
	Endpoint string       `json:"endpoint,omitempty"`
	From     probe.Status `json:"from"`
	To       probe.Status `json:"to"`
	Since    string       `json:"since"`
	Runs     int          `json:"runs"`
	Reason   string       `json:"reason,omitempty"`
}

// jsonTransitions is nil when no state was kept, so the field is absent,
// and an empty list when nothing changed.
func jsonTransitions(r *probe.Report) *[]jsonTransition {
	if r.Transitions == nil {
		return nil
	}
	out := make([]jsonTransition, 0, len(r.Transitions))
	for _, t := range r.Transitions {
		out = append(out, jsonTransition{
			Service: t.Service, Endpoint: t.Endpoint, From: t.From, To: t.To,
			Since: t.Since.UTC().Format(time.RFC3339), Runs: t.Runs, Reason: t.Reason,
		})
	}
	return &out
}
