package probe

import (
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the single YAML document in data and returns its root
// mapping, or nil after recording why it cannot.
func (l *loader) parse(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorAt(Pos{File: l.name}, `start it with "version: 1"`, "configuration is empty")
			return nil
		}
		l.yamlError(err, data)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		l.errorf(&next, `remove the "---" separator and everything after it`, "configuration holds more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		l.yamlError(err, data)
	}
	if hasAlias(&doc) {
		l.aliased = true
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			l.errorAt(Pos{File: l.name}, `start it with "version: 1"`, "configuration is empty")
			return nil
		}
		root = root.Content[0]
	}
	root = resolveAlias(root)
	if root.Kind != yaml.MappingNode {
		if isNullNode(root) {
			l.errorAt(Pos{File: l.name}, `start it with "version: 1"`, "configuration is empty")
		} else {
			l.errorf(root, "", "configuration must be a mapping of keys (version, services, ...), got %s", nodeDesc(root))
		}
		return nil
	}
	return root
}

func (l *loader) yamlError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if at := locateSyntaxError(data, msg, line); at > 0 {
		line = at
	}
	l.errorAt(Pos{File: l.name, Line: line, Column: locateSyntaxColumn(data, msg, line)}, "", "invalid YAML: %s", msg)
}

// locateSyntaxColumn finds the column of a syntax error that yaml.v3 puts
// on line without a column: the shortest prefix of the line (after the
// lines before it) that fails with the same message ends at the character
// to blame, the second colon of "name: A: B" say. When no prefix of the
// line fails alike (the error needs what follows), it is the line's first
// character that is not a space, where the offending item starts.
func locateSyntaxColumn(data []byte, msg string, line int) int {
	lines := bytes.SplitAfter(data, []byte{'\n'})
	if line < 1 || line > len(lines) {
		return 0
	}
	before := bytes.Join(lines[:line-1], nil)
	text := bytes.TrimRight(lines[line-1], "\r\n")
	prefix := func(k int) []byte {
		return append(append(make([]byte, 0, len(before)+k), before...), text[:k]...)
	}
	// Failing is monotonic in practice here as well; the result is checked.
	lo, hi := 1, len(text)
	if hi > 0 && yamlProblem(prefix(hi)) == msg {
		for lo < hi {
			mid := lo + (hi-lo)/2
			if yamlProblem(prefix(mid)) == msg {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if yamlProblem(prefix(lo)) == msg {
			return utf8.RuneCount(text[:lo])
		}
	}
	indent := len(text) - len(bytes.TrimLeft(text, " \t"))
	return utf8.RuneCount(text[:indent]) + 1
}

// locateSyntaxError finds the line where a YAML syntax error shows up.
// yaml.v3 reports the line where the enclosing block began (an indentation
// slip on line 40 is blamed on line 2), so this looks for the shortest
// prefix of whole lines, from that line on, that fails with the same
// message. Failure is monotonic enough in practice for a binary search; the
// result is checked, and 0 means "not found".
func locateSyntaxError(data []byte, msg string, from int) int {
	lines := bytes.SplitAfter(data, []byte{'\n'})
	if from < 1 {
		from = 1
	}
	if from > len(lines) {
		return 0
	}
	fails := func(k int) bool {
		return yamlProblem(bytes.Join(lines[:k], nil)) == msg
	}
	lo, hi := from, len(lines)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// yamlProblem returns the message, without its line, of the first error
// parsing data as a single document, or "" when it parses.
func yamlProblem(data []byte) string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err == nil {
		err = dec.Decode(&doc)
	}
	if err == nil || errors.Is(err, io.EOF) {
		return ""
	}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// hasAlias reports whether the tree under n holds an alias; the tree is
// walked as written, aliases not followed, so this costs one look per node.
func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// resolveAlias follows aliases to the node they name.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNullNode(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// nodeDesc names a node's type for "got ..." in messages, without its value.
func nodeDesc(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!str":
			return "a string"
		default:
			return "a " + strings.TrimLeft(n.ShortTag(), "!") + " value"
		}
	}
	return "an unexpected node"
}

// keyVal is one key of a mapping with its value, aliases followed.
type keyVal struct{ k, v *yaml.Node }

// keySchema names the keys a mapping of one level may hold. Misplaced keys
// that belong to another level get a hint naming it.
type keySchema struct {
	what      string
	keys      []string
	misplaced map[string]string
	noun      string // what a key is called in messages; "key" when empty
}

// fields checks mapping n against s: every key known, none repeated. It
// returns the pairs by key, or nil when n is not a mapping (an error is
// recorded then). "<<" merge keys are honoured: explicit keys win.
func (l *loader) fields(n *yaml.Node, s keySchema) map[string]keyVal {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "", "%s must be a mapping, got %s", s.what, nodeDesc(n))
		return nil
	}
	out := map[string]keyVal{}
	merged := map[string]keyVal{}
	l.collect(n, s, out, merged, 0)
	if l.visits > maxVisits {
		return nil
	}
	for k, p := range merged {
		if _, ok := out[k]; !ok {
			out[k] = p
		}
	}
	return out
}

