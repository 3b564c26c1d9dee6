package probe

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Probing a name over both IP families
//
// With family both, an endpoint whose host is a name is probed over IPv4
// and over IPv6, the two series of attempts side by side, and each family is
// judged on its own attempts. The endpoint is then:
//
//   - up when both are up;
//   - degraded when one family is down and the other is not: "IPv6 down
//     (3/3 timed out at connect), IPv4 up" — a user on the broken family
//     cannot reach the service, one on the other can;
//   - down when both are.
//
// Two cases are not the service's doing and do not count against it:
// a name without addresses in one family (the service does not offer it),
// and a machine without a route for one family (connect fails at once with
// "network is unreachable"). The endpoint is then judged on the other
// family alone; the second case is said once for the run, in its note.

// FamilyResult is the verdict on one family of an endpoint probed over both.
type FamilyResult struct {
	Family Family
	// NoRoute is true when this machine has no route for the family: every
	// attempt failed at connect with "network is unreachable". The family
	// then does not count in the endpoint's verdict.
	NoRoute bool
	EndpointResult
}

// splitsFamilies reports whether ep is probed over each family: family
// both and a host name (an IP literal has one family).
func splitsFamilies(ep *Endpoint) bool {
	if ep.Family != FamilyBoth {
		return false
	}
	_, err := netip.ParseAddr(ep.Host)
	return err != nil
}

// familyOptions are base with the network of family f, base itself when f
// leaves the network to the run (any, both).
func familyOptions(base *Options, f Family) *Options {
	n := f.Network()
	if n == "" {
		return base
	}
	var o Options
	if base != nil {
		o = *base
	}
	o.Network = n
	return &o
}

// probeFamilies makes the endpoint's attempts over IPv4 and over IPv6, the
// two families at once (one after the other for protocols that act on an
// account), and tags each attempt with its family: IPv4's first.
func (r *Runner) probeFamilies(ctx context.Context, ep *Endpoint, gate *throttle) []Attempt {
	opt4, opt6 := familyOptions(r.Options, FamilyIPv4), familyOptions(r.Options, FamilyIPv6)
	var v4, v6 []Attempt
	if p := ProtocolOf(ep.Kind); p != nil && p.Once {
		v4 = r.probeSamples(ctx, ep, opt4, gate)
		v6 = r.probeSamples(ctx, ep, opt6, gate)
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			v6 = r.probeSamples(ctx, ep, opt6, gate)
		}()
		v4 = r.probeSamples(ctx, ep, opt4, gate)
		<-done
	}
	for i := range v4 {
		v4[i].Family = FamilyIPv4
	}
	for i := range v6 {
		v6[i].Family = FamilyIPv6
	}
	return append(v4, v6...)
}

// judgeEndpoint is JudgeEndpoint, or judgeFamilies when the attempts were
// made over each family.
func judgeEndpoint(ep *Endpoint, attempts []Attempt, now time.Time) EndpointResult {
	if len(attempts) == 0 || attempts[0].Family == "" {
		return JudgeEndpoint(ep, attempts, now)
	}
	return judgeFamilies(ep, attempts, now)
}

