package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

var supportedSchemes = []string{"tcp", "tls", "http", "https"}

// target parses an endpoint's target into its kind, URL, host and port. No
// message quotes the whole target: it may carry a password.
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
	if !containsString(supportedSchemes, lower) {
		switch lower {
		case "ws", "wss", "dns", "dot", "doh", "quic", "udp":
			l.errorf(n, "supported schemes: tcp, tls, http, https", "scheme %q is not supported yet", scheme)
		default:
			hint := "supported schemes: tcp, tls, http, https"
			if near := nearestWord(lower, supportedSchemes); near != "" {
				hint = fmt.Sprintf("did you mean %q?", near)
			}
			l.errorf(n, hint, "unknown scheme %q in target", scheme)
		}
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
	kind := Kind(lower)
	host, port := u.Hostname(), u.Port()
	if host == "" {
		l.errorf(n, "", "target has no host")
		return
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		l.errorf(n, "write IPv6 addresses in brackets, like tcp://[2001:db8::1]:443", "target has an IPv6 address without brackets")
		return
	}
	if strings.HasSuffix(u.Host, ":") {
		l.errorf(n, "", "target has an empty port")
		return
	}
	switch kind {
	case KindTCP, KindTLS:
		if port == "" {
			l.errorf(n, fmt.Sprintf("write it as %s://%s:PORT", kind, bracketHost(host)), "%s:// target has no port", kind)
			return
		}
		if u.User != nil {
			l.errorf(n, "", "%s:// target must not carry a user name or password", kind)
			return
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			l.errorf(n, fmt.Sprintf("write it as %s://%s", kind, net.JoinHostPort(host, port)), "%s:// target must not have a path, query or fragment", kind)
			return
		}
	case KindHTTP:
		if port == "" {
			port = "80"
		}
	case KindHTTPS:
		if port == "" {
			port = "443"
		}
	}
	if !l.checkPort(n, port, "target") {
		return
	}
	ep.Kind, ep.URL, ep.Host, ep.Port = kind, u, host, port
	ep.Target = u.Redacted()
	if u.User == nil {
		// keep the target as written (url.URL.String may re-escape it)
		ep.Target = t
	}
}

func bracketHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
