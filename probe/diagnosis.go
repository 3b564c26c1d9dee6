package probe

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
)

// Diagnosis is one classification of a whole run: whose fault it is when
// something fails. Code is stable (scripts match on it); Message is one
// sentence for people.
type Diagnosis struct {
	Code    string
	Message string
}

// The diagnosis codes, in the order the rules are tried.
const (
	// DiagLocalResource: attempts failed because this machine ran out of
	// file descriptors, socket buffers or ephemeral ports; the endpoints
	// concerned, and their services, are not judged.
	DiagLocalResource = "local_resource"
	// DiagLocalNetwork: every control failed, the machine running msgprobe
	// cannot reach the Internet; services are not judged.
	DiagLocalNetwork = "local_network"
	// DiagLocalDNS: controls by IP answer but no name resolves; services
	// that needed a lookup are not judged.
	DiagLocalDNS = "local_dns"
	// DiagIntercepted: a control met a certificate that does not verify or
	// was redirected elsewhere: a captive portal or an intercepting proxy.
	DiagIntercepted = "intercepted"
	// DiagProviderOutage: every service of one tag group is down while the
	// others work.
	DiagProviderOutage = "provider_outage"
	// DiagServiceOutage: some services are down while the network works.
	DiagServiceOutage = "service_outage"
	// DiagOK: no service is down (some may be degraded).
	DiagOK = "ok"
)

// diagnosisRule looks at the verdicts of a run and says whether it applies.
// Rules are pure: they read the report and change nothing.
type diagnosisRule func(rep *Report) (Diagnosis, bool)

// diagnosisRules in priority order: what is wrong with this machine's
// network explains the rest, so it is named first.
var diagnosisRules = []diagnosisRule{
	diagnoseLocalResource,
	diagnoseLocalNetwork,
	diagnoseLocalDNS,
	diagnoseIntercepted,
	diagnoseProviderOutage,
	diagnoseServiceOutage,
}

// Diagnose classifies a run from its endpoint and service verdicts, before
// JudgeRun acts on the diagnosis. The first three rules compare the controls
// with each other, so without controls they cannot fire: a run without
// controls is at best a service or provider outage, and then nothing rules
// out this machine's own network (the message says so).
func Diagnose(rep *Report) Diagnosis {
	for _, rule := range diagnosisRules {
		if d, ok := rule(rep); ok {
			return d
		}
	}
	return diagnoseOK(rep)
}

// diagnoseLocalResource fires when any attempt, at a control or a service,
// failed for lack of something on this machine: nothing else can be said of
// a run whose probes could not be made, and the fix is here, not there.
func diagnoseLocalResource(rep *Report) (Diagnosis, bool) {
	starved, total := 0, 0
	var errno syscall.Errno
	var msg string
	count := func(e *EndpointResult) {
		total++
		hit := false
		for i := range e.Attempts {
			f := e.Attempts[i].Failure
			if f == nil || f.Class != ClassLocalResource {
				continue
			}
			hit = true
			if msg == "" {
				msg = f.Error()
				if errors.As(f, &errno) {
					msg = errno.Error()
				}
			}
		}
		if hit {
			starved++
		}
	}
	for i := range rep.Controls {
		count(&rep.Controls[i])
	}
	for i := range rep.Services {
		for j := range rep.Services[i].Endpoints {
			count(&rep.Services[i].Endpoints[j])
		}
	}
	if starved == 0 {
		return Diagnosis{}, false
	}
	what, fix := "local resources", "lower --concurrency"
	switch errno {
	case syscall.EMFILE, syscall.ENFILE:
		what, fix = "file descriptors", "lower --concurrency or raise ulimit -n"
	case syscall.EADDRNOTAVAIL:
		what, fix = "ephemeral ports", "lower --concurrency or widen net.ipv4.ip_local_port_range"
	case syscall.ENOBUFS:
		what = "socket buffers"
	}
	effort := ""
	if rep.BackedOffTo > 0 {
		effort = fmt.Sprintf(", even at %d at once", rep.BackedOffTo)
	}
	return Diagnosis{DiagLocalResource, fmt.Sprintf("this machine ran out of %s (%s): %d of %d endpoints not judged%s; %s",
		what, msg, starved, total, effort, fix)}, true
}

