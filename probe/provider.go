package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/statuspage"
)

// What the provider admits
//
// A service may name where its provider tells its own status:
//
//	provider_status: {statuspage: https://discordstatus.com}      # Atlassian Statuspage, /api/v2/summary.json
//	provider_status: {slack: https://slack-status.com}            # Slack's /api/v2.0.0/current
//	provider_status: {dns: uptime.signal.org, up: 127.0.0.1}      # an A record that is ADDR while all is well
//
// It is fetched once per run, alongside the probes, bounded like an attempt
// (the service's timeout, the run's deadline, 1 MiB), with the tls block's
// roots where the URL is https. What it says is corroboration, never the
// verdict: a status page is updated by people, after the fact; the
// probes are what msgprobe saw. The diagnosis quotes it next to a down
// service ("the provider confirms: ..." or "the provider reports no
// incident"), and the table shows it under a service when the provider
// reports anything but operational.

// ProviderKind names the kind of status source.
type ProviderKind string

// The status sources.
const (
	ProviderStatuspage ProviderKind = "statuspage"
	ProviderSlack      ProviderKind = "slack"
	ProviderDNS        ProviderKind = "dns"
)

// ProviderStatus is where a service's provider tells its status.
type ProviderStatus struct {
	Kind ProviderKind
	// URL is the document fetched (statuspage, slack); Name and Up the
	// DNS flag's name and the address it has while the service is up.
	URL  *url.URL
	Name string
	Up   netip.Addr
	// Fetch is an endpoint for the fetch: its host, port, timeout and TLS
	// configuration (from the tls block), as a probe's.
	Fetch *Endpoint
	Pos   Pos
}

// Source is the status source as a user wrote it, for reports.
func (p *ProviderStatus) Source() string {
	if p.Kind == ProviderDNS {
		return "dns:" + p.Name
	}
	return p.URL.Redacted()
}

// ProviderReport is what the provider said in this run.
type ProviderReport struct {
	Source string
	Kind   ProviderKind
	// Err is why the provider could not be read; then nothing else is set.
	Err string
	// Operational is true when the provider reports nothing wrong.
	Operational bool
	// Indicator and Description are the provider's words for the whole
	// ("major", "Partial System Outage"); a DNS flag's indicator is the
	// address it had.
	Indicator   string
	Description string
	Incidents   []statuspage.Incident
}

// Says is the provider's report in a few words, for the table and the
// diagnosis: `"Messages failing to send" (investigating) since 09:12`, or
// the indicator and description when no incident is open.
func (p *ProviderReport) Says(at time.Time) string {
	if p.Err != "" {
		return "no answer: " + p.Err
	}
	if len(p.Incidents) > 0 {
		in := p.Incidents[0]
		s := fmt.Sprintf("%q", in.Title)
		if in.Status != "" {
			s += " (" + in.Status + ")"
		}
		if !in.Since.IsZero() {
			s += " since " + clockAt(in.Since, at)
		}
		if n := len(p.Incidents) - 1; n > 0 {
			s += fmt.Sprintf(" +%d more", n)
		}
		return s
	}
	switch {
	case p.Description != "" && p.Indicator != "":
		return p.Indicator + ": " + p.Description
	case p.Indicator != "":
		return p.Indicator
	}
	return "not operational"
}

// confirms is what the provider admits, for the diagnosis: its first open
// incident's title and since when, or its indicator and description.
func (p *ProviderReport) confirms(at time.Time) string {
	if len(p.Incidents) > 0 {
		in := p.Incidents[0]
		s := fmt.Sprintf("%q", in.Title)
		if !in.Since.IsZero() {
			s += " since " + clockAt(in.Since, at)
		}
		return s
	}
	if p.Description != "" {
		return fmt.Sprintf("%q (%s)", p.Description, p.Indicator)
	}
	return p.Indicator
}

// clockAt is a time of day in at's zone, with the date when it is not at's
// day.
func clockAt(t, at time.Time) string {
	if at.IsZero() {
		at = time.Now()
	}
	t = t.In(at.Location())
	if y1, m1, d1 := t.Date(); true {
		y2, m2, d2 := at.Date()
		if y1 == y2 && m1 == m2 && d1 == d2 {
			return t.Format("15:04")
		}
	}
	return t.Format("2006-01-02 15:04")
}

