package probe

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// httpExpectBlock is where expect.json and expect.headers keep their
// conditions in ep.Options.
const httpExpectBlock = "expect.http"

// httpExpectations are an http(s):// endpoint's conditions on the JSON body
// and the headers of its answer.
type httpExpectations struct {
	JSON    []JSONExpect
	Headers []HeaderExpect
}

// storedHTTPExpect is the endpoint's conditions, created on first use.
func storedHTTPExpect(ep *Endpoint) *httpExpectations {
	if e, ok := ep.Options[httpExpectBlock].(*httpExpectations); ok {
		return e
	}
	e := &httpExpectations{}
	setOptions(ep, httpExpectBlock, e)
	return e
}

// expectJSON reads expect.json, a mapping of JSON path to what must be
// there:
//
//	json:
//	  versions: {exists: true}          the path holds a value, any value
//	  server.name: Synapse              the value is this scalar (typed as YAML types it)
//	  versions: [v1.11, v1.12]          the value is an array holding each of these
//	  debug: {exists: false}            the path holds nothing
var expectJSON = ExpectKey{Name: "json", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	n := resolveAlias(q.v)
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "write a mapping of JSON path: value, like {versions: {exists: true}}", "expect.json must be a mapping, got %s", nodeDesc(n))
		return
	}
	var conds []JSONExpect
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || isNullNode(k) {
			l.errorf(k, "", "expect.json keys are JSON paths, got %s", nodeDesc(k))
			continue
		}
		steps, err := parseJSONPath(k.Value)
		if err != nil {
			l.errorf(k, `paths are keys joined by dots, with numeric indexes: server.ws_server, versions.0, ["m.server"]`, "expect.json: %v", err)
			continue
		}
		c := JSONExpect{Path: k.Value, steps: steps}
		field := fmt.Sprintf("expect.json %q", truncate(k.Value, maxShown))
		switch v.Kind {
		case yaml.MappingNode:
			exists, ok := l.existsCondition(v, field)
			if !ok {
				continue
			}
			c.cond = condAbsent
			if exists {
				c.cond = condPresent
			}
		case yaml.SequenceNode:
			c.cond = condHolds
			good := true
			for _, item := range v.Content {
				s, ok := l.jsonScalar(resolveAlias(item), field+" item")
				good = good && ok
				c.want = append(c.want, s)
			}
			if !good {
				continue
			}
		default:
			s, ok := l.jsonScalar(v, field)
			if !ok {
				continue
			}
			c.cond, c.want = condEquals, []jsonScalar{s}
		}
		conds = append(conds, c)
	}
	storedHTTPExpect(ep).JSON = conds
}}

// existsCondition reads {exists: true|false}.
func (l *loader) existsCondition(n *yaml.Node, field string) (exists, ok bool) {
	f := l.fields(n, keySchema{what: field, keys: []string{"exists"}})
	if f == nil {
		return false, false
	}
	p, has := f["exists"]
	if !has {
		if len(n.Content) > 0 {
			return false, false // its keys were reported as unknown
		}
		l.errorf(n, "write {exists: true} or {exists: false}", "%s must say exists: true or exists: false", field)
		return false, false
	}
	return l.boolean(p.v, field+" exists")
}

// jsonScalar reads a wanted JSON scalar, typed as YAML typed it: quoted or
// plain text is a string, 8448 or 1.5 a number, true/false a boolean, null
// null. ${VAR} expands in strings.
func (l *loader) jsonScalar(n *yaml.Node, field string) (jsonScalar, bool) {
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, "", "%s must be a string, number, boolean or null, got %s", field, nodeDesc(n))
		return jsonScalar{}, false
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || strings.ContainsAny(n.Value, "xXoObB") {
			var i int64
			if n.Decode(&i) == nil {
				return jsonScalar{kind: jsonNumber, text: strconv.FormatInt(i, 10)}, true
			}
			l.errorf(n, `quote it to compare it as text: "`+n.Value+`"`, "%s %s is not a number JSON can hold", field, n.Value)
			return jsonScalar{}, false
		}
		return jsonScalar{kind: jsonNumber, text: strconv.FormatFloat(f, 'g', -1, 64)}, true
	case "!!bool":
		var b bool
		if n.Decode(&b) != nil {
			l.errorf(n, "", "%s must be true or false", field)
			return jsonScalar{}, false
		}
		return jsonScalar{kind: jsonBool, text: strconv.FormatBool(b)}, true
	case "!!null":
		return jsonScalar{kind: jsonNull, text: "null"}, true
	}
	s, ok := l.scalarText(n)
	return jsonScalar{kind: jsonString, text: s}, ok
}

// expectHeaders reads expect.headers, a mapping of response header name to
// the value one of its lines must have (case aside, spaces trimmed) or
// {exists: true|false}.
var expectHeaders = ExpectKey{Name: "headers", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	n := resolveAlias(q.v)
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "write a mapping of header: value, like {X-Signal-Timestamp: {exists: true}}", "expect.headers must be a mapping, got %s", nodeDesc(n))
		return
	}
	var conds []HeaderExpect
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !httpTokenRE.MatchString(k.Value) {
			l.errorf(k, "a header name is letters, digits and -", "invalid header name in expect.headers")
			continue
		}
		name := http.CanonicalHeaderKey(k.Value)
		if first, dup := seen[name]; dup {
			l.errorf(k, "", "expect.headers names %s twice (first at line %d, column %d)", name, first.Line, first.Column)
			continue
		}
		seen[name] = k
		c := HeaderExpect{Name: name}
		field := "expect.headers " + name
		switch {
		case v.Kind == yaml.MappingNode:
			exists, ok := l.existsCondition(v, field)
			if !ok {
				continue
			}
			c.cond = condAbsent
			if exists {
				c.cond = condPresent
			}
		default:
			s, ok := l.str(v, field)
			if !ok {
				continue
			}
			if strings.TrimSpace(s) == "" {
				l.errorf(v, "write {exists: true} to accept any value", "%s is empty", field)
				continue
			}
			c.cond, c.Value = condEquals, s
		}
		conds = append(conds, c)
	}
	storedHTTPExpect(ep).Headers = conds
}}