// diagnoseLocalNetwork fires when every control is down, unless a control
// shows interception (then the network works, but something answers in the
// Internet's place). Typically the controls failed at connect, found the
// network unreachable or could not reach the resolver; a network that
// swallows every control some other way (a firewall that accepts and never
// answers) is as unfit to judge the services, so the cause is named but not
// required.
func diagnoseLocalNetwork(rep *Report) (Diagnosis, bool) {
	if !controlsAllDown(rep) || interceptedControl(rep) != "" {
		return Diagnosis{}, false
	}
	causes := controlCauses(rep.Controls)
	if len(causes) == 1 && causes[0] == shortCause(ClassCanceled, "") {
		// --deadline or Ctrl-C ended the run first: the controls say
		// nothing about the network, and the message must not blame it.
		return Diagnosis{DiagLocalNetwork, "the run ended before any control answered, so no service is judged"}, true
	}
	return Diagnosis{DiagLocalNetwork, fmt.Sprintf(
		"your network looks down: every control failed (%s), so no service is judged",
		strings.Join(causes, ", "))}, true
}

// diagnoseLocalDNS fires when a control by IP literal answers while every
// endpoint by name, control or service, failed in the dns phase: the path to
// the Internet works and the resolver does not.
func diagnoseLocalDNS(rep *Report) (Diagnosis, bool) {
	ipUp := false
	for i := range rep.Controls {
		if c := &rep.Controls[i]; !byName(c.Endpoint) && c.Status != Down {
			ipUp = true
		}
	}
	if !ipUp {
		return Diagnosis{}, false
	}
	named := 0
	var causes []string
	check := func(e *EndpointResult) bool {
		if !byName(e.Endpoint) {
			return true
		}
		named++
		if !failedAtDNS(e) {
			return false
		}
		if m := mainErrorOf(e); m != nil {
			causes = appendNew(causes, shortCause(m.Class, m.Phase))
		}
		return true
	}
	for i := range rep.Controls {
		if !check(&rep.Controls[i]) {
			return Diagnosis{}, false
		}
	}
	for i := range rep.Services {
		for j := range rep.Services[i].Endpoints {
			if !check(&rep.Services[i].Endpoints[j]) {
				return Diagnosis{}, false
			}
		}
	}
	if named == 0 {
		return Diagnosis{}, false
	}
	return Diagnosis{DiagLocalDNS, fmt.Sprintf(
		"your DNS resolver is failing: every name failed to resolve (%s) while controls by IP answer; the services may be fine",
		strings.Join(causes, ", "))}, true
}

// diagnoseIntercepted fires when any control met a certificate that does
// not verify for its name, or, over plain HTTP (or TLS without
// verification), was sent to another host or a login page: the controls are
// public services with valid certificates, so whatever answers like that
// sits between this machine and the Internet.
func diagnoseIntercepted(rep *Report) (Diagnosis, bool) {
	what := interceptedControl(rep)
	if what == "" {
		return Diagnosis{}, false
	}
	return Diagnosis{DiagIntercepted, "a captive portal or TLS-intercepting proxy is in the way: " + what}, true
}

// operatorNames spell the operator tags people know; any other tag shared
// by several services is shown as written.
var operatorNames = map[string]string{
	"meta":      "Meta",
	"microsoft": "Microsoft",
	"google":    "Google",
	"apple":     "Apple",
	"amazon":    "Amazon",
	"tencent":   "Tencent",
}

