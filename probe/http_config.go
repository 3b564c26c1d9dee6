package probe

import (
	"gopkg.in/yaml.v3"

	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var expectStatus = ExpectKey{Name: "status", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	v := resolveAlias(q.v)
	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.ShortTag() == "!!int" {
			hint = fmt.Sprintf("write a list: status: [%s]", v.Value)
		}
		l.errorf(v, hint, "expect.status must be a list of integers, got %s", nodeDesc(v))
		return
	}
	for _, c := range v.Content {
		code, good := l.integer(c, "expect.status item")
		if !good {
			continue
		}
		if code < 100 || code > 599 {
			l.errorf(resolveAlias(c), "", "expect.status %d is not an HTTP status (100-599)", code)
			continue
		}
		ep.Expect.Status = append(ep.Expect.Status, code)
	}
}}

var expectBodyContains = ExpectKey{Name: "body_contains", Decode: func(l *loader, q keyVal, ep *Endpoint) {
	if s, good := l.str(q.v, "expect.body_contains"); good {
		if s == "" {
			l.errorf(resolveAlias(q.v), "leave body_contains out to skip reading the body", "expect.body_contains is empty")
		}
		ep.Expect.BodyContains = s
	}
}}

var httpKeys = []string{"method", "headers", "follow_redirects"}

var httpBlock = Block{Name: "http", Keys: httpKeys, Decode: (*loader).httpOptions}

var httpTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (l *loader) httpOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "http", keys: httpKeys})
	if f == nil {
		return
	}
	if p, ok := f["method"]; ok {
		if m, good := l.str(p.v, "http.method"); good {
			switch {
			case !httpTokenRE.MatchString(m):
				l.errorf(resolveAlias(p.v), "", "http.method %q is not a valid method", m)
			case m != strings.ToUpper(m):
				l.errorf(resolveAlias(p.v), fmt.Sprintf("did you mean %q?", strings.ToUpper(m)), "http.method %q is not upper-case", m)
			default:
				ep.HTTP.Method = m
			}
		}
	}
	if p, ok := f["follow_redirects"]; ok {
		ep.HTTP.FollowRedirects, _ = l.boolean(p.v, "http.follow_redirects")
	}
	if p, ok := f["headers"]; ok {
		ep.HTTP.Headers = l.headers(p.v)
	}
}

// headers reads http.headers. Values may be secrets: no message here ever
// quotes one.
func (l *loader) headers(n *yaml.Node) map[string]string { return l.headerMap(n, "http.headers") }

// headerMap reads a mapping of header names to values, the block field
// named in messages (http.headers, websocket.headers).
func (l *loader) headerMap(n *yaml.Node, field string) map[string]string {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "", "%s must be a mapping of name: value, got %s", field, nodeDesc(n))
		return nil
	}
	out := map[string]string{}
	firsts := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !httpTokenRE.MatchString(k.Value) {
			name := nodeDesc(k)
			if k.Kind == yaml.ScalarNode {
				name = strconv.Quote(k.Value)
			}
			l.errorf(k, "a header name is letters, digits and -", "invalid header name %s in %s", name, field)
			continue
		}
		canon := strings.ToLower(k.Value)
		if first, dup := firsts[canon]; dup {
			l.errorf(k, "", "header %q is repeated (first at line %d, column %d)", k.Value, first.Line, first.Column)
			continue
		}
		firsts[canon] = k
		if v.Kind != yaml.ScalarNode || isNullNode(v) {
			l.errorf(v, "", "header %q must have a string value, got %s", k.Value, nodeDesc(v))
			continue
		}
		val, ok := l.scalarText(v)
		if !ok {
			continue
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			l.errorf(v, "", "header %q has a line break or NUL in its value", k.Value)
			continue
		}
		out[k.Value] = val
	}
	return out
}
