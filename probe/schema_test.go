package probe

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaURL)
	if err != nil {
		t.Fatalf("schema.json does not compile as a JSON Schema: %v", err)
	}
	return sch
}

// yamlToJSON turns a YAML document into the values a JSON decoder would
// give, as an editor's YAML language server does before it applies the
// schema: aliases and merge keys resolved, map keys as strings.
func yamlToJSON(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return normalise(v), nil
}

func normalise(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalise(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = normalise(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalise(x)
		}
		return out
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}

// schemaCheck validates YAML data against the schema; a document that is
// not YAML fails it too, as it does in an editor.
func schemaCheck(sch *jsonschema.Schema, data []byte) error {
	v, err := yamlToJSON(data)
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// Every shipped catalog and every valid test file passes both the schema
// and the loader.
func TestSchemaAcceptsWhatLoads(t *testing.T) {
	sch := compileSchema(t)
	examples, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	valid, err := filepath.Glob(filepath.Join(configTestdata, "valid-*.yaml"))
	if err != nil || len(valid) == 0 {
		t.Fatalf("no valid-*.yaml found: %v", err)
	}
	for _, file := range append(examples, valid...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := schemaCheck(sch, data); err != nil {
				t.Errorf("schema rejects it:\n%v", err)
			}
			// Every variable is set: examples/delivery.yaml takes its
			// credentials from the environment, as it must.
			everySet := func(string) (string, bool) { return "set-by-the-test", true }
			if _, err := LoadFiles([]string{file}, nil, everySet); err != nil {
				t.Errorf("loader rejects it:\n%v", err)
			}
		})
	}
}

// schemaSees says, for each invalid test file, whether its mistakes are of
// the shape a JSON Schema can see. The others (duplicates, unreadable CA
// files, unset variables, degraded_latency against timeout) only the
// loader finds; the schema must accept them, so that this table stays the
// truth about where the boundary is.
var schemaSees = map[string]bool{
	"invalid-ca.yaml":               false,
	"invalid-degraded-latency.yaml": false,
	"invalid-duplicates.yaml":       false,
	"invalid-durations.yaml":        true,
	"invalid-empty.yaml":            true,
	"invalid-env.yaml":              false,
	"invalid-five.yaml":             true,
	"invalid-host.yaml":             true,
	"invalid-kind-blocks.yaml":      true,
	"invalid-multidoc.yaml":         false, // editors check each document on its own
	"invalid-numbers.yaml":          true,
	"invalid-port.yaml":             true,
	"invalid-repeated-key.yaml":     true,
	"invalid-resolver.yaml":         true,
	"invalid-roles.yaml":            true,
	"invalid-scheme.yaml":           true,
	"invalid-secrets.yaml":          true,
	"invalid-services.yaml":         true,
	"invalid-syntax.yaml":           true,
	"invalid-types.yaml":            true,
	"invalid-unknown-key.yaml":      true,
	"invalid-version-missing.yaml":  true,
	"invalid-version.yaml":          true,
}

func TestSchemaRejectsInvalidFiles(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob(filepath.Join(configTestdata, "invalid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			sees, listed := schemaSees[name]
			if !listed {
				t.Fatalf("%s is not in schemaSees: say whether the schema can see its mistakes", name)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := loadFile(file); err == nil {
				t.Errorf("loader accepts it")
			}
			err = schemaCheck(sch, data)
			switch {
			case sees && err == nil:
				t.Errorf("schema accepts it")
			case !sees && err != nil:
				t.Errorf("schema rejects it, but its mistakes are listed as beyond the schema:\n%v", err)
			}
		})
	}
	if len(files) != len(schemaSees) {
		t.Errorf("%d invalid files, %d entries in schemaSees", len(files), len(schemaSees))
	}
}