func (l *loader) collect(n *yaml.Node, s keySchema, out, merged map[string]keyVal, depth int) {
	l.visits++
	if l.visits > maxVisits {
		if l.visits == maxVisits+1 {
			// The hint names aliases only where they are used: a large
			// configuration without any is split into files instead.
			hint := "split it into several files, each probed by a run of its own"
			if l.aliased {
				hint = "use fewer aliases"
			}
			l.errorf(n, hint, "configuration expands to more than %d mappings", maxVisits)
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			l.merge(v, s, merged, depth)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "", "%s key must be a plain name, got %s", s.what, nodeDesc(k))
			continue
		}
		if first, dup := out[k.Value]; dup {
			l.errorf(k, "", "key %q is repeated in %s (first at line %d, column %d)", k.Value, s.what, first.k.Line, first.k.Column)
			continue
		}
		if !containsString(s.keys, k.Value) {
			noun := s.noun
			if noun == "" {
				noun = "key"
			}
			l.errorf(k, l.keyHint(k.Value, s), "unknown %s %q in %s", noun, k.Value, s.what)
			continue
		}
		out[k.Value] = keyVal{k, v}
	}
}

// merge applies a "<<" value: a mapping or a list of mappings whose keys
// are used where not given explicitly; earlier ones win.
func (l *loader) merge(v *yaml.Node, s keySchema, merged map[string]keyVal, depth int) {
	if depth > 10 {
		l.errorf(v, "", "merge keys nest too deeply")
		return
	}
	var srcs []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, c := range v.Content {
			srcs = append(srcs, resolveAlias(c))
		}
	}
	for _, src := range srcs {
		if src.Kind != yaml.MappingNode {
			l.errorf(src, "", "a merge (<<) takes a mapping or a list of mappings, got %s", nodeDesc(src))
			continue
		}
		m := map[string]keyVal{}
		inner := map[string]keyVal{}
		l.collect(src, s, m, inner, depth+1)
		for _, from := range []map[string]keyVal{m, inner} {
			for k, p := range from {
				if _, ok := merged[k]; !ok {
					merged[k] = p
				}
			}
		}
	}
}

func (l *loader) keyHint(key string, s keySchema) string {
	if where, ok := s.misplaced[key]; ok {
		return fmt.Sprintf("%q belongs %s", key, where)
	}
	if near := nearestWord(key, s.keys); near != "" {
		return fmt.Sprintf("did you mean %q?", near)
	}
	noun := s.noun
	if noun == "" {
		noun = "key"
	}
	return "known " + noun + "s: " + strings.Join(s.keys, ", ")
}

// misspelt reports whether mapping n has an unknown key that looks like a
// misspelling of key; the unknown key has been reported already, and
// "missing key" on top of it would be noise.
func misspelt(n *yaml.Node, key string) bool {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if k != key && nearestWord(k, []string{key}) == key {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearestWord returns the candidate closest to s when it is close enough to be
// a likely typo: a small edit distance, a different case, or a prefix.
func nearestWord(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(s) <= 3 {
		limit = 1
	}
	if best != "" && bestDist <= limit && bestDist < len(s) {
		return best
	}
	if len(s) >= 4 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), ls) {
				return c
			}
		}
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// ---- scalar values ----

