package report

import (
	"strconv"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// Since when: every format shows, for a service or endpoint whose status the
// kept state saw begin (or has seen for more than one run), how long it
// has held, and for one that recovered, when it did. The table and
// Markdown read "down 14m (since 09:38)"; JSON, CSV and JUnit carry the
// time itself; Prometheus a timestamp.

// statusSince is a status as the table shows it: "down 14m (since
// 09:38)" for one that is not up, "up 3m (since 09:52)" for one that
// recovered, the bare status otherwise (no state kept, or seen for the
// first time, when the state knows only "at least since now").
func statusSince(st probe.Status, sp probe.Span, at time.Time) string {
	if !showSpan(st, sp) {
		return st.String()
	}
	return st.String() + " " + spanAge(at.Sub(sp.Since)) + " (since " + clock(sp.Since, at) + ")"
}

// showSpan says whether a status's span is worth showing: not for a status
// seen for the first time (the state knows only "at least since now"), nor
// for one that began this very run (the change's own line below the table
// says it, and "down 0s" says nothing).
func showSpan(st probe.Status, sp probe.Span) bool {
	if !sp.Known || sp.Since.IsZero() || sp.Runs < 2 {
		return false
	}
	if st == probe.Up {
		return sp.Changed && sp.Previous != probe.Up
	}
	return true
}

// spanAge is a duration in the two largest units people use for an outage:
// "45s", "14m", "2h5m", "3d4h".
func spanAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return strconv.Itoa(h) + "h" + strconv.Itoa(m) + "m"
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + "d"
	}
	return strconv.Itoa(days) + "d" + strconv.Itoa(h) + "h"
}

// spanStamp is the span's start in RFC 3339 UTC, "" when it has none.
func spanStamp(sp probe.Span) string {
	if !sp.Known || sp.Since.IsZero() {
		return ""
	}
	return sp.Since.UTC().Format(time.RFC3339)
}

// reportTime is when the run started, the clock a span is measured by.
func reportTime(r *probe.Report, opt Options) time.Time {
	if r.StartedAt.IsZero() {
		return opt.now()
	}
	return r.StartedAt
}
