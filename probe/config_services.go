package probe

import (
	"gopkg.in/yaml.v3"

	"fmt"
	"strings"
)

type firstSeen struct {
	at   *yaml.Node
	name string
}

// services reads one document's services. names holds the service names
// seen so far, in this document and earlier ones, by lower-case name.
func (l *loader) services(n *yaml.Node, base effectiveSettings, names map[string]Pos) []*Service {
	n = resolveAlias(n)
	if isNullNode(n) {
		l.errorf(n, "", "services is empty")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "write services as a list: services: [- name: ...]", "services must be a list, got %s", nodeDesc(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n, "", "services is empty")
		return nil
	}
	var out []*Service
	for _, item := range n.Content {
		item = resolveAlias(item)
		svc := l.service(item, base)
		if svc == nil {
			continue
		}
		key := strings.ToLower(svc.Name)
		if svc.Name != "" {
			if first, dup := names[key]; dup {
				where := fmt.Sprintf("line %d, column %d", first.Line, first.Column)
				if first.File != l.name {
					where = formatPos(first)
				}
				l.errorf(svc.nameNode, "service names are compared without case",
					"duplicate service name %q (first at %s)", svc.Name, where)
			} else {
				names[key] = l.pos(svc.nameNode)
			}
		}
		out = append(out, svc.Service)
	}
	return out
}

type loadedService struct {
	*Service
	nameNode *yaml.Node
}

func (l *loader) service(n *yaml.Node, base effectiveSettings) *loadedService {
	f := l.fields(n, l.reg.service)
	if f == nil {
		return nil
	}
	svc := &loadedService{Service: &Service{Pos: l.pos(n)}}
	if p, ok := f["name"]; !ok {
		if !misspelt(n, "name") {
			l.errorf(n, "", "service has no name")
		}
	} else if s, good := l.str(p.v, "name"); good {
		if strings.TrimSpace(s) == "" {
			l.errorf(p.v, "", "service name is empty")
		} else {
			svc.Name, svc.nameNode = s, resolveAlias(p.v)
		}
	}
	if p, ok := f["description"]; ok {
		if s, good := l.str(p.v, "description"); good {
			svc.Description = s
		}
	}
	if p, ok := f["tags"]; ok {
		svc.Tags, _ = l.stringList(p.v, "tags")
	}
	eff := base.with(l.settings(f), levelService)

	what := "service"
	if svc.Name != "" {
		what = fmt.Sprintf("service %q", svc.Name)
	}
	if p, ok := f["endpoints"]; !ok {
		if !misspelt(n, "endpoints") {
			l.errorf(n, "", "%s has no endpoints", what)
		}
	} else {
		svc.Endpoints = l.endpoints(p.v, "endpoints", theRegistry().endpoint, svc.Name, eff)
		if v := resolveAlias(p.v); (isNullNode(v) || v.Kind == yaml.SequenceNode) && len(v.Content) == 0 {
			l.errorf(v, "", "%s has no endpoints", what)
		}
	}
	if p, ok := f["functions"]; ok {
		svc.Functions = l.functions(p.v, svc.Service)
	}
	return svc
}

func (l *loader) functions(n *yaml.Node, svc *Service) map[string]Function {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "", "functions must be a mapping from role to {critical, min_up}, got %s", nodeDesc(n))
		return nil
	}
	roles := l.fields(n, keySchema{what: "functions", keys: Roles, noun: "role"})
	out := map[string]Function{}
	for role, p := range roles {
		var fn Function
		if !isNullNode(p.v) {
			ff := l.fields(p.v, keySchema{what: fmt.Sprintf("function %q", role), keys: functionSchema.keys})
			if ff == nil {
				continue
			}
			if q, ok := ff["critical"]; ok {
				fn.Critical, _ = l.boolean(q.v, "critical")
			}
			if q, ok := ff["min_up"]; ok {
				if v, good := l.integer(q.v, "min_up"); good {
					if v < 0 {
						l.errorf(q.v, "", "min_up must not be negative, got %d", v)
					}
					fn.MinUp = v
				}
			}
		}
		count := 0
		for _, ep := range svc.Endpoints {
			if ep.Role == role {
				count++
			}
		}
		if count == 0 {
			l.errorf(p.k, fmt.Sprintf("set role: %s on the endpoints that serve it", role), "no endpoint of this service has role %q", role)
		} else if fn.MinUp > count {
			l.errorf(p.k, "", "min_up %d is more than the endpoints with role %q (%d)", fn.MinUp, role, count)
		}
		out[role] = fn
	}
	return out
}

