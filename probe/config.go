package probe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ConfigError is one problem in a configuration file, at a position. Line 0
// means the whole file (it could not be read, or the YAML parser gave no
// line); Column 0 means the column is unknown.
type ConfigError struct {
	Pos  Pos
	Msg  string
	Hint string // how to fix it; may be empty
}

// Error renders the problem as "FILE:LINE:COL: message", followed by a
// "hint: ..." line when there is a hint.
func (e *ConfigError) Error() string {
	s := formatPos(e.Pos) + ": " + e.Msg
	if e.Hint != "" {
		s += "\nhint: " + e.Hint
	}
	return s
}

func formatPos(p Pos) string {
	file := p.File
	if file == "" {
		file = "<config>"
	}
	switch {
	case p.Line <= 0:
		return file
	case p.Column <= 0:
		return fmt.Sprintf("%s:%d", file, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
	}
}

// ConfigErrors are every problem found in one configuration, in file order.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As reach each *ConfigError.
func (es ConfigErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// panicMessage starts the message of the error Load returns when it
// recovers from a panic; the fuzz test looks for it.
const panicMessage = "configuration error: internal failure"

// stdinName is the name a configuration read from standard input gets in
// error positions.
const stdinName = "<stdin>"

// maxConfigSize bounds what LoadFiles reads, so that "-c /dev/zero" fails
// instead of eating memory.
const maxConfigSize = 16 << 20

// ReadError is a configuration file or directory that could not be read,
// before any of it was parsed.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return "cannot read config " + e.Path + ": " + e.Err.Error() }

func (e *ReadError) Unwrap() error { return e.Err }

// LoadFiles reads, validates and loads a configuration made of the files at
// paths, as LoadSources does. A path may be a directory: its *.yaml and
// *.yml files are read in name order (hidden ones skipped), like a conf.d.
// "-" reads stdin, once. A path that cannot be read is a *ReadError; every
// problem inside the files comes back at once, as ConfigErrors.
func LoadFiles(paths []string, stdin io.Reader, lookupEnv func(string) (string, bool)) (*Config, error) {
	files, err := ExpandConfigPaths(paths)
	if err != nil {
		return nil, err
	}
	srcs := make([]Source, 0, len(files))
	for _, path := range files {
		var data []byte
		name := path
		if path == "-" {
			name = stdinName
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			data, err = io.ReadAll(io.LimitReader(stdin, maxConfigSize+1))
		} else {
			data, err = readLimited(path)
		}
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &ReadError{Path: name, Err: err}
		}
		if len(data) > maxConfigSize {
			return nil, &ReadError{Path: name, Err: fmt.Errorf("larger than %d MiB", maxConfigSize>>20)}
		}
		srcs = append(srcs, Source{Name: name, Data: data})
	}
	return LoadSources(srcs, lookupEnv)
}

// ExpandConfigPaths replaces each directory of paths by its *.yaml and *.yml
// files in name order. A directory without any, an empty path, and a file
// named twice are *ReadErrors.
func ExpandConfigPaths(paths []string) ([]string, error) {
	var out []string
	seen := map[string]string{}
	add := func(p, given string) error {
		key := p
		if p != "-" {
			if abs, err := filepath.Abs(p); err == nil {
				key = abs
			}
		}
		if first, dup := seen[key]; dup {
			msg := "it is given twice"
			if first != given {
				msg = "it is given twice, also as " + first
			}
			return &ReadError{Path: p, Err: errors.New(msg)}
		}
		seen[key] = given
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if p == "" {
			return nil, &ReadError{Path: `""`, Err: errors.New("empty path")}
		}
		if p == "-" {
			if err := add(p, p); err != nil {
				return nil, err
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() {
			// a missing file is reported when it is read
			if err := add(p, p); err != nil {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &ReadError{Path: p, Err: err}
		}
		n := 0
		for _, e := range entries {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			full := filepath.Join(p, name)
			if fi, err := os.Stat(full); err == nil && fi.IsDir() {
				continue
			}
			if err := add(full, p); err != nil {
				return nil, err
			}
			n++
		}
		if n == 0 {
			return nil, &ReadError{Path: p, Err: errors.New("the directory holds no *.yaml or *.yml file")}
		}
	}
	return out, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxConfigSize+1))
}

// Load validates and loads a configuration from data. name is used in error
// positions and to resolve relative ca_file paths (against its directory;
// against the working directory when name is "-", "<stdin>" or empty).
// lookupEnv resolves ${VAR} references; nil means every variable is unset.
// On any problem Load returns a nil Config and ConfigErrors holding every
// problem found, in file order.
func Load(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return LoadSources([]Source{{Name: name, Data: data}}, lookupEnv)
}

// Source is one configuration document and the name it goes by in error
// positions.
type Source struct {
	Name string
	Data []byte
}

// LoadSources validates and loads a configuration made of several
// documents, as from a conf.d directory: the services of all of them,
// defaults, controls and resolver from the first one that sets each. A
// document may leave services out when another has some. Duplicate service
// names are errors across documents too. Errors come in source order, then
// file order; lookupEnv is as for Load.
func LoadSources(srcs []Source, lookupEnv func(string) (string, bool)) (cfg *Config, err error) {
	l := &loader{
		lookup:   lookupEnv,
		files:    map[string]*srcFile{},
		expanded: map[*yaml.Node]expansion{},
		pools:    map[string]poolResult{},
		caRaw:    map[string]string{},
		multi:    len(srcs) > 1,
	}
	defer func() {
		// yaml.v3 has panicked on hostile input before; a bad file must be a
		// config error, never a crash.
		if r := recover(); r != nil {
			cfg = nil
			err = ConfigErrors{{Pos: Pos{File: l.name}, Msg: fmt.Sprintf("%s: %v", panicMessage, r)}}
		}
	}()
	if len(srcs) == 0 {
		return nil, ConfigErrors{{Msg: "no configuration given"}}
	}
	docs := make([]*document, 0, len(srcs))
	for i, src := range srcs {
		f := &srcFile{name: src.Name, index: i, lines: bytes.Count(src.Data, []byte{'\n'}) + 1}
		if f.name == "-" || f.name == "" {
			f.name = stdinName
		}
		f.baseDir = configDir(src.Name)
		if _, seen := l.files[f.name]; !seen {
			l.files[f.name] = f
		}
		l.use(f)
		docs = append(docs, &document{file: f, root: l.parse(src.Data)})
	}
	cfg = l.config(docs)
	if len(l.errs) > 0 {
		return nil, l.sortedErrors()
	}
	cfg.Warnings = l.warnings
	return cfg, nil
}

// srcFile is one document of a load, for positions and relative paths.
type srcFile struct {
	name    string
	baseDir string
	index   int // order among the sources, which orders errors
	lines   int
}

type document struct {
	file *srcFile
	root *yaml.Node // nil when the document did not parse to a mapping
}

// loader holds the state of one load: where problems are collected, and
// caches that keep each CA file read once.
type loader struct {
	name     string // of the document being read
	baseDir  string // of the document being read
	lookup   func(string) (string, bool)
	files    map[string]*srcFile
	multi    bool // more than one document
	errs     ConfigErrors
	warnings []*ConfigError
	expanded map[*yaml.Node]expansion
	pools    map[string]poolResult
	caFiles  map[string]caFileResult
	caRaw    map[string]string // absolute ca_file path -> as written
	visits   int               // mappings read, aliases and merges included
}

// use makes f the document that positions and relative paths refer to.
func (l *loader) use(f *srcFile) {
	l.name, l.baseDir = f.name, f.baseDir
}

// maxVisits bounds the mappings one Load reads. Aliases let a small file
// name the same subtree many times over (services: [*s, *s, ...] whose
// endpoints are [*e, *e, ...]); past this bound the file is rejected rather
// than expanded.
const maxVisits = 200_000

type expansion struct {
	value string
	ok    bool
}

func configDir(name string) string {
	if name == "" || name == "-" || name == stdinName {
		return ""
	}
	return filepath.Dir(name)
}

func (l *loader) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: l.name}
	}
	return Pos{File: l.name, Line: n.Line, Column: n.Column}
}