// One mistake at a time, at every level: the schema and the loader must both
// reject each, and both accept each valid variant.
func TestSchemaAndLoaderAgree(t *testing.T) {
	sch := compileSchema(t)
	const head = "version: 1\nservices:\n  - name: s\n    endpoints:\n"
	ep := func(lines ...string) string {
		return head + "      - " + strings.Join(lines, "\n        ") + "\n"
	}
	bad := map[string]string{
		"unknown top key":        "version: 1\nservice: []\n",
		"unknown defaults key":   "version: 1\ndefaults: {timout: 5s}\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"unknown service key":    "version: 1\nservices:\n  - name: s\n    endpoint: []\n    endpoints: [{target: 'tcp://h:1'}]\n",
		"unknown endpoint key":   ep("target: tcp://h:1", "timout: 5s"),
		"unknown expect key":     ep("target: https://h/", "expect: {stauts: [200]}"),
		"unknown http key":       ep("target: https://h/", "http: {metod: GET}"),
		"unknown tls key":        ep("target: tls://h:1", "tls: {servername: h}"),
		"unknown function key":   head + "      - {target: 'tcp://h:1', role: messaging}\n    functions: {messaging: {critcal: true}}\n",
		"unknown function role":  head + "      - {target: 'tcp://h:1', role: messaging}\n    functions: {mesaging: {}}\n",
		"unknown role":           ep("target: tcp://h:1", "role: chat"),
		"version 2":              "version: 2\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"version as string":      "version: '1'\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"no version":             "services: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"services a mapping":     "version: 1\nservices: {name: s}\n",
		"services empty":         "version: 1\nservices: []\n",
		"service without name":   "version: 1\nservices: [{endpoints: [{target: 'tcp://h:1'}]}]\n",
		"service blank name":     "version: 1\nservices: [{name: ' ', endpoints: [{target: 'tcp://h:1'}]}]\n",
		"no endpoints":           "version: 1\nservices: [{name: s}]\n",
		"endpoints empty":        "version: 1\nservices: [{name: s, endpoints: []}]\n",
		"no target":              ep("name: x"),
		"target a list":          ep("target: [tcp://h:1]"),
		"no scheme":              ep("target: h:443"),
		"misspelt scheme":        ep("target: htps://h/"),
		"unsupported scheme":     ep("target: quic://h/"),
		"tcp without port":       ep("target: tcp://h"),
		"tls without port":       ep("target: tls://h"),
		"tcp with path":          ep("target: tcp://h:1/x"),
		"empty host":             ep("target: https:///x"),
		"ipv6 without brackets":  ep("target: tcp://2001:db8::1:443"),
		"timeout without unit":   ep("target: tcp://h:1", "timeout: 5"),
		"timeout zero":           ep("target: tcp://h:1", "timeout: 0s"),
		"timeout negative":       ep("target: tcp://h:1", "timeout: -1s"),
		"timeout words":          ep("target: tcp://h:1", "timeout: soon"),
		"degraded without unit":  "version: 1\ndefaults: {degraded_latency: 800}\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"samples zero":           ep("target: tcp://h:1", "samples: 0"),
		"samples 101":            "version: 1\ndefaults: {samples: 101}\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"samples a word":         ep("target: tcp://h:1", "samples: three"),
		"samples a fraction":     ep("target: tcp://h:1", "samples: 2.5"),
		"cert days negative":     ep("target: tls://h:1", "cert_min_days: -1"),
		"critical yes":           ep("target: tcp://h:1", "critical: yes"),
		"status not a list":      ep("target: https://h/", "expect: {status: 200}"),
		"status 700":             ep("target: https://h/", "expect: {status: [700]}"),
		"status 99":              ep("target: https://h/", "expect: {status: [99]}"),
		"body_contains empty":    ep("target: https://h/", "expect: {body_contains: ''}"),
		"body_contains on tcp":   ep("target: tcp://h:1", "expect: {body_contains: x}"),
		"status on tls":          ep("target: tls://h:1", "expect: {status: [200]}"),
		"tls block on tcp":       ep("target: tcp://h:1", "tls: {server_name: h}"),
		"tls block on http":      ep("target: http://h/", "tls: {insecure_skip_verify: true}"),
		"http block on tcp":      ep("target: tcp://h:1", "http: {method: GET}"),
		"http block on tls":      ep("target: tls://h:1", "http: {method: GET}"),
		"lower-case method":      ep("target: https://h/", "http: {method: get}"),
		"header name with space": ep("target: https://h/", "http: {headers: {'Bad Name': x}}"),
		"headers a list":         ep("target: https://h/", "http: {headers: [x]}"),
		"server_name with port":  ep("target: tls://h:1", "tls: {server_name: 'h:443'}"),
		"ca_file empty":          ep("target: tls://h:1", "tls: {ca_file: ''}"),
		"min_up negative":        head + "      - {target: 'tcp://h:1', role: messaging}\n    functions: {messaging: {min_up: -1}}\n",
		"tags a string":          "version: 1\nservices: [{name: s, tags: a, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"controls a mapping":     "version: 1\ncontrols: {target: 'tcp://h:1'}\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"resolver without port":  "version: 1\nresolver: 9.9.9.9\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"a list at the top":      "- version: 1\n",
		"ws step with two keys":  ep("target: ws://h/", "websocket: {dialogue: [{send: a, expect: b}]}"),
		"ws step empty":          ep("target: ws://h/", "websocket: {dialogue: [{}]}"),
		"ws bad hex":             ep("target: ws://h/", "websocket: {dialogue: [{send_hex: 0g}]}"),
		"ws odd hex":             ep("target: ws://h/", "websocket: {dialogue: [{expect_hex: abc}]}"),
		"ws empty expect":        ep("target: ws://h/", "websocket: {dialogue: [{expect: ''}]}"),
		"ws empty dialogue":      ep("target: ws://h/", "websocket: {dialogue: []}"),
		"ws reserved header":     ep("target: ws://h/", "websocket: {headers: {Sec-WebSocket-Key: x}}"),
		"ws origin with path":    ep("target: ws://h/", "websocket: {origin: 'https://a.test/x'}"),
		"ws max_message zero":    ep("target: ws://h/", "websocket: {max_message: 0}"),
		"ws max_message words":   ep("target: ws://h/", "websocket: {max_message: lots}"),
		"ws fragment":            ep("target: 'wss://h/#x'"),
		"tls block on ws":        ep("target: ws://h/", "tls: {server_name: h}"),
		"websocket block on tcp": ep("target: tcp://h:1", "websocket: {dialogue: [{send: x}]}"),
		"http block on wss":      ep("target: wss://h/", "http: {method: GET}"),
	}
	good := map[string]string{
		"minimal":             ep("target: tcp://h:1"),
		"upper-case scheme":   ep("target: HTTPS://Example.test:8443/"),
		"ipv6 literal":        ep("target: tls://[2001:db8::1]:443"),
		"ipv6 http":           ep("target: http://[::1]:8080/x?y=1"),
		"password in url":     ep("target: https://u:p@h/"),
		"env everywhere":      "version: 1\ndefaults: {timeout: '${T:-2s}', samples: '${N:-2}'}\nservices:\n  - name: '${NAME:-s}'\n    endpoints:\n      - {target: 'https://${HOST:-h}/', critical: '${C:-true}', role: '${R:-web}', http: {method: '${M:-HEAD}'}, expect: {status: ['${S:-200}']}}\n",
		"numeric name":        "version: 1\nservices: [{name: 1984, endpoints: [{target: 'tcp://h:1', name: 7}]}]\n",
		"null blocks":         "version: 1\ndefaults:\ncontrols:\nservices:\n  - name: s\n    tags:\n    functions:\n    endpoints:\n      - {target: 'https://h/', expect: , http: , tls: }\n",
		"function null":       head + "      - {target: 'tcp://h:1', role: messaging}\n    functions: {messaging: }\n",
		"merge key":           head + "      - &e {target: 'https://h/', http: {method: HEAD}}\n      - <<: *e\n        name: copy\n",
		"expect on tcp empty": ep("target: tcp://h:1", "expect: {}"),
		"durations":           ep("target: tcp://h:1", "timeout: 1m30s", "degraded_latency: 1500ms"),
		"resolver ipv6":       "version: 1\nresolver: '[2620:fe::fe]:53'\nservices: [{name: s, endpoints: [{target: 'tcp://h:1'}]}]\n",
		"header values typed": ep("target: https://h/", "http: {headers: {X-Count: 5, X-On: true}}"),
		"ws dialogue":         ep("target: ws://h:8080/gateway?v=10", "websocket: {subprotocols: [json], origin: 'https://a.test', headers: {X-A: 1}, max_message: 64KiB, dialogue: [{expect: '\"op\":10'}, {send: '{}'}, {send_hex: 'de:ad'}, {expect_hex: 'ca fe'}]}"),
		"wss with tls":        ep("target: WSS://h/", "tls: {server_name: h}", "websocket:"),
	}
	for name, doc := range bad {
		t.Run("bad/"+name, func(t *testing.T) {
			if _, err := Load("bad.yaml", []byte(doc), nil); err == nil {
				t.Errorf("loader accepts:\n%s", doc)
			}
			if err := schemaCheck(sch, []byte(doc)); err == nil {
				t.Errorf("schema accepts:\n%s", doc)
			}
		})
	}
	for name, doc := range good {
		t.Run("good/"+name, func(t *testing.T) {
			if _, err := Load("good.yaml", []byte(doc), nil); err != nil {
				t.Errorf("loader rejects:\n%s\n%v", doc, err)
			}
			if err := schemaCheck(sch, []byte(doc)); err != nil {
				t.Errorf("schema rejects:\n%s\n%v", doc, err)
			}
		})
	}
}

