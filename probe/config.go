package probe

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

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
		lookup:    lookupEnv,
		files:     map[string]*srcFile{},
		expanded:  map[*yaml.Node]expansion{},
		pools:     map[string]poolResult{},
		caRaw:     map[string]string{},
		tlsFields: map[*Endpoint]map[string]keyVal{},
		reg:       theRegistry(),
		multi:     len(srcs) > 1,
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
	// tlsFields are the tls block's fields of the endpoint being read, for
	// the positions of errors found when its TLS configuration is built.
	tlsFields map[*Endpoint]map[string]keyVal
	// reg is the protocol registry, held here so that the decoders in the
	// registry's own tables can reach it.
	reg    *registry
	visits int // mappings read, aliases and merges included
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
	functionSchema = keySchema{what: "function", keys: []string{"critical", "min_up"}}
)

// settingLevel is where a setting was last given, for choosing which position an

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
			ctl := l.endpoints(p.v, "controls", theRegistry().control, "", base)
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

func (l *loader) resolvePath(p string) string {
	if !filepath.IsAbs(p) && l.baseDir != "" {
		p = filepath.Join(l.baseDir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}