func (l *loader) errorf(n *yaml.Node, hint, format string, args ...any) {
	l.errs = append(l.errs, &ConfigError{Pos: l.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (l *loader) errorAt(p Pos, hint, format string, args ...any) {
	l.errs = append(l.errs, &ConfigError{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// sortedErrors orders problems as they appear in the files and drops exact
// repeats, which inherited settings and aliases produce.
func (l *loader) sortedErrors() ConfigErrors {
	for _, e := range l.errs {
		if f, ok := l.files[e.Pos.File]; ok && e.Pos.Line > f.lines {
			e.Pos.Line, e.Pos.Column = f.lines, 0
		}
	}
	sortByPosition(l.errs, l.files)
	out := l.errs[:0:0]
	done := map[ConfigError]bool{}
	for _, e := range l.errs {
		if done[*e] {
			continue
		}
		done[*e] = true
		out = append(out, e)
	}
	return out
}

// sortByPosition orders problems by source, then line and column.
func sortByPosition(list []*ConfigError, files map[string]*srcFile) {
	index := func(p Pos) int {
		if f, ok := files[p.File]; ok {
			return f.index
		}
		return -1
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Pos, list[j].Pos
		if ia, ib := index(a), index(b); ia != ib {
			return ia < ib
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

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
	l.errorAt(Pos{File: l.name, Line: line}, "", "invalid YAML: %s", msg)
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
			l.errorf(n, "use fewer aliases", "configuration expands to more than %d mappings", maxVisits)
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

var (
	topSchema = keySchema{
		what: "the top level",
		keys: []string{"version", "defaults", "controls", "services", "resolver"},
		misplaced: map[string]string{
			"timeout": "under defaults", "samples": "under defaults",
			"degraded_latency": "under defaults", "cert_min_days": "under defaults",
			"endpoints": "to a service, under services", "name": "to a service, under services",
			"target": "to an endpoint, under services: - endpoints:",
		},
	}
	defaultsSchema = keySchema{
		what: "defaults",
		keys: []string{"timeout", "samples", "degraded_latency", "cert_min_days"},
	}
	serviceSchema = keySchema{
		what: "service",
		keys: []string{"name", "description", "tags", "timeout", "samples", "degraded_latency", "cert_min_days", "endpoints", "functions"},
		misplaced: map[string]string{
			"target":   "to an endpoint, under endpoints",
			"critical": "to an endpoint, or to a function under functions",
			"min_up":   "to a function under functions",
			"role":     "to an endpoint, under endpoints",
			"expect":   "to an endpoint, under endpoints",
			"http":     "to an endpoint, under endpoints",
			"tls":      "to an endpoint, under endpoints",
		},
	}
	endpointKeys   = []string{"name", "target", "critical", "role", "timeout", "samples", "degraded_latency", "cert_min_days", "expect", "http", "tls"}
	endpointMisfit = map[string]string{
		"status": "under expect", "body_contains": "under expect",
		"method": "under http", "headers": "under http", "follow_redirects": "under http",
		"server_name": "under tls", "insecure_skip_verify": "under tls", "ca_file": "under tls",
		"ca_pem": "under tls", "system_roots": "under tls",
		"endpoints": "to a service", "functions": "to a service", "tags": "to a service",
		"description": "to a service",
	}
	endpointSchema = keySchema{what: "endpoint", keys: endpointKeys, misplaced: endpointMisfit}
	controlSchema  = keySchema{what: "control", keys: endpointKeys, misplaced: endpointMisfit}
	expectSchema   = keySchema{what: "expect", keys: []string{"status", "body_contains"}}
	httpSchema     = keySchema{what: "http", keys: []string{"method", "headers", "follow_redirects"}}
	tlsSchema      = keySchema{what: "tls", keys: []string{"server_name", "insecure_skip_verify", "ca_file", "ca_pem", "system_roots"}}
	functionSchema = keySchema{what: "function", keys: []string{"critical", "min_up"}}
)

// settingLevel is where a setting was last given, for choosing which position an
// error about two interacting settings points at.
type settingLevel int

const (
	levelBuiltin settingLevel = iota
	levelDefaults
	levelService
	levelEndpoint
)

func (lvl settingLevel) String() string {
	return [...]string{LevelBuiltin, LevelDefaults, LevelService, LevelEndpoint}[lvl]
}

// settingsLayer are the settings one level gives, each with its position
// (nil when the level does not set it).
type settingsLayer struct {
	timeout, samples, degraded, certMin *Pos
	values                              Settings
	broken                              bool // a setting here failed to parse
}

// effectiveSettings are settings after layering, with where each came from.
type effectiveSettings struct {
	Settings
	src                     SettingSources
	timeoutLvl, degradedLvl settingLevel
	broken                  bool
}

func builtinSettings() effectiveSettings {
	b := SettingSource{Level: LevelBuiltin}
	return effectiveSettings{Settings: DefaultSettings, src: SettingSources{b, b, b, b}}
}

func (e effectiveSettings) with(o settingsLayer, lvl settingLevel) effectiveSettings {
	if o.timeout != nil {
		e.Timeout, e.timeoutLvl = o.values.Timeout, lvl
		e.src.Timeout = SettingSource{lvl.String(), *o.timeout}
	}
	if o.samples != nil {
		e.Samples = o.values.Samples
		e.src.Samples = SettingSource{lvl.String(), *o.samples}
	}
	if o.degraded != nil {
		e.DegradedLatency, e.degradedLvl = o.values.DegradedLatency, lvl
		e.src.DegradedLatency = SettingSource{lvl.String(), *o.degraded}
	}
	if o.certMin != nil {
		e.CertMinDays = o.values.CertMinDays
		e.src.CertMinDays = SettingSource{lvl.String(), *o.certMin}
	}
	e.broken = e.broken || o.broken
	return e
}

// settings reads the setting keys of one level from its fields.
func (l *loader) settings(f map[string]keyVal) settingsLayer {
	var o settingsLayer
	at := func(n *yaml.Node) *Pos {
		p := l.pos(resolveAlias(n))
		return &p
	}
	if p, ok := f["timeout"]; ok {
		if d, good := l.duration(p.v, "timeout"); good {
			o.timeout, o.values.Timeout = at(p.v), d
		} else {
			o.broken = true
		}
	}
	if p, ok := f["samples"]; ok {
		if v, good := l.integer(p.v, "samples"); good {
			if v < 1 || v > 100 {
				l.errorf(p.v, "", "samples must be between 1 and 100, got %d", v)
			} else {
				o.samples, o.values.Samples = at(p.v), v
			}
		}
	}
	if p, ok := f["degraded_latency"]; ok {
		if d, good := l.duration(p.v, "degraded_latency"); good {
			o.degraded, o.values.DegradedLatency = at(p.v), d
		} else {
			o.broken = true
		}
	}
	if p, ok := f["cert_min_days"]; ok {
		if v, good := l.integer(p.v, "cert_min_days"); good {
			if v < 0 {
				l.errorf(p.v, "", "cert_min_days must not be negative, got %d", v)
			} else {
				o.certMin, o.values.CertMinDays = at(p.v), v
			}
		}
	}
	return o
}

// topLevel is one document's top-level keys.
type topLevel struct {
	file *srcFile
	root *yaml.Node
	f    map[string]keyVal
}

func (l *loader) config(docs []*document) *Config {
	cfg := &Config{}
	var tops []topLevel
	for _, d := range docs {
		cfg.Sources = append(cfg.Sources, d.file.name)
		if d.root == nil {
			continue
		}
		l.use(d.file)
		f := l.fields(d.root, topSchema)
		if f == nil {
			continue
		}
		if p, ok := f["version"]; !ok {
			if !misspelt(d.root, "version") {
				l.errorf(d.root, `add "version: 1" at the top`, "missing key \"version\"")
			}
		} else if v, good := l.integer(p.v, "version"); good {
			if v != 1 {
				l.errorf(p.v, "this msgprobe reads version 1", "unsupported version %d", v)
			}
			cfg.Version = v
		}
		tops = append(tops, topLevel{d.file, d.root, f})
	}

	// Every document's defaults, controls and resolver are checked; the
	// first document that sets each is the one used.
	base := builtinSettings()
	var defaultsAt, controlsAt, resolverAt *Pos
	for _, t := range tops {
		l.use(t.file)
		if p, ok := t.f["defaults"]; ok && !isNullNode(resolveAlias(p.v)) {
			var layer settingsLayer
			if df := l.fields(p.v, defaultsSchema); df != nil {
				layer = l.settings(df)
			}
			if l.claim(&defaultsAt, p.k, "defaults") {
				base = base.with(layer, levelDefaults)
			}
		}
	}
	cfg.Defaults = base.Settings
	for _, t := range tops {
		l.use(t.file)
		if p, ok := t.f["resolver"]; ok {
			var r string
			if s, good := l.str(p.v, "resolver"); good {
				r = l.resolver(resolveAlias(p.v), s)
			}
			if l.claim(&resolverAt, p.k, "resolver") {
				cfg.Resolver = r
			}
		}
		if p, ok := t.f["controls"]; ok && !isNullNode(resolveAlias(p.v)) {
			ctl := l.endpoints(p.v, "controls", controlSchema, "", base)
			if l.claim(&controlsAt, p.k, "controls") {
				cfg.Controls = ctl
			}
		}
	}

	names := map[string]Pos{}
	found, misspelled := false, false
	for _, t := range tops {
		l.use(t.file)
		p, ok := t.f["services"]
		if !ok {
			if misspelt(t.root, "services") {
				misspelled = true
			} else if !l.multi {
				l.errorf(t.root, "", "missing key \"services\"")
			}
			continue
		}
		found = true
		cfg.Services = append(cfg.Services, l.services(p.v, base, names)...)
	}
	if l.multi && !found && !misspelled && len(tops) > 0 {
		l.errorAt(Pos{File: tops[0].file.name}, `add "services:" to one of them`, "none of the %d files has services", len(docs))
	}
	sortByPosition(l.warnings, l.files)
	return cfg
}

// claim records that key k sets what at names; it reports whether this is
// the first document to set it. A later one is read and checked but has no
// effect, which a warning says.
func (l *loader) claim(at **Pos, k *yaml.Node, what string) bool {
	if *at == nil {
		p := l.pos(k)
		*at = &p
		return true
	}
	are, them, these := "are", "them", "these"
	if what == "resolver" {
		are, them, these = "is", "it", "this one"
	}
	l.warnings = append(l.warnings, &ConfigError{
		Pos:  l.pos(k),
		Msg:  fmt.Sprintf("%s here %s not used: %s sets %s first", what, are, formatPos(**at), them),
		Hint: fmt.Sprintf("the first file that sets %s wins; remove %s or move %s there", what, these, them),
	})
	return false
}

func (l *loader) resolver(n *yaml.Node, s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		hint := `write it as HOST:PORT, like "9.9.9.9:53" or "[2620:fe::fe]:53"`
		if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
			hint = fmt.Sprintf("did you mean %q?", net.JoinHostPort(ip.String(), "53"))
		} else if s != "" && !strings.Contains(s, ":") {
			hint = fmt.Sprintf("did you mean %q?", s+":53")
		}
		l.errorf(n, hint, "resolver %q is not HOST:PORT", s)
		return ""
	}
	if host == "" {
		l.errorf(n, "", "resolver %q has no host", s)
		return ""
	}
	if !l.checkPort(n, port, "resolver") {
		return ""
	}
	return s
}

func (l *loader) checkPort(n *yaml.Node, port, what string) bool {
	v, err := strconv.Atoi(port)
	if err != nil || port == "" {
		l.errorf(n, "", "%s port %q is not a number", what, port)
		return false
	}
	if v < 1 || v > 65535 {
		l.errorf(n, "", "%s port %d is out of range 1-65535", what, v)
		return false
	}
	return true
}

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
	f := l.fields(n, serviceSchema)
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
		svc.Endpoints = l.endpoints(p.v, "endpoints", endpointSchema, svc.Name, eff)
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
	if p, ok := f["expect"]; ok {
		l.expect(p, ep)
	}
	if p, ok := f["http"]; ok {
		if ep.Kind != "" && !ep.Kind.UsesHTTP() {
			l.errorf(p.k, "", "http block is only for http:// and https:// targets")
		}
		l.httpOptions(p.v, ep)
	}
	var tlsNodes map[string]keyVal
	if p, ok := f["tls"]; ok {
		if ep.Kind != "" && !ep.Kind.UsesTLS() {
			hint := ""
			switch ep.Kind {
			case KindTCP:
				hint = "use a tls:// target to check the handshake"
			case KindHTTP:
				hint = "use an https:// target"
			}
			l.errorf(p.k, hint, "tls block is only for tls:// and https:// targets")
		}
		tlsNodes = l.tlsOptions(p.v, ep)
	}
	if ep.Kind.UsesTLS() {
		l.buildTLS(ep, tlsNodes)
	}
	return ep
}

// checkLatency reports a degraded_latency that is not below the timeout an
// endpoint ends up with: such an endpoint could never be judged slow. The
// error points at the more specific of the two settings.
//
// The built-in degraded_latency is exempt: a short timeout set on its own
// (a 300ms probe of a LAN host) must not force the user to also lower a
// threshold they never wrote.
func (l *loader) checkLatency(e effectiveSettings) {
	if e.broken || e.DegradedLatency < e.Timeout || e.degradedLvl == levelBuiltin {
		return
	}
	pos, other, otherName := e.src.DegradedLatency.Pos, e.src.Timeout, "timeout"
	if e.timeoutLvl > e.degradedLvl {
		pos, other, otherName = e.src.Timeout.Pos, e.src.DegradedLatency, "degraded_latency"
	}
	hint := fmt.Sprintf("%s is the built-in default", otherName)
	switch {
	case other.Level == LevelBuiltin:
	case other.Pos.File == pos.File:
		hint = fmt.Sprintf("%s is set at line %d", otherName, other.Pos.Line)
	default:
		hint = fmt.Sprintf("%s is set at %s", otherName, formatPos(other.Pos))
	}
	l.errorAt(pos, hint, "degraded_latency %s is not below timeout %s", e.DegradedLatency, e.Timeout)
}

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

func (l *loader) expect(p keyVal, ep *Endpoint) {
	if isNullNode(resolveAlias(p.v)) {
		return
	}
	f := l.fields(p.v, expectSchema)
	if f == nil {
		return
	}
	httpOnly := func(q keyVal, key string) {
		if ep.Kind != "" && !ep.Kind.UsesHTTP() {
			l.errorf(q.k, "", "expect.%s is only for http:// and https:// targets", key)
		}
	}
	if q, ok := f["status"]; ok {
		httpOnly(q, "status")
		v := resolveAlias(q.v)
		if v.Kind != yaml.SequenceNode {
			hint := ""
			if v.ShortTag() == "!!int" {
				hint = fmt.Sprintf("write a list: status: [%s]", v.Value)
			}
			l.errorf(v, hint, "expect.status must be a list of integers, got %s", nodeDesc(v))
		} else {
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
		}
	}
	if q, ok := f["body_contains"]; ok {
		httpOnly(q, "body_contains")
		if s, good := l.str(q.v, "expect.body_contains"); good {
			if s == "" {
				l.errorf(resolveAlias(q.v), "leave body_contains out to skip reading the body", "expect.body_contains is empty")
			}
			ep.Expect.BodyContains = s
		}
	}
}

var httpTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (l *loader) httpOptions(n *yaml.Node, ep *Endpoint) {
	if isNullNode(resolveAlias(n)) {
		return
	}
	f := l.fields(n, httpSchema)
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
func (l *loader) headers(n *yaml.Node) map[string]string {
	n = resolveAlias(n)
	if isNullNode(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "", "http.headers must be a mapping of name: value, got %s", nodeDesc(n))
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
			l.errorf(k, "a header name is letters, digits and -", "invalid header name %s in http.headers", name)
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

func (l *loader) tlsOptions(n *yaml.Node, ep *Endpoint) map[string]keyVal {
	if isNullNode(resolveAlias(n)) {
		return nil
	}
	f := l.fields(n, tlsSchema)
	if f == nil {
		return nil
	}
	if p, ok := f["server_name"]; ok {
		if s, good := l.str(p.v, "tls.server_name"); good {
			if s == "" || strings.ContainsAny(s, " /:@") {
				l.errorf(resolveAlias(p.v), "server_name is a host name, without scheme or port", "tls.server_name %q is not a host name", s)
			} else {
				ep.TLS.ServerName = s
			}
		}
	}
	if p, ok := f["insecure_skip_verify"]; ok {
		ep.TLS.InsecureSkipVerify, _ = l.boolean(p.v, "tls.insecure_skip_verify")
	}
	if p, ok := f["system_roots"]; ok {
		ep.TLS.SystemRoots, _ = l.boolean(p.v, "tls.system_roots")
	}
	if p, ok := f["ca_file"]; ok {
		if s, good := l.str(p.v, "tls.ca_file"); good {
			if s == "" {
				l.errorf(resolveAlias(p.v), "", "tls.ca_file is empty")
			} else {
				ep.TLS.CAFile = l.resolvePath(s)
				l.caRaw[ep.TLS.CAFile] = s
			}
		}
	}
	if p, ok := f["ca_pem"]; ok {
		if s, good := l.str(p.v, "tls.ca_pem"); good {
			ep.TLS.CAPEM = s
		}
	}
	return f
}

// resolvePath makes a path from the config absolute, relative to the config
// file's directory, so that the result does not depend on where msgprobe
// runs from.
func (l *loader) resolvePath(p string) string {
	if !filepath.IsAbs(p) && l.baseDir != "" {
		p = filepath.Join(l.baseDir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}
