package probe

import (
	"fmt"
	"net/url"
	"strings"
)

// masked stands for a secret in everything msgprobe shows.
const masked = "xxxxx"

// MaskURL writes u for people, with what may be a secret replaced by
// xxxxx: the password; a user name given without a password (a token, as
// in https://${TOKEN}@host/); every query value (?token=…, keys kept); and
// the fragment. Every target, label and redirect msgprobe shows goes
// through it.
func MaskURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	if v.User != nil {
		if _, has := v.User.Password(); has {
			v.User = url.UserPassword(v.User.Username(), masked)
		} else {
			v.User = url.User(masked)
		}
	}
	if v.RawQuery != "" {
		v.RawQuery = maskQuery(v.RawQuery)
		v.ForceQuery = false
	}
	if v.Fragment != "" {
		v.Fragment, v.RawFragment = masked, ""
	}
	return v.String()
}

// MaskText is what msgprobe shows of an expected text (body_contains):
// never all of it, since it may be a secret a page echoes back, but a few
// characters, at most half of it, and its length: "xx BODY-…", 17 bytes.
func MaskText(s string) string {
	runes := []rune(s)
	n := min(8, len(runes)/2)
	return fmt.Sprintf("%q, %d bytes", string(runes[:n])+"…", len(s))
}

// maskQuery keeps the keys of a raw query, in order, and masks the values.
func maskQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if k, val, ok := strings.Cut(p, "="); ok && val != "" {
			parts[i] = k + "=" + masked
		}
	}
	return strings.Join(parts, "&")
}

// hasSecrets reports whether MaskURL would hide anything of u.
func hasSecrets(u *url.URL) bool {
	return u.User != nil || u.RawQuery != "" || u.Fragment != ""
}

// MaskTarget masks a target as written (see MaskURL); text that does not
// parse as a URL is kept only up to its scheme.
func MaskTarget(t string) string {
	u, err := url.Parse(t)
	if err != nil {
		if scheme, _, ok := strings.Cut(t, "://"); ok {
			return scheme + "://" + masked
		}
		return masked
	}
	if !hasSecrets(u) {
		return t
	}
	return MaskURL(u)
}

// misplacedUserinfo reports whether rest, a target after its "scheme://",
// looks like a user name or password holding an unencoded /, ? or #:
// https://alice:12/34@host/ parses as host "alice", port 12 and path
// "/34@host/". It does when an @ comes after the end of the authority and
// what follows it up to the next /, ? or # looks like a host; an @ in a
// path (https://host/@alice) or in a query (?mail=a@b) does not.
func misplacedUserinfo(rest string) bool {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 || strings.Contains(rest[:end], "@") {
		return false
	}
	at := strings.LastIndex(rest, "@")
	if at < end {
		return false
	}
	if before := strings.TrimRight(rest[:at], "="); strings.ContainsAny(before[end:], "&=") {
		// a query's key=value pairs, not a base64 secret's padding
		return false
	}
	after := rest[at+1:]
	if i := strings.IndexAny(after, "/?#"); i >= 0 {
		after = after[:i]
	}
	return looksLikeHost(after)
}

// looksLikeHost reports whether s is host[:port] as a target writes one: a
// name with a dot, localhost, or an IP literal (IPv6 in brackets).
func looksLikeHost(s string) bool {
	if s == "" {
		return false
	}
	host := s
	if strings.HasPrefix(s, "[") {
		return strings.Contains(s, "]")
	}
	if i := strings.LastIndex(s, ":"); i >= 0 {
		host = s[:i]
	}
	if host == "localhost" {
		return true
	}
	if !strings.Contains(host, ".") || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") {
		return false
	}
	for _, c := range host {
		if !(c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