// judgeFamilies judges each family's attempts, then the endpoint from the
// two verdicts (see the comment at the top of this file).
func judgeFamilies(ep *Endpoint, attempts []Attempt, now time.Time) EndpointResult {
	var a4, a6 []Attempt
	for _, a := range attempts {
		if a.Family == FamilyIPv6 {
			a6 = append(a6, a)
		} else {
			a4 = append(a4, a)
		}
	}
	f4 := FamilyResult{Family: FamilyIPv4, EndpointResult: JudgeEndpoint(ep, a4, now), NoRoute: noRoute(a4)}
	f6 := FamilyResult{Family: FamilyIPv6, EndpointResult: JudgeEndpoint(ep, a6, now), NoRoute: noRoute(a6)}
	abs4, abs6 := noAddress(a4), noAddress(a6)

	// One family left out: the endpoint is that of the other.
	only := func(f FamilyResult, others ...FamilyResult) EndpointResult {
		r := f.EndpointResult
		r.Families = append([]FamilyResult{f}, others...)
		return r
	}
	switch {
	case abs4 && abs6, f4.NoRoute && f6.NoRoute:
		// Nothing to tell the families apart by: judged as one.
		r := JudgeEndpoint(ep, attempts, now)
		return r
	case abs6:
		return only(f4)
	case abs4:
		return only(f6)
	case f6.NoRoute:
		return only(f4, f6)
	case f4.NoRoute:
		return only(f6, f4)
	}

	r := JudgeEndpoint(ep, attempts, now)
	r.Families = []FamilyResult{f4, f6}
	s4, s6 := f4.Status, f6.Status
	switch {
	case s4 == Up && s6 == Up:
		r.Status, r.Reason = Up, ""
		return r
	case s4 >= Down && s6 >= Down:
		r.Status = Down
	default:
		r.Status = Degraded
	}
	c4, c6 := familyCause(&f4.EndpointResult), familyCause(&f6.EndpointResult)
	if s4 == s6 && c4 == c6 {
		r.Reason = "IPv4 and IPv6 " + s4.String() + " (" + c4 + ")"
		return r
	}
	// The family that is not up first, the worse one first when neither
	// is: it is the news. IPv6 first on a tie, the likelier to break alone.
	fams := []*FamilyResult{&f6, &f4}
	if s4 > s6 {
		fams[0], fams[1] = fams[1], fams[0]
	}
	var parts []string
	for _, f := range fams {
		if f.Status == Up {
			parts = append(parts, f.Family.Label()+" up")
			continue
		}
		parts = append(parts, f.Family.Label()+" "+f.Status.String()+" ("+familyCause(&f.EndpointResult)+")")
	}
	r.Reason = strings.Join(parts, ", ")
	return r
}

// familyCause is a family's reason in the endpoint's words: "3/3 timed out
// at connect" rather than "3/3 attempts timed out at connect", since the
// family already says what was attempted.
func familyCause(r *EndpointResult) string {
	if r.Reason == "" {
		return r.Status.String()
	}
	if i := strings.Index(r.Reason, " attempts"); i > 0 && strings.Count(r.Reason[:i], "/") == 1 && !strings.ContainsAny(r.Reason[:i], " ") {
		return r.Reason[:i] + r.Reason[i+len(" attempts"):]
	}
	return r.Reason
}

// noAddress reports whether every attempt found the name without an
// address of its family.
func noAddress(as []Attempt) bool {
	if len(as) == 0 {
		return true
	}
	for _, a := range as {
		var nf *NoFamilyAddress
		if a.Failure == nil || !errors.As(a.Failure.Err, &nf) {
			return false
		}
	}
	return true
}

// noRoute reports whether every attempt failed at connect because this
// machine has no route for the family.
func noRoute(as []Attempt) bool {
	if len(as) == 0 {
		return false
	}
	for _, a := range as {
		f := a.Failure
		if f == nil || f.Class != ClassNetworkUnreachable || f.Phase != PhaseConnect || !errors.Is(f.Err, syscall.ENETUNREACH) {
			return false
		}
	}
	return true
}

// noteFamilies says once for the run, in its note, which family this
// machine has no route for, rather than once per endpoint: the endpoints
// were judged over the other family.
func noteFamilies(rep *Report) {
	var missing []string
	see := func(e *EndpointResult) {
		for _, f := range e.Families {
			if f.NoRoute && !containsString(missing, f.Family.Label()) {
				missing = append(missing, f.Family.Label())
			}
		}
	}
	for i := range rep.Controls {
		see(&rep.Controls[i])
	}
	for i := range rep.Services {
		for j := range rep.Services[i].Endpoints {
			see(&rep.Services[i].Endpoints[j])
		}
	}
	for _, fam := range missing {
		other := "IPv4"
		if fam == "IPv4" {
			other = "IPv6"
		}
		note := "this machine has no " + fam + " route: endpoints probed over both families were judged over " + other + " alone"
		if rep.Note == "" {
			rep.Note = note
		} else {
			rep.Note += "; " + note
		}
	}
}
