package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// stateSince reads since when a status holds from the loop's state, for
// the status page: the state is advanced before the report files are
// written, so it speaks of the round being rendered. Nothing is known
// when no state is kept (check without --state).
func stateSince(loop *round.Loop) func(service, endpoint string) (report.Held, bool) {
	return func(service, endpoint string) (report.Held, bool) {
		st := loop.State()
		if st == nil {
			return report.Held{}, false
		}
		e := st.Services[service]
		if e != nil && endpoint != "" {
			e = e.Endpoints[endpoint]
		}
		if e == nil {
			return report.Held{}, false
		}
		return report.Held{Status: e.Status, Since: e.Since, Rounds: e.Runs}, true
	}
}

// pageHistoryRounds is how many rounds of history serve's page shows per
// service: an hour at the default interval.
const pageHistoryRounds = 60

// liveStatusPage is serve's / : the last recorded round as the html report
// renders it, with since when each status holds (from the loop's state)
// and the statuses of the last rounds. It is a round.Sink, fed by the
// loop, and an http.Handler.
type liveStatusPage struct {
	html    *report.HTML
	history *report.History

	mu   sync.Mutex
	last *probe.Report

	// The page of the last round, rendered once for every request until
	// the next round: a reader hammering / costs no more than one render
	// per round (a 10,000-endpoint page takes about half a second).
	renderMu sync.Mutex
	pageOf   *probe.Report
	page     []byte
}

// newLiveStatusPage returns the page of a serve whose rounds come every
// interval; the browser reloads it as often.
func newLiveStatusPage(loop *round.Loop, vantage string, interval time.Duration) *liveStatusPage {
	h := report.NewHistory(pageHistoryRounds)
	return &liveStatusPage{
		history: h,
		html:    report.NewHTMLPage(report.Options{Since: stateSince(loop)}, report.Page{Vantage: vantage, Refresh: interval, History: h}),
	}
}

// Deliver remembers a recorded round.
func (p *liveStatusPage) Deliver(r *round.Result) error {
	p.history.Add(r.Report)
	p.mu.Lock()
	p.last = r.Report
	p.mu.Unlock()
	return nil
}

func (p *liveStatusPage) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page is whole in itself: it may not load anything, and may not
	// be framed by another site.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if last == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, waitingPage)
		return
	}
	page, err := p.render(last)
	if err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.Write(page)
}

// render returns the page of rep, rendered at most once per round.
func (p *liveStatusPage) render(rep *probe.Report) ([]byte, error) {
	p.renderMu.Lock()
	defer p.renderMu.Unlock()
	if p.pageOf == rep {
		return p.page, nil
	}
	var b bytes.Buffer
	if err := p.html.Render(&b, rep); err != nil {
		return nil, err
	}
	p.pageOf, p.page = rep, b.Bytes()
	return p.page, nil
}

// waitingPage is / before the first round has completed; it reloads
// itself every few seconds until there is one.
const waitingPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><meta http-equiv="refresh" content="5"><title>msgprobe</title></head>
<body><h1>msgprobe</h1><p>The first round has not completed yet; this page reloads in 5 seconds.</p></body></html>
`
