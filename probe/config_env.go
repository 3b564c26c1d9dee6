package probe

import (
	"fmt"
	"strings"
)

// envError is a problem found while expanding one value; the loader turns it
// into a positioned ConfigError.
type envError struct {
	msg  string
	hint string
}

func (e *envError) Error() string { return e.msg }

// expandEnv replaces ${VAR} and ${VAR:-default} in s with values from
// lookup; $$ is a literal $. A $ followed by anything else is kept as it
// is, so that passwords containing a lone $ need no escaping. As in the
// shell, the default applies when VAR is unset or empty. Expansion is done
// once, on the value only: the result is never expanded again.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", &envError{
				msg:  "unterminated ${ in value",
				hint: `close it with "}", or write "$$" for a literal "$"`,
			}
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", &envError{
				msg:  fmt.Sprintf("invalid variable name %q in ${...}", name),
				hint: "a name is letters, digits and underscores, not starting with a digit",
			}
		}
		val, ok := "", false
		if lookup != nil {
			val, ok = lookup(name)
		}
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty, no default: the user asked for this value
		default:
			return "", &envError{
				msg:  fmt.Sprintf("environment variable %q is not set", name),
				hint: fmt.Sprintf("set it, or give a default: ${%s:-value}", name),
			}
		}
		i += 2 + end
	}
	return b.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// hasEnvRef reports whether s containsString a ${...} reference, which makes a
// scalar that YAML typed as a string eligible to become a number or a bool
// after expansion.
func hasEnvRef(s string) bool { return strings.Contains(s, "${") }

// envRefOnly reports whether s is exactly one ${VAR} reference, with no
// default and nothing around it, and returns the variable's name: the only
// form a credential may take, so that its value never sits in the file.
func envRefOnly(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "${")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, "}")
	if !ok || !validEnvName(name) {
		return "", false
	}
	return name, true
}