func (l *loader) endpoints(n *yaml.Node, field string, s keySchema, service string, eff effectiveSettings) []*Endpoint {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "", "%s must be a list, got %s", field, nodeDesc(n))
		return nil
	}
	var out []*Endpoint
	names := map[string]firstSeen{}
	for _, item := range n.Content {
		item = resolveAlias(item)
		ep := l.endpoint(item, s, service, eff)
		if ep == nil {
			continue
		}
		key := strings.ToLower(ep.Name)
		if ep.Name != "" {
			if first, dup := names[key]; dup {
				where := "in " + field
				if service != "" {
					where = fmt.Sprintf("in service %q", service)
				}
				l.errorAt(ep.Pos, "give each endpoint its own name",
					"duplicate endpoint name %q %s (first at line %d, column %d)", ep.Name, where, first.at.Line, first.at.Column)
			} else {
				names[key] = firstSeen{item, ep.Name}
			}
		}
		out = append(out, ep)
	}
	return out
}

func (l *loader) endpoint(n *yaml.Node, s keySchema, service string, eff effectiveSettings) *Endpoint {
	f := l.fields(n, s)
	if f == nil {
		return nil
	}
	ep := &Endpoint{Service: service, Pos: l.pos(n)}

	if p, ok := f["target"]; !ok {
		if !misspelt(n, "target") {
			l.errorf(n, "", "%s has no target", s.what)
		}
	} else if t, good := l.str(p.v, "target"); good {
		l.target(resolveAlias(p.v), t, ep)
	}
	if p, ok := f["name"]; ok {
		if v, good := l.str(p.v, "name"); good {
			if strings.TrimSpace(v) == "" {
				l.errorf(p.v, "leave name out to use the target", "%s name is empty", s.what)
			}
			ep.Name = v
		}
	} else {
		ep.Name = ep.Target
	}
	if p, ok := f["critical"]; ok {
		ep.Critical, _ = l.boolean(p.v, "critical")
	}
	if p, ok := f["role"]; ok {
		if r, good := l.str(p.v, "role"); good {
			if containsString(Roles, r) {
				ep.Role = r
			} else {
				hint := "roles: " + strings.Join(Roles, ", ")
				if near := nearestWord(r, Roles); near != "" {
					hint = fmt.Sprintf("did you mean %q?", near)
				}
				l.errorf(p.v, hint, "unknown role %q", r)
			}
		}
	}

	e := eff.with(l.settings(f), levelEndpoint)
	ep.Settings, ep.SetBy = e.Settings, e.src
	l.checkLatency(e)

	ep.HTTP.Method = "GET"
	proto := ProtocolOf(ep.Kind)
	for _, b := range blocks {
		p, ok := f[b.Name]
		if !ok {
			continue
		}
		if proto != nil && b.Name != "expect" && !proto.accepts(b.Name) {
			l.errorf(p.k, proto.Hints[b.Name], "%s block does not apply to %s:// targets", b.Name, ep.Kind)
		}
		if isNullNode(resolveAlias(p.v)) {
			continue
		}
		b.Decode(l, p.v, ep)
	}
	if proto != nil {
		if proto.TLS {
			l.buildTLS(ep, l.tlsFields[ep])
		}
		if proto.Finish != nil {
			proto.Finish(l, ep)
		}
	}
	delete(l.tlsFields, ep)
	return ep
}
