package probe

import "gopkg.in/yaml.v3"

// expectBlock is what a successful attempt must show. Every endpoint may
// carry one; its keys come from the expectKeys table, and each protocol says
// which of them it honours.
var expectBlock = Block{
	Name:   "expect",
	Decode: decodeExpect,
}

func decodeExpect(l *loader, n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, l.reg.expectKeys)
	if f == nil {
		return
	}
	proto := l.reg.byKind[ep.Kind]
	// In the order of the table, so that errors come out in a stable order
	// whatever order the map holds them in.
	for _, k := range l.reg.expectOrder {
		q, ok := f[k.Name]
		if !ok {
			continue
		}
		if proto != nil && !containsString(proto.Expect, k.Name) {
			l.errorf(q.k, "", "expect.%s does not apply to %s:// targets", k.Name, ep.Kind)
		}
		k.Decode(l, q, ep)
	}
}