// diagnoseProviderOutage fires when every service sharing a tag (at least
// two of them) is down while every other service works, and not every
// control is down. A tag of operatorNames wins over another tag that groups
// the same services, then the larger group, then the tag's name.
func diagnoseProviderOutage(rep *Report) (Diagnosis, bool) {
	if controlsAllDown(rep) {
		return Diagnosis{}, false
	}
	groups := map[string][]int{} // tag (lower case) -> service indexes
	var tags []string
	for i := range rep.Services {
		for _, t := range serviceTags(&rep.Services[i]) {
			t = strings.ToLower(t)
			if !slices.Contains(groups[t], i) {
				if groups[t] == nil {
					tags = append(tags, t)
				}
				groups[t] = append(groups[t], i)
			}
		}
	}
	best := ""
	for _, t := range tags {
		if !groupAlone(rep, groups[t]) {
			continue
		}
		if best == "" || betterGroup(t, best, groups) {
			best = t
		}
	}
	if best == "" {
		return Diagnosis{}, false
	}
	name := operatorNames[best]
	if name == "" {
		name = best
	}
	var names []string
	for _, i := range groups[best] {
		names = append(names, serviceName(&rep.Services[i]))
	}
	return Diagnosis{DiagProviderOutage, name + "-wide outage: " + strings.Join(names, ", ")}, true
}

// groupAlone reports whether the services at idx, at least two, are all
// down while at least one other service exists and none of them is down.
func groupAlone(rep *Report, idx []int) bool {
	if len(idx) < 2 || len(idx) == len(rep.Services) {
		return false
	}
	for i := range rep.Services {
		in := slices.Contains(idx, i)
		if down := rep.Services[i].Status == Down; in != down {
			return false
		}
	}
	return true
}

func betterGroup(t, than string, groups map[string][]int) bool {
	_, tKnown := operatorNames[t]
	_, thanKnown := operatorNames[than]
	switch {
	case tKnown != thanKnown:
		return tKnown
	case len(groups[t]) != len(groups[than]):
		return len(groups[t]) > len(groups[than])
	}
	return t < than
}

// diagnoseServiceOutage fires when some services are down and not every
// control is: the services are named, and so is what rules this machine
// out.
func diagnoseServiceOutage(rep *Report) (Diagnosis, bool) {
	if controlsAllDown(rep) {
		return Diagnosis{}, false
	}
	down := servicesWith(rep, Down)
	if len(down) == 0 {
		return Diagnosis{}, false
	}
	return Diagnosis{DiagServiceOutage, listNames(down) + " down" + networkWitness(rep)}, true
}

// diagnoseOK is what remains: nothing is down. Degraded services are named,
// because "ok" must not hide them.
func diagnoseOK(rep *Report) Diagnosis {
	if degraded := servicesWith(rep, Degraded); len(degraded) > 0 {
		return Diagnosis{DiagOK, "no outage; degraded: " + listNames(degraded)}
	}
	switch n := len(rep.Services); n {
	case 0:
		return Diagnosis{DiagOK, "no service to judge"}
	case 1:
		return Diagnosis{DiagOK, "the service is up"}
	default:
		return Diagnosis{DiagOK, fmt.Sprintf("all %d services up", n)}
	}
}

// networkWitness says why this machine is not to blame.
func networkWitness(rep *Report) string {
	if len(rep.Controls) == 0 {
		return " (no controls configured to rule out your network)"
	}
	up := 0
	for i := range rep.Controls {
		if rep.Controls[i].Status != Down {
			up++
		}
	}
	if up == len(rep.Controls) {
		return "; your network works (the controls answer)"
	}
	return fmt.Sprintf("; your network works (%d of %d controls answer)", up, len(rep.Controls))
}

func controlsAllDown(rep *Report) bool {
	return len(rep.Controls) > 0 && allDown(rep.Controls)
}

// interceptedControl describes the first control that shows interception,
// "" when none does.
func interceptedControl(rep *Report) string {
	for i := range rep.Controls {
		if what := interception(&rep.Controls[i]); what != "" {
			return "control " + endpointName(&rep.Controls[i]) + " " + what
		}
	}
	return ""
}

