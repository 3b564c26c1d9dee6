package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// notYet are schemes people reach for that msgprobe does not speak (yet):
// they get a plainer message than a typo does.
var notYet = []string{"dot", "doh", "quic", "udp", "icmp", "smtp"}

// target parses an endpoint's target into its kind and URL and lets the
// kind's protocol check the rest and fill in the host and port. No message
// quotes the whole target: it may carry a password.
func (l *loader) target(n *yaml.Node, t string, ep *Endpoint) {
	t = strings.TrimSpace(t)
	scheme, _, found := strings.Cut(t, "://")
	if !found {
		hint := `write it as tcp://HOST:PORT, tls://HOST:PORT, http://HOST/ or https://HOST/`
		if !strings.ContainsAny(t, "@/?# ") && t != "" {
			if _, _, err := net.SplitHostPort(t); err == nil {
				hint = fmt.Sprintf("did you mean %q or %q?", "tcp://"+t, "tls://"+t)
			} else {
				hint = fmt.Sprintf("did you mean %q?", "https://"+t+"/")
			}
		}
		l.errorf(n, hint, "target has no scheme")
		return
	}
	lower := strings.ToLower(scheme)
	proto := ProtocolOf(Kind(lower))
	if proto == nil {
		hint := "supported schemes: " + schemeList()
		if containsString(notYet, lower) {
			l.errorf(n, hint, "scheme %q is not supported yet", scheme)
			return
		}
		if near := nearestWord(lower, Schemes()); near != "" {
			hint = fmt.Sprintf("did you mean %q?", near)
		}
		l.errorf(n, hint, "unknown scheme %q in target", scheme)
		return
	}
	u, err := url.Parse(t)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		l.errorf(n, "", "invalid target: %v", err)
		return
	}
	if host := u.Hostname(); strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		l.errorf(n, "write IPv6 addresses in brackets, like tcp://[2001:db8::1]:443", "target has an IPv6 address without brackets")
		return
	}
	if strings.HasSuffix(u.Host, ":") {
		l.errorf(n, "", "target has an empty port")
		return
	}
	ep.Kind = proto.Kind
	if !proto.Target(l, n, u, ep) {
		ep.Kind = ""
		return
	}
	if ep.Port != "" && !l.checkPort(n, ep.Port, "target") {
		ep.Kind = ""
		return
	}
	ep.URL = u
	ep.Target = u.Redacted()
	if u.User == nil {
		// keep the target as written (url.URL.String may re-escape it)
		ep.Target = t
	}
}

// hostPortTarget is the Target of protocols that take exactly HOST:PORT
// (tcp://, tls://, and the raw-socket messenger protocols): no user, path,
// query or fragment. defaultPort, when not empty, is used when the target
// has none; otherwise a port is required.
func hostPortTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		kind := ep.Kind
		host, port := u.Hostname(), u.Port()
		if host == "" {
			l.errorf(n, "", "target has no host")
			return false
		}
		if port == "" {
			if defaultPort == "" {
				l.errorf(n, fmt.Sprintf("write it as %s://%s:PORT", kind, bracketHost(host)), "%s:// target has no port", kind)
				return false
			}
			port = defaultPort
		}
		if u.User != nil {
			l.errorf(n, "", "%s:// target must not carry a user name or password", kind)
			return false
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			l.errorf(n, fmt.Sprintf("write it as %s://%s", kind, net.JoinHostPort(host, port)), "%s:// target must not have a path, query or fragment", kind)
			return false
		}
		ep.Host, ep.Port = host, port
		return true
	}
}

// urlTarget is the Target of URL-shaped protocols (http://, ws://, ...): a
// host is required, the port defaults to defaultPort, and a path and query
// are kept in ep.URL.
func urlTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		host, port := u.Hostname(), u.Port()
		if host == "" {
			l.errorf(n, "", "target has no host")
			return false
		}
		if port == "" {
			port = defaultPort
		}
		ep.Host, ep.Port = host, port
		return true
	}
}

func bracketHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
