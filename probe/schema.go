package probe

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync"
)

// SchemaURL is where the schema of the main branch is published, for the
// "# yaml-language-server: $schema=..." line of a configuration file.
const SchemaURL = "https://raw.githubusercontent.com/msgprobe/msgprobe/main/probe/schema.json"

// schemaFS holds the base schema and one fragment per protocol. A fragment
// is a JSON object with any of:
//
//	"targets": {"SCHEME": {"pattern": "..."}}   what a target of the scheme looks like
//	"blocks":  {"BLOCK": {...}}                  the schema of an option block
//	"expect":  {"KEY": {...}}                    the schema of an expect key
//
// Which scheme takes which block and expect key comes from the protocol
// table, so the schema and the loader cannot disagree about it.
//
//go:embed schema/*.json
var schemaFS embed.FS

// Schema is the JSON Schema (draft 2020-12) of a configuration file, for
// editors: with it, the YAML language server completes keys and flags
// mistakes as they are typed. The loader stays the authority; the schema's
// tests prove the two agree on every example and on known mistakes.
// probe/schema.json is this value, committed for SchemaURL.
func Schema() []byte { return assembledSchema() }

var assembledSchema = sync.OnceValue(func() []byte {
	b, err := buildSchema()
	if err != nil {
		panic("probe: " + err.Error())
	}
	return b
})

type schemaFragment struct {
	Targets map[string]json.RawMessage `json:"targets"`
	Blocks  map[string]json.RawMessage `json:"blocks"`
	Expect  map[string]json.RawMessage `json:"expect"`
}

func buildSchema() ([]byte, error) {
	var base map[string]any
	raw, err := schemaFS.ReadFile("schema/base.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("schema/base.json: %w", err)
	}
	ep := dig(base, "$defs", "endpoint")
	props := dig(ep, "properties")
	expectProps := dig(props, "expect", "properties")
	target := dig(props, "target")
	envPattern := target["anyOf"].([]any)

	entries, err := schemaFS.ReadDir("schema")
	if err != nil {
		return nil, err
	}
	targets := map[string]any{}
	for _, e := range entries {
		if e.Name() == "base.json" {
			continue
		}
		raw, err := schemaFS.ReadFile(path.Join("schema", e.Name()))
		if err != nil {
			return nil, err
		}
		var f schemaFragment
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("schema/%s: %w", e.Name(), err)
		}
		for k, v := range f.Targets {
			targets[k] = decodeAny(v)
		}
		for k, v := range f.Blocks {
			props[k] = decodeAny(v)
		}
		for k, v := range f.Expect {
			expectProps[k] = decodeAny(v)
		}
	}

	var anyOf []any
	var allOf []any
	schemes := Schemes()
	for _, s := range schemes {
		t, ok := targets[s]
		if !ok {
			return nil, fmt.Errorf("no schema fragment gives the target of scheme %q", s)
		}
		anyOf = append(anyOf, t)
		p := ProtocolOf(Kind(s))
		not := map[string]any{}
		for _, b := range blocks {
			if b.Name != "expect" && !p.accepts(b.Name) {
				not[b.Name] = false
			}
		}
		var notExpect []string
		for _, k := range expectKeys {
			if !containsString(p.Expect, k.Name) {
				notExpect = append(notExpect, k.Name)
			}
		}
		if len(notExpect) > 0 {
			ex := map[string]any{}
			for _, k := range notExpect {
				ex[k] = false
			}
			not["expect"] = map[string]any{"properties": ex}
		}
		if len(not) == 0 {
			continue
		}
		allOf = append(allOf, map[string]any{
			"if": map[string]any{
				"required":   []any{"target"},
				"properties": map[string]any{"target": map[string]any{"type": "string", "pattern": `^\s*` + caseless(s) + "://"}},
			},
			"then": map[string]any{"properties": not},
		})
	}
	for _, b := range blocks {
		if _, ok := props[b.Name]; !ok {
			return nil, fmt.Errorf("no schema fragment gives block %q", b.Name)
		}
	}
	for _, k := range expectKeys {
		if _, ok := expectProps[k.Name]; !ok {
			return nil, fmt.Errorf("no schema fragment gives expect key %q", k.Name)
		}
	}
	target["anyOf"] = append(anyOf, envPattern...)
	if len(allOf) > 0 {
		ep["allOf"] = allOf
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(base); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// dig walks nested objects by key.
func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

func decodeAny(raw json.RawMessage) any {
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}

// caseless is a regular expression matching s in any case: "tcp" ->
// "[Tt][Cc][Pp]"; other characters are escaped.
func caseless(s string) string {
	var b strings.Builder
	for _, r := range s {
		lo, up := strings.ToLower(string(r)), strings.ToUpper(string(r))
		switch {
		case lo != up:
			b.WriteString("[" + up + lo + "]")
		case strings.ContainsRune(`\.+*?()|[]{}^$`, r):
			b.WriteString(`\` + string(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