var providerSchema = keySchema{what: "provider_status", keys: []string{"statuspage", "slack", "dns", "up", "tls", "timeout"}}

// providerStatus reads a service's provider_status block.
func (l *loader) providerStatus(n *yaml.Node, svc *Service, eff effectiveSettings) *ProviderStatus {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil
	}
	f := l.fields(n, providerSchema)
	if f == nil {
		return nil
	}
	p := &ProviderStatus{Pos: l.pos(n)}
	var kinds []string
	for _, k := range []ProviderKind{ProviderStatuspage, ProviderSlack, ProviderDNS} {
		if _, ok := f[string(k)]; ok {
			kinds = append(kinds, string(k))
			p.Kind = k
		}
	}
	const hint = "write one of {statuspage: URL}, {slack: URL} or {dns: NAME, up: ADDR}"
	if len(kinds) != 1 {
		if len(kinds) == 0 {
			l.errorf(n, hint, "provider_status names no source")
		} else {
			l.errorf(n, hint, "provider_status names %s: one source only", strings.Join(kinds, " and "))
		}
		return nil
	}
	ep := &Endpoint{Service: svc.Name, Name: "provider_status", Kind: KindHTTPS, Settings: eff.Settings, SetBy: eff.src}
	if d, ok := f["timeout"]; ok {
		if t, good := l.duration(d.v, "provider_status.timeout"); good {
			ep.Timeout = t
		}
	}
	src := f[string(p.Kind)]
	s, ok := l.str(src.v, "provider_status."+string(p.Kind))
	if !ok {
		return nil
	}
	switch p.Kind {
	case ProviderDNS:
		up, ok := f["up"]
		if !ok {
			l.errorf(n, "the address the name has while the service is up: for Signal's uptime.signal.org, up: 127.0.0.1", "provider_status dns needs up: ADDR")
			return nil
		}
		a, good := l.str(up.v, "provider_status.up")
		if !good {
			return nil
		}
		addr, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			l.errorf(resolveAlias(up.v), "", "provider_status up %q is not an IP address", a)
			return nil
		}
		name := strings.TrimSuffix(strings.TrimSpace(s), ".")
		if name == "" || strings.ContainsAny(name, " /:@") {
			l.errorf(resolveAlias(src.v), "a host name, such as uptime.signal.org", "provider_status dns %q is not a host name", s)
			return nil
		}
		p.Name, p.Up, ep.Host = name, addr.Unmap(), name
		if _, ok := f["tls"]; ok {
			l.errorf(resolveAlias(f["tls"].k), "a DNS flag has no TLS", "tls does not apply to provider_status dns")
		}
	default:
		if _, ok := f["up"]; ok {
			l.errorf(resolveAlias(f["up"].k), "up: is for {dns: NAME, up: ADDR}", "up does not apply to provider_status %s", p.Kind)
		}
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			l.errorf(resolveAlias(src.v), "write the status page's address, such as https://discordstatus.com", "provider_status %s is not an http(s) URL", p.Kind)
			return nil
		}
		if !strings.HasSuffix(u.Path, ".json") && !strings.HasSuffix(u.Path, "/current") {
			tail := "/api/v2/summary.json"
			if p.Kind == ProviderSlack {
				tail = "/api/v2.0.0/current"
			}
			u.Path = strings.TrimSuffix(u.Path, "/") + tail
		}
		p.URL = u
		ep.URL, ep.Target, ep.Host, ep.Port = u, u.String(), u.Hostname(), u.Port()
		if ep.Port == "" {
			ep.Port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
		if u.Scheme == "http" {
			ep.Kind = KindHTTP
			if _, ok := f["tls"]; ok {
				l.errorf(resolveAlias(f["tls"].k), "use an https:// URL", "tls does not apply to an http:// status page")
			}
		} else {
			var nodes map[string]keyVal
			if t, ok := f["tls"]; ok && !isNullNode(resolveAlias(t.v)) {
				nodes = l.tlsOptions(t.v, ep)
			}
			l.buildTLS(ep, nodes)
		}
	}
	p.Fetch = ep
	return p
}