// interception says how an endpoint's answers show someone in the way.
func interception(e *EndpointResult) string {
	for _, ec := range e.Errors {
		switch ec.Class {
		case ClassTLSCertUntrusted:
			return "met an untrusted certificate"
		case ClassTLSCertHostname:
			return "met a certificate for another host"
		}
	}
	// A redirect over a verified TLS connection is the control's own
	// choice: no portal can answer with its certificate.
	authentic := e.TLS != nil && e.TLS.Verified
	if e.Redirect != "" && !authentic && e.Endpoint != nil && redirectsAway(e.Endpoint.Host, e.Redirect) {
		return "was redirected to " + e.Redirect
	}
	return ""
}

// redirectOf is where an HTTP answer sent the client: the Location of a
// redirect that was not followed, or the URL that followed redirects ended
// at; "" when the answer is the target's own. Its secrets (password, token,
// query values) are masked, as in every other URL msgprobe shows.
func redirectOf(resp *http.Response) string {
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if u, err := resp.Location(); err == nil {
			return MaskURL(u)
		}
		return ""
	}
	if resp.Request != nil && resp.Request.Response != nil && resp.Request.URL != nil {
		return MaskURL(resp.Request.URL)
	}
	return ""
}

// loginWords in a redirect's path or host mark the page a portal sends
// people to before it lets them through.
var loginWords = []string{"login", "signin", "sign-in", "captive", "portal", "hotspot", "auth"}

// redirectsAway reports whether a redirect from host to location leaves the
// host (www. aside: example.org sending to www.example.org is common and
// harmless) or lands on a login page.
func redirectsAway(host, location string) bool {
	u, err := url.Parse(location)
	if err != nil {
		return true
	}
	bare := func(h string) string { return strings.TrimPrefix(strings.ToLower(h), "www.") }
	if u.Hostname() != "" && bare(u.Hostname()) != bare(host) {
		return true
	}
	where := strings.ToLower(u.Path + "?" + u.RawQuery)
	return slices.ContainsFunc(loginWords, func(w string) bool { return strings.Contains(where, w) })
}

// controlCauses are the short causes the controls failed with, each once.
func controlCauses(controls []EndpointResult) []string {
	var causes []string
	for i := range controls {
		if m := mainErrorOf(&controls[i]); m != nil {
			causes = appendNew(causes, shortCause(m.Class, m.Phase))
		}
	}
	if len(causes) == 0 {
		causes = []string{"no answer"}
	}
	return causes
}

// failedAtDNS reports whether every attempt at e failed in the dns phase;
// attempts the run had no time to start do not count either way.
func failedAtDNS(e *EndpointResult) bool {
	atDNS := 0
	for i := range e.Attempts {
		f := e.Attempts[i].Failure
		switch {
		case f == nil:
			return false
		case f.Phase == PhaseDNS:
			atDNS++
		case f.Class == ClassCanceled && f.Phase == "":
		default:
			return false
		}
	}
	return atDNS > 0
}

// byName reports whether reaching ep needs a name lookup.
func byName(ep *Endpoint) bool {
	if ep == nil {
		return false
	}
	_, err := netip.ParseAddr(ep.Host)
	return err != nil
}

func mainErrorOf(e *EndpointResult) *ErrorCount {
	var best *ErrorCount
	for i := range e.Errors {
		if best == nil || e.Errors[i].Count > best.Count {
			best = &e.Errors[i]
		}
	}
	return best
}

func servicesWith(rep *Report, st Status) []string {
	var names []string
	for i := range rep.Services {
		if rep.Services[i].Status == st {
			names = append(names, serviceName(&rep.Services[i]))
		}
	}
	return names
}

// listNames keeps a list of services to one readable line.
func listNames(names []string) string {
	const most = 5
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" +%d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

func serviceName(s *ServiceResult) string {
	if s.Service == nil {
		return "?"
	}
	return s.Service.Name
}

func serviceTags(s *ServiceResult) []string {
	if s.Service == nil {
		return nil
	}
	return s.Service.Tags
}

func endpointName(e *EndpointResult) string {
	if e.Endpoint == nil {
		return "?"
	}
	return e.Endpoint.Name
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
