package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The classes of a failed expect.json or expect.headers condition.
const (
	ClassJSONMismatch   Class = "json_mismatch"
	ClassHeaderMismatch Class = "header_mismatch"
)

// httpExpectClasses are the classes expect.json and expect.headers add to
// http:// and https://. Their messages name the path or header, the value
// found and the value wanted: the reason line quotes them.
var httpExpectClasses = []ClassInfo{
	{Class: ClassJSONMismatch, Short: "unexpected JSON", SelfDescribed: true},
	{Class: ClassHeaderMismatch, Short: "unexpected header", SelfDescribed: true},
}

// judgeHTTPExpect checks an answer against the endpoint's expect.headers
// and expect.json, after its status passed. judged is true when it decided
// the attempt: a header failed, or the body was read for JSON (and for
// body_contains with it, so that it is read once); otherwise the caller
// goes on with body_contains alone.
func judgeHTTPExpect(ctx context.Context, ep *Endpoint, resp *http.Response) (f *Failure, judged bool) {
	exp, _ := ep.Options[httpExpectBlock].(*httpExpectations)
	if exp == nil {
		return nil, false
	}
	if f := judgeHeaders(resp.Header, exp.Headers); f != nil {
		return f, true
	}
	if len(exp.JSON) == 0 {
		return nil, false
	}
	body, complete, err := readBody(resp.Body)
	if err != nil {
		return classify(ctx, err, PhaseBody), true
	}
	if want := ep.Expect.BodyContains; want != "" && !bytes.Contains(body, []byte(want)) {
		msg := fmt.Sprintf("body does not contain %q", want)
		if !complete {
			msg += " in first 1 MiB"
		}
		return &Failure{Class: ClassHTTPBody, Phase: PhaseBody, Err: errors.New(msg)}, true
	}
	return judgeJSON(body, complete, exp.JSON), true
}

// condition is what an expect.json or expect.headers entry asks of a value.
type condition int

const (
	condPresent condition = iota // {exists: true}
	condAbsent                   // {exists: false}
	condEquals                   // VALUE
	condHolds                    // [VALUES…]: an array holding every one
)

// JSONExpect is one entry of expect.json: the value at Path must exist, be
// absent, equal a scalar, or be an array that holds every one of a list.
type JSONExpect struct {
	Path  string // as written in the configuration
	steps []pathStep
	cond  condition
	want  []jsonScalar // one for condEquals; the list for condHolds
}

// HeaderExpect is one entry of expect.headers: the response header Name
// must be present, be absent, or have Value (case aside, spaces trimmed) as
// one of its values.
type HeaderExpect struct {
	Name  string // canonical form
	cond  condition
	Value string
}

// wanted is the condition as a failure message states it.
func (c *JSONExpect) wanted(lacking jsonScalar) string {
	switch c.cond {
	case condPresent:
		return "a value"
	case condAbsent:
		return "nothing"
	case condEquals:
		return c.want[0].String()
	}
	if len(c.want) == 0 {
		return "an array"
	}
	return "an array holding " + lacking.String()
}

// judgeJSON checks body, the response's body up to maxBody bytes (complete
// when that is all of it), against the conditions, in order, and fails on
// the first unmet. It is a pure function of its arguments.
func judgeJSON(body []byte, complete bool, conds []JSONExpect) *Failure {
	if len(conds) == 0 {
		return nil
	}
	fail := func(format string, args ...any) *Failure {
		return &Failure{Class: ClassJSONMismatch, Phase: PhaseBody, Err: fmt.Errorf(format, args...)}
	}
	if !complete {
		return fail("body is larger than 1 MiB, not judged as JSON")
	}
	if !json.Valid(body) {
		if len(strings.TrimSpace(string(body))) == 0 {
			return fail("body is empty, not JSON")
		}
		return fail("body is not JSON (starts %q)", truncate(string(body[:min(len(body), 2*maxShown)]), maxShown/2))
	}
	for i := range conds {
		c := &conds[i]
		raw, found := lookupJSON(body, c.steps)
		switch {
		case !found && c.cond == condAbsent:
			continue
		case !found:
			return fail("JSON %s: found nothing, want %s", truncate(c.Path, 2*maxShown), c.wanted(jsonScalar{}))
		}
		switch c.cond {
		case condPresent:
			continue
		case condAbsent:
			return fail("JSON %s: found %s, want nothing", truncate(c.Path, 2*maxShown), shortJSON(raw))
		case condEquals:
			if !c.want[0].matches(raw) {
				return fail("JSON %s: found %s, want %s", truncate(c.Path, 2*maxShown), shortJSON(raw), c.wanted(jsonScalar{}))
			}
		case condHolds:
			lacking, lacks, isArray := arrayLacks(raw, c.want)
			if !isArray {
				lacking, lacks = firstOr(c.want), true
			}
			if lacks {
				return fail("JSON %s: found %s, want %s", truncate(c.Path, 2*maxShown), shortJSON(raw), c.wanted(lacking))
			}
		}
	}
	return nil
}

func firstOr(s []jsonScalar) jsonScalar {
	if len(s) == 0 {
		return jsonScalar{}
	}
	return s[0]
}

// judgeHeaders checks a response's header against the conditions, in
// order, and fails on the first unmet. It is a pure function of its
// arguments.
func judgeHeaders(h http.Header, conds []HeaderExpect) *Failure {
	for i := range conds {
		c := &conds[i]
		values := h.Values(c.Name)
		var msg string
		switch c.cond {
		case condPresent:
			if len(values) > 0 {
				continue
			}
			msg = "found nothing, want a value"
		case condAbsent:
			if len(values) == 0 {
				continue
			}
			msg = fmt.Sprintf("found %s, want nothing", shownHeader(c.Name, values))
		case condEquals:
			if headerHas(values, c.Value) {
				continue
			}
			found := "nothing"
			if len(values) > 0 {
				found = shownHeader(c.Name, values)
			}
			msg = fmt.Sprintf("found %s, want %q", found, c.Value)
		}
		return &Failure{Class: ClassHeaderMismatch, Phase: PhaseHTTP, Err: fmt.Errorf("header %s: %s", c.Name, msg)}
	}
	return nil
}

func headerHas(values []string, want string) bool {
	for _, v := range values {
		if strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(want)) {
			return true
		}
	}
	return false
}

// shownHeader is a response header's values as a failure message quotes
// them, short and on one line. The values of headers that carry sessions or
// credentials are not shown: a report must never hold one.
func shownHeader(name string, values []string) string {
	lower := strings.ToLower(name)
	for _, secret := range []string{"cookie", "authorization", "token", "secret", "session", "key"} {
		if strings.Contains(lower, secret) {
			return "a value (not shown)"
		}
	}
	return strconv.Quote(truncate(strings.Join(values, ", "), maxShown))
}

// readBody reads r up to maxBody bytes; complete is false when the body
// goes on beyond them.
func readBody(r io.Reader) (body []byte, complete bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, maxBody+1))
	if len(body) > maxBody {
		return body[:maxBody], false, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return body, false, err
	}
	return body, true, nil
}