// scalarText returns the text of a scalar value after ${VAR} expansion.
// Expansion applies to values YAML typed as strings; it is done once per
// node, so aliases and repeated reads see one result and one error.
func (l *loader) scalarText(n *yaml.Node) (string, bool) {
	if n.ShortTag() != "!!str" {
		return n.Value, true
	}
	if e, ok := l.expanded[n]; ok {
		return e.value, e.ok
	}
	v, err := expandEnv(n.Value, l.lookup)
	if err != nil {
		var ee *envError
		if errors.As(err, &ee) {
			l.errorf(n, ee.hint, "%s", ee.msg)
		} else {
			l.errorf(n, "", "%v", err)
		}
	}
	l.expanded[n] = expansion{v, err == nil}
	return v, err == nil
}

// str reads a string value. Any scalar is taken as its text (a service may
// be named 1984); lists, mappings and nothing are errors.
func (l *loader) str(n *yaml.Node, field string) (string, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || isNullNode(n) {
		l.errorf(n, "", "%s must be a string, got %s", field, nodeDesc(n))
		return "", false
	}
	return l.scalarText(n)
}

func (l *loader) integer(n *yaml.Node, field string) (int, bool) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			var v int
			if err := n.Decode(&v); err == nil {
				return v, true
			}
			l.errorf(n, "", "%s %s is out of range", field, n.Value)
			return 0, false
		case "!!str":
			if hasEnvRef(n.Value) {
				s, ok := l.scalarText(n)
				if !ok {
					return 0, false
				}
				v, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					l.errorf(n, "", "%s must be an integer, got %q after expansion", field, s)
					return 0, false
				}
				return v, true
			}
		}
	}
	got := nodeDesc(n)
	if n.Kind == yaml.ScalarNode && !isNullNode(n) {
		got = fmt.Sprintf("%q", n.Value)
	}
	l.errorf(n, "", "%s must be an integer, got %s", field, got)
	return 0, false
}

var boolHints = map[string]string{
	"yes": "true", "on": "true", "y": "true", "1": "true",
	"no": "false", "off": "false", "n": "false", "0": "false",
}

func (l *loader) boolean(n *yaml.Node, field string) (bool, bool) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err == nil {
				return v, true
			}
		case "!!str":
			if hasEnvRef(n.Value) {
				s, ok := l.scalarText(n)
				if !ok {
					return false, false
				}
				if v, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
					return v, true
				}
				l.errorf(n, "", "%s must be true or false, got %q after expansion", field, s)
				return false, false
			}
		}
	}
	hint := ""
	got := nodeDesc(n)
	if n.Kind == yaml.ScalarNode && !isNullNode(n) {
		got = fmt.Sprintf("%q", n.Value)
		if b, ok := boolHints[strings.ToLower(n.Value)]; ok {
			hint = fmt.Sprintf("did you mean %s?", b)
		}
	}
	l.errorf(n, hint, "%s must be true or false, got %s", field, got)
	return false, false
}

// duration reads a Go duration with a unit. A bare number is the classic
// mistake; the hint guesses the unit from its size.
func (l *loader) duration(n *yaml.Node, field string) (time.Duration, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || isNullNode(n) {
		l.errorf(n, `write it with a unit, like "5s" or "800ms"`, "%s must be a duration, got %s", field, nodeDesc(n))
		return 0, false
	}
	s, ok := l.scalarText(n)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		unit := "s"
		if f >= 100 {
			unit = "ms"
		}
		l.errorf(n, fmt.Sprintf("did you mean %q?", s+unit), "%s %s has no unit", field, s)
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(n, `a duration is a number with a unit: "ms", "s", "m" or "h", like "5s" or "800ms"`, "%s %q is not a duration", field, s)
		return 0, false
	}
	if d <= 0 {
		l.errorf(n, "", "%s must be positive, got %s", field, s)
		return 0, false
	}
	return d, true
}

func (l *loader) stringList(n *yaml.Node, field string) ([]string, bool) {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, fmt.Sprintf("write a list: %s: [a, b]", field), "%s must be a list of strings, got %s", field, nodeDesc(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := l.str(c, field+" item")
		ok = ok && good
		if good {
			out = append(out, s)
		}
	}
	return out, ok
}

// ---- the configuration ----