// fetchProvider asks the provider for its status, bounded by ctx and by the
// fetch endpoint's timeout.
func fetchProvider(ctx context.Context, p *ProviderStatus, opt *Options) *ProviderReport {
	rep := &ProviderReport{Source: p.Source(), Kind: p.Kind}
	ctx, cancel := context.WithTimeout(ctx, p.Fetch.Timeout)
	defer cancel()
	var st statuspage.Status
	var err error
	switch p.Kind {
	case ProviderDNS:
		st, err = dnsFlag(ctx, p, opt)
	default:
		var body []byte
		if body, err = fetchJSON(ctx, p, opt); err == nil {
			if p.Kind == ProviderSlack {
				st, err = statuspage.ParseSlackCurrent(body)
			} else {
				st, err = statuspage.ParseSummary(body)
			}
		}
	}
	if err != nil {
		rep.Err = providerError(ctx, err)
		return rep
	}
	rep.Operational, rep.Indicator, rep.Description, rep.Incidents = st.Operational, st.Indicator, st.Description, st.Incidents
	return rep
}

// providerError is a fetch's error in a few words that quote nothing the
// server sent.
func providerError(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, statuspage.ErrTooLarge), errors.Is(err, statuspage.ErrNotStatus), errors.Is(err, errProviderStatus):
		return err.Error()
	}
	f := classify(ctx, err, PhaseRequest)
	var inner *Failure
	if errors.As(err, &inner) {
		f = inner
	}
	return shortCause(f.Class, f.Phase)
}

var errProviderStatus = errors.New("status page answered HTTP")

// fetchJSON GETs the status document: one connection through the probes'
// dialer (the run's resolver and family), the tls block's roots, no proxy,
// no redirect, at most statuspage.MaxSize bytes.
func fetchJSON(ctx context.Context, p *ProviderStatus, opt *Options) ([]byte, error) {
	ep := p.Fetch
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			conn, f := dialHost(ctx, host, port, opt, &Timings{}, nil)
			if f != nil {
				return nil, f
			}
			return conn, nil
		},
		TLSClientConfig:   ep.TLSConfig,
		DisableKeepAlives: true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "msgprobe")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w %d", errProviderStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, statuspage.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > statuspage.MaxSize {
		return nil, statuspage.ErrTooLarge
	}
	return body, nil
}

// dnsFlag looks the flag's name up: up when one of its addresses is the
// up address, an outage otherwise (Signal's uptime.signal.org is
// 127.0.0.2 during one).
func dnsFlag(ctx context.Context, p *ProviderStatus, opt *Options) (statuspage.Status, error) {
	ips, err := lookupIP(ctx, opt.resolver(), p.Name)
	if err != nil {
		return statuspage.Status{}, classify(ctx, err, PhaseDNS)
	}
	var seen []string
	for _, ip := range ips {
		a := ip.Unmap()
		if a == p.Up {
			return statuspage.Status{Operational: true, Indicator: a.String()}, nil
		}
		seen = append(seen, a.String())
	}
	return statuspage.Status{Indicator: strings.Join(seen, ", "), Description: p.Name + " is not " + p.Up.String()}, nil
}

// providerFetches are the providers' answers of a run, by service index.
type providerFetches struct {
	done    chan struct{}
	reports []*ProviderReport
}

// wait returns service i's provider report once every fetch has ended, nil
// when the service names no provider.
func (pf *providerFetches) wait(i int) *ProviderReport {
	if pf == nil {
		return nil
	}
	<-pf.done
	return pf.reports[i]
}

// fetchProviders starts the fetches of the services' provider statuses,
// one goroutine each, bounded by ctx and each fetch's timeout.
func (r *Runner) fetchProviders(ctx context.Context, cfg *Config) *providerFetches {
	var idx []int
	for i, s := range cfg.Services {
		if s.Provider != nil && s.Provider.Fetch != nil {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	pf := &providerFetches{done: make(chan struct{}), reports: make([]*ProviderReport, len(cfg.Services))}
	results := make(chan struct {
		i   int
		rep *ProviderReport
	}, len(idx))
	for _, i := range idx {
		go func() {
			results <- struct {
				i   int
				rep *ProviderReport
			}{i, fetchProvider(ctx, cfg.Services[i].Provider, r.Options)}
		}()
	}
	go func() {
		for range idx {
			res := <-results
			pf.reports[res.i] = res.rep
		}
		close(pf.done)
	}()
	return pf
}
