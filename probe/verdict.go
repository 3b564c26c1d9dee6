package probe

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// JudgeEndpoint turns the attempts at one endpoint into its verdict. It is a
// pure function of its arguments; now is the clock certificates are judged by.
func JudgeEndpoint(ep *Endpoint, attempts []Attempt, now time.Time) EndpointResult {
	r := EndpointResult{Endpoint: ep, Attempts: attempts}
	var ok []Attempt
	canceled := false
	for i := range attempts {
		a := &attempts[i]
		if a.HTTPStatus != 0 {
			r.HTTPStatus = a.HTTPStatus
		}
		if a.TLS != nil {
			r.TLS = a.TLS
		}
		if a.Redirect != "" {
			r.Redirect = a.Redirect
		}
		if a.Details != nil && (a.OK() || len(ok) == 0) {
			r.Details = a.Details
		}
		if a.OK() {
			ok = append(ok, *a)
			continue
		}
		r.Failures++
		if a.Failure.Class == ClassCanceled {
			canceled = true
		}
		r.Errors = addError(r.Errors, a.Failure)
	}
	if len(ok) > 0 {
		r.Latency, r.Phases = summarise(ok)
	}
	if r.TLS != nil && !r.TLS.NotAfter.IsZero() {
		r.DaysLeft = daysLeft(r.TLS.NotAfter, now)
	}

	var reasons []string
	switch {
	case len(attempts) == 0:
		r.Status = Down
		reasons = append(reasons, "not probed")
	case canceled:
		// An endpoint the run did not let finish is down: a partial sample
		// says nothing reliable about it.
		r.Status = Down
		reasons = append(reasons, failureReason(r.Errors, len(attempts)))
	case r.Failures == len(attempts):
		r.Status = Down
		reasons = append(reasons, failureReason(r.Errors, len(attempts)))
	default:
		if r.Failures > 0 {
			r.Status = Degraded
			reasons = append(reasons, failureReason(r.Errors, len(attempts)))
		}
		if r.Latency != nil && ep.DegradedLatency > 0 && r.Latency.P50 > ep.DegradedLatency {
			r.Status = Degraded
			reasons = append(reasons, fmt.Sprintf("p50 %s > %s", FormatDuration(r.Latency.P50), FormatDuration(ep.DegradedLatency)))
		}
		if r.TLS != nil && !r.TLS.NotAfter.IsZero() && r.DaysLeft < ep.CertMinDays {
			r.Status = Degraded
			reasons = append(reasons, certReason(r.DaysLeft))
		}
	}
	r.Reason = strings.Join(reasons, "; ")
	return r
}

func daysLeft(notAfter, now time.Time) int {
	d := notAfter.Sub(now)
	if d < 0 {
		return -int((-d) / (24 * time.Hour))
	}
	return int(d / (24 * time.Hour))
}

func certReason(days int) string {
	switch {
	case days < 0:
		return fmt.Sprintf("certificate expired %d days ago", -days)
	case days == 0:
		return "certificate expires today"
	case days == 1:
		return "certificate expires in 1 day"
	}
	return fmt.Sprintf("certificate expires in %d days", days)
}

// addError counts a failure into its group, keeping first-seen order.
func addError(errs []ErrorCount, f *Failure) []ErrorCount {
	msg := f.Error()
	for i := range errs {
		if errs[i].Class == f.Class && errs[i].Phase == f.Phase && errs[i].Message == msg {
			errs[i].Count++
			return errs
		}
	}
	return append(errs, ErrorCount{Class: f.Class, Phase: f.Phase, Message: msg, Count: 1})
}

// failureReason says in one line how the failed attempts failed, most
// frequent cause first: "3/3 attempts refused at connect".
func failureReason(errs []ErrorCount, total int) string {
	type group struct {
		class Class
		phase Phase
		msg   string
		n     int
	}
	var groups []group
	for _, e := range errs {
		i := slices.IndexFunc(groups, func(g group) bool { return g.class == e.Class && g.phase == e.Phase })
		if i < 0 {
			groups = append(groups, group{e.Class, e.Phase, e.Message, e.Count})
			continue
		}
		groups[i].n += e.Count
	}
	slices.SortStableFunc(groups, func(a, b group) int { return b.n - a.n })
	parts := make([]string, len(groups))
	for i, g := range groups {
		noun := ""
		if i == 0 {
			noun = " attempts"
		}
		sep := " "
		if selfDescribed(g.class) && g.msg != "" {
			// The prober's own sentence: "3/3 attempts: connected, no
			// WebSocket upgrade in 5s".
			sep = ": "
		}
		parts[i] = fmt.Sprintf("%d/%d%s%s%s", g.n, total, noun, sep, describe(g.class, g.phase, g.msg))
	}
	return strings.Join(parts, ", ")
}