// The schema names exactly the keys the loader knows, at every level, and
// exactly its roles.
func TestSchemaKeysMatchLoader(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) map[string]any {
		var cur any = s
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("schema has no %s", strings.Join(path, "/"))
			}
			cur = m[p]
		}
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("schema has no object at %s", strings.Join(path, "/"))
		}
		return m
	}
	keys := func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(l []string) []string {
		l = slices.Clone(l)
		sort.Strings(l)
		return l
	}
	levels := []struct {
		path []string
		keys []string
	}{
		{[]string{"properties"}, topSchema.keys},
		{[]string{"properties", "defaults", "properties"}, defaultsSchema.keys},
		{[]string{"$defs", "service", "properties"}, serviceSchema.keys},
		{[]string{"$defs", "endpoint", "properties"}, theRegistry().endpoint.keys},
		{[]string{"$defs", "endpoint", "properties", "expect", "properties"}, theRegistry().expectKeys.keys},
		{[]string{"$defs", "service", "properties", "functions", "additionalProperties", "properties"}, functionSchema.keys},
	}
	for _, b := range blocks {
		if len(b.Keys) > 0 {
			levels = append(levels, struct {
				path []string
				keys []string
			}{[]string{"$defs", "endpoint", "properties", b.Name, "properties"}, b.Keys})
		}
	}
	for _, lv := range levels {
		if got, want := keys(at(lv.path...)), sorted(lv.keys); !slices.Equal(got, want) {
			t.Errorf("%s: schema keys %v, loader keys %v", strings.Join(lv.path, "/"), got, want)
		}
	}
	enumOf := func(m map[string]any) []string {
		var out []string
		for _, v := range m["enum"].([]any) {
			out = append(out, v.(string))
		}
		sort.Strings(out)
		return out
	}
	roles := at("$defs", "role")["anyOf"].([]any)[0].(map[string]any)
	if got := enumOf(roles); !slices.Equal(got, sorted(Roles)) {
		t.Errorf("schema roles %v, loader roles %v", got, Roles)
	}
	fnRoles := at("$defs", "service", "properties", "functions", "propertyNames")
	if got := enumOf(fnRoles); !slices.Equal(got, sorted(Roles)) {
		t.Errorf("schema function roles %v, loader roles %v", got, Roles)
	}
	if id := s["$id"]; id != SchemaURL {
		t.Errorf("$id %v, want SchemaURL %s", id, SchemaURL)
	}
}

// probe/schema.json, published at SchemaURL, is the assembled schema; run
// `go test ./probe -run TestSchemaFileUpToDate -update` after changing a
// fragment.
func TestSchemaFileUpToDate(t *testing.T) {
	if *updateSchema {
		if err := os.WriteFile("schema.json", Schema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Schema()) {
		t.Errorf("probe/schema.json is not the assembled schema: run go test ./probe -run TestSchemaFileUpToDate -update")
	}
}

var updateSchema = flag.Bool("update", false, "rewrite probe/schema.json from probe/schema/")