// describe phrases one failure class for a reason line.
func describe(c Class, p Phase, msg string) string {
	if selfDescribed(c) && msg != "" {
		return msg
	}
	at := " at " + string(p)
	if p == "" {
		at = ""
	}
	switch c {
	case ClassConnectionRefused:
		return "refused" + at
	case ClassConnectionReset:
		return "reset" + at
	case ClassTimeout, ClassDNSTimeout:
		return "timed out" + at
	case ClassDNSNXDomain:
		return "found no such host"
	case ClassNetworkUnreachable, ClassHostUnreachable:
		if p == PhaseDNS {
			// The lookup never reached the resolver: the message says so
			// in a few words ("resolver unreachable: network is unreachable").
			return "failed at dns: " + msg
		}
		what, plain := "found the network unreachable", syscall.ENETUNREACH.Error()
		if c == ClassHostUnreachable {
			what, plain = "found the host unreachable", syscall.EHOSTUNREACH.Error()
		}
		if msg != "" && msg != plain {
			// Not the kernel's word but msgprobe's own finding, such as an
			// IPv6 literal probed with -4: say which.
			return what + ": " + msg
		}
		return what
	case ClassTLSCertExpired:
		return "met an expired certificate"
	case ClassTLSCertHostname:
		return "met a certificate for another host"
	case ClassTLSCertUntrusted:
		return "met an untrusted certificate"
	case ClassEOF:
		return "closed by the peer" + at
	case ClassCanceled:
		return "canceled" + at + ": " + msg
	case ClassHTTPStatus, ClassHTTPBody:
		return "got " + msg
	}
	return "failed" + at + ": " + msg
}

// summarise computes latency statistics and phase medians over successful
// attempts.
func summarise(ok []Attempt) (*Latency, Timings) {
	totals := make([]time.Duration, len(ok))
	for i := range ok {
		totals[i] = ok[i].Timings.Total
	}
	slices.Sort(totals)
	lat := &Latency{
		Min: totals[0],
		P50: percentile(totals, 0.50),
		P95: percentile(totals, 0.95),
		Max: totals[len(totals)-1],
	}
	median := func(get func(*Timings) time.Duration) time.Duration {
		vals := make([]time.Duration, 0, len(ok))
		for i := range ok {
			if v := get(&ok[i].Timings); v > 0 {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return 0
		}
		slices.Sort(vals)
		return percentile(vals, 0.5)
	}
	return lat, Timings{
		DNS:     median(func(t *Timings) time.Duration { return t.DNS }),
		Connect: median(func(t *Timings) time.Duration { return t.Connect }),
		TLS:     median(func(t *Timings) time.Duration { return t.TLS }),
		TTFB:    median(func(t *Timings) time.Duration { return t.TTFB }),
		Total:   lat.P50,
		Steps:   medianSteps(ok),
	}
}

// medianSteps is the median of each protocol phase over the attempts, in
// the order the phases first happened.
func medianSteps(ok []Attempt) []Step {
	var order []Phase
	vals := map[Phase][]time.Duration{}
	for i := range ok {
		for _, s := range ok[i].Timings.Steps {
			if _, seen := vals[s.Phase]; !seen {
				order = append(order, s.Phase)
			}
			vals[s.Phase] = append(vals[s.Phase], s.D)
		}
	}
	if len(order) == 0 {
		return nil
	}
	out := make([]Step, len(order))
	for i, p := range order {
		v := vals[p]
		slices.Sort(v)
		out[i] = Step{p, percentile(v, 0.5)}
	}
	return out
}

// percentile is the nearest-rank percentile of sorted values: with three
// samples, p50 is the middle one and p95 the largest.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p*float64(len(sorted)) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// JudgeService turns endpoint verdicts into the service's verdict: down when
// every endpoint is down or a critical one is; degraded when any endpoint is
// not up; up otherwise. Endpoints with a role are judged together as one
// function of the service (see judgeFunctions).
func JudgeService(svc *Service, eps []EndpointResult) ServiceResult {
	r := ServiceResult{Service: svc, Endpoints: eps}
	if len(eps) == 0 {
		r.Status, r.Reason = Down, "no endpoints"
		return r
	}
	if hasRoles(eps) {
		r.Status, r.Reason = judgeFunctions(svc, eps)
		return r
	}
	down, notUp, criticalDown := 0, 0, false
	var bad []string
	for _, e := range eps {
		if e.Status == Up {
			continue
		}
		notUp++
		if e.Status >= Down {
			down++
			if e.Endpoint.Critical {
				criticalDown = true
			}
		}
		bad = append(bad, e.Endpoint.Name+": "+e.Reason)
	}
	switch {
	case down == len(eps) || criticalDown:
		r.Status = Down
	case notUp > 0:
		r.Status = Degraded
	default:
		r.Status = Up
	}
	r.Reason = joinReasons(bad)
	return r
}

// joinReasons keeps a service's reason to one readable line.
func joinReasons(bad []string) string {
	const most = 2
	if len(bad) > most {
		return strings.Join(bad[:most], "; ") + fmt.Sprintf("; +%d more", len(bad)-most)
	}
	return strings.Join(bad, "; ")
}

func hasRoles(eps []EndpointResult) bool {
	for _, e := range eps {
		if e.Endpoint.Role != "" {
			return true
		}
	}
	return false
}

// judgeFunctions judges a service by its functions: the endpoints of one role
// are redundant servers of one function, which is up when all of them are,
// down when none is (or fewer than min_up are), and degraded otherwise.
// Endpoints without a role stand alone, each a function of its own. The
// reason names what fails and what works: "messaging down (e1–e4 refused),
// web up".
func judgeFunctions(svc *Service, eps []EndpointResult) (Status, string) {
	type function struct {
		name     string
		alone    bool // an endpoint without a role, named after itself
		critical bool
		minUp    int
		eps      []*EndpointResult
		delivery int // endpoints of role delivery, which decide messaging
	}
	var fns []*function
	byName := map[string]*function{}
	for i := range eps {
		e := &eps[i]
		name := e.Endpoint.Role
		if name == "" {
			name = e.Endpoint.Name
		}
		if name == RoleDelivery {
			// A message that is not delivered is messaging down, however
			// well the servers connect: delivery joins messaging.
			name = "messaging"
		}
		f := byName[name]
		if f == nil {
			spec := svc.Functions[e.Endpoint.Role]
			f = &function{name: name, critical: spec.Critical, minUp: spec.MinUp}
			if e.Endpoint.Role == "" {
				f.alone, f.critical, f.minUp = true, e.Endpoint.Critical, 0
			}
			byName[name] = f
			fns = append(fns, f)
		}
		if e.Endpoint.Critical || svc.Functions[e.Endpoint.Role].Critical {
			f.critical = true
		}
		if e.Endpoint.Role == RoleDelivery {
			f.delivery++
		}
		f.eps = append(f.eps, e)
	}

	worst, criticalDown := Up, false
	var parts, upNames, downNames []string
	var failing []*EndpointResult
	for _, f := range fns {
		up, down, deliveryDown := 0, 0, 0
		var bad []*EndpointResult
		for _, e := range f.eps {
			switch {
			case e.Status == Up:
				up++
			case e.Status >= Down:
				down++
				if e.Endpoint.Role == RoleDelivery {
					deliveryDown++
				}
				bad = append(bad, e)
			default:
				bad = append(bad, e)
			}
		}
		st := Up
		switch {
		case up == 0 && down == len(f.eps), f.minUp > 0 && up < f.minUp,
			f.delivery > 0 && deliveryDown == f.delivery:
			st = Down
		case up < len(f.eps):
			st = Degraded
		}
		if st == Up {
			upNames = append(upNames, f.name)
			continue
		}
		if st == Down {
			downNames = append(downNames, f.name)
			if f.critical {
				criticalDown = true
			}
		}
		worst = max(worst, Degraded)
		failing = append(failing, bad...)
		what := failingSummary(bad)
		if f.alone {
			what = causeGroups(bad)[0].cause
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", f.name, st, what))
	}
	if len(downNames) == len(fns) || criticalDown {
		worst = Down
	}
	if len(downNames) == len(fns) && len(causeGroups(failing)) == 1 {
		// One cause took everything down: say it once.
		return worst, strings.Join(downNames, ", ") + " down (" + causeGroups(failing)[0].cause + ")"
	}
	if len(upNames) > 0 && len(parts) > 0 {
		parts = append(parts, strings.Join(upNames, ", ")+" up")
	}
	return worst, strings.Join(parts, ", ")
}

// causeGroup is the failing endpoints of a function that share a cause.
type causeGroup struct {
	cause string
	names []string
	// sentence is true when cause is a protocol's own sentence.
	sentence bool
}

// causeGroups groups failing endpoints by their cause, the largest group
// first, first seen first on a tie.
func causeGroups(bad []*EndpointResult) []causeGroup {
	var groups []causeGroup
	for _, e := range bad {
		c := endpointCause(e)
		i := slices.IndexFunc(groups, func(g causeGroup) bool { return g.cause == c })
		if i < 0 {
			m := mainErrorOf(e)
			groups = append(groups, causeGroup{cause: c, sentence: m != nil && selfDescribed(m.Class) && m.Message != ""})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, e.Endpoint.Name)
	}
	slices.SortStableFunc(groups, func(a, b causeGroup) int { return len(b.names) - len(a.names) })
	return groups
}

// failingSummary names the failing endpoints of a function with their
// causes: "e1–e4 refused, e5 timed out at connect".
func failingSummary(bad []*EndpointResult) string {
	const most = 2
	groups := causeGroups(bad)
	parts := make([]string, 0, most+1)
	for i, g := range groups {
		if i == most {
			parts = append(parts, fmt.Sprintf("+%d more", len(groups)-most))
			break
		}
		sep := " "
		if g.sentence {
			// A protocol's own sentence reads after a colon: "chat:
			// connected, no WhatsApp handshake reply in 5s".
			sep = ": "
		}
		parts = append(parts, compressNames(g.names)+sep+g.cause)
	}
	return strings.Join(parts, ", ")
}

// endpointCause is a few words on why an endpoint is not up: its most
// frequent failure, or its reason when no attempt failed (slow, a
// certificate about to expire).
func endpointCause(e *EndpointResult) string {
	m := mainErrorOf(e)
	switch {
	case m == nil:
		if e.Reason != "" {
			return e.Reason
		}
		return e.Status.String()
	case m.Class == ClassHTTPStatus && e.HTTPStatus != 0:
		return fmt.Sprintf("HTTP %d", e.HTTPStatus)
	case selfDescribed(m.Class) && m.Message != "":
		return m.Message
	}
	return shortCause(m.Class, m.Phase)
}

// shortCause names a failure class in a word or three.
func shortCause(c Class, p Phase) string {
	if ci, ok := classInfo(c); ok && ci.Short != "" {
		return ci.Short
	}
	switch c {
	case ClassConnectionRefused:
		return "refused"
	case ClassConnectionReset:
		return "reset"
	case ClassTimeout, ClassDNSTimeout:
		if p == "" {
			return "timed out"
		}
		return "timed out at " + string(p)
	case ClassDNSNXDomain:
		return "no such host"
	case ClassDNSError:
		return "dns error"
	case ClassNetworkUnreachable, ClassHostUnreachable:
		if p == PhaseDNS {
			return "resolver unreachable"
		}
		if c == ClassHostUnreachable {
			return "host unreachable"
		}
		return "network unreachable"
	case ClassTLSCertExpired:
		return "certificate expired"
	case ClassTLSCertHostname:
		return "certificate for another host"
	case ClassTLSCertUntrusted:
		return "untrusted certificate"
	case ClassTLSHandshake:
		return "tls handshake failed"
	case ClassHTTPStatus:
		return "unexpected HTTP status"
	case ClassHTTPBody:
		return "unexpected body"
	case ClassEOF:
		if p == "" {
			return "closed"
		}
		return "closed at " + string(p)
	case ClassProtocol:
		return "protocol error"
	case ClassCanceled:
		return "canceled"
	}
	return string(c)
}

// compressNames lists endpoint names, writing a run of three or more that
// differ only by consecutive numbers as a range: chat-e1-5222 …
// chat-e4-5222 become "chat-e1–e4-5222", dc1 … dc5 "dc1–dc5". At most four
// items are listed.
func compressNames(names []string) string {
	const most = 4
	var items []string
	for i := 0; i < len(names); {
		j, k := i+1, -1
		for j < len(names) {
			kk, ok := nextInRun(names[j-1], names[j])
			if !ok || (k >= 0 && kk != k) {
				break
			}
			k = kk
			j++
		}
		if j-i >= 3 {
			items = append(items, nameRange(names[i], names[j-1], k))
		} else {
			items = append(items, names[i:j]...)
		}
		i = j
	}
	if len(items) > most {
		return strings.Join(items[:most], ", ") + fmt.Sprintf(" +%d", len(items)-most)
	}
	return strings.Join(items, ", ")
}

// nameTokens splits a name into runs of digits and of other characters.
func nameTokens(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		digit := s[i] >= '0' && s[i] <= '9'
		j := i + 1
		for j < len(s) && (s[j] >= '0' && s[j] <= '9') == digit {
			j++
		}
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
}

// nextInRun reports whether b follows a in a numbered run: the same but
// for one number, one larger (and written without leading zeros), and the
// index of that number's token.
func nextInRun(a, b string) (int, bool) {
	ta, tb := nameTokens(a), nameTokens(b)
	if len(ta) != len(tb) {
		return 0, false
	}
	k := -1
	for i := range ta {
		if ta[i] == tb[i] {
			continue
		}
		if k >= 0 {
			return 0, false
		}
		k = i
	}
	if k < 0 {
		return 0, false
	}
	na, errA := strconv.Atoi(ta[k])
	nb, errB := strconv.Atoi(tb[k])
	if errA != nil || errB != nil || nb != na+1 || strconv.Itoa(na) != ta[k] || strconv.Itoa(nb) != tb[k] {
		return 0, false
	}
	return k, true
}

// nameRange writes first…last, which differ at token k, with the letters
// right before the number repeated: "chat-e1–e4-5222".
func nameRange(first, last string, k int) string {
	tf, tl := nameTokens(first), nameTokens(last)
	letters := ""
	if k > 0 {
		prev := tf[k-1]
		i := len(prev)
		for i > 0 && isLetter(prev[i-1]) {
			i--
		}
		letters = prev[i:]
	}
	return strings.Join(tf[:k+1], "") + "–" + letters + tl[k] + strings.Join(tf[k+1:], "")
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// JudgeRun completes a report from its service and control verdicts: it
// diagnoses the run, then lets the diagnosis decide what the verdicts are
// worth. The overall status is the worst service's.
//
// When every control is down (local_network, or an interception that
// swallowed every control), the spec's rule holds: the local network is the
// likely culprit and every service is unknown.
//
// local_dns makes unknown every service with an endpoint that failed at
// dns: that failure is the resolver's and says nothing about the service,
// and reporting it down would page people for their own resolver. Unknown
// also makes the run exit 3, which says "not a verdict" to cron and CI.
// Services reached by IP literal alone keep their verdicts.
func JudgeRun(rep *Report) {
	rep.Diagnosis = Diagnose(rep)
	switch {
	case rep.Diagnosis.Code == DiagLocalNetwork || controlsAllDown(rep):
		for i := range rep.Services {
			rep.Services[i].Status = Unknown
		}
		rep.Note = rep.Diagnosis.Message
	case rep.Diagnosis.Code == DiagLocalDNS:
		for i := range rep.Services {
			if slices.ContainsFunc(rep.Services[i].Endpoints, func(e EndpointResult) bool { return failedAtDNS(&e) }) {
				rep.Services[i].Status = Unknown
			}
		}
		rep.Note = rep.Diagnosis.Message
	}
	rep.Status = Up
	rep.Summary = Summary{}
	for _, s := range rep.Services {
		rep.Status = max(rep.Status, s.Status)
		switch s.Status {
		case Up:
			rep.Summary.Up++
		case Degraded:
			rep.Summary.Degraded++
		case Down:
			rep.Summary.Down++
		default:
			rep.Summary.Unknown++
		}
	}
	if len(rep.Services) == 0 && rep.Note != "" {
		rep.Status = Unknown
	}
}

func allDown(eps []EndpointResult) bool {
	for _, e := range eps {
		if e.Status != Down {
			return false
		}
	}
	return true
}

// FormatDuration prints a latency the way people read one: "42ms",
// "1.24s", "850µs".
func FormatDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d > 0:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	}
	return "0s"
}
