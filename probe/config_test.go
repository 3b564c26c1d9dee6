package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

const configTestdata = "testdata/config"

// loadFile loads one file as msgprobe -c FILE does.
func loadFile(path string) (*Config, error) {
	return LoadFiles([]string{path}, nil, os.LookupEnv)
}

func TestLoadInvalidFiles(t *testing.T) {
	dir, err := filepath.Abs(configTestdata)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want string // {file} is the path given to loadFile, {dir} its absolute directory, {schemes} the scheme list
	}{
		{"invalid-ca.yaml", `{file}:8:20: tls.ca_file "./no-such-ca.pem": cannot read: no such file or directory
hint: looked for {dir}/no-such-ca.pem (relative paths start from the configuration's directory)
{file}:12:20: tls.ca_file "invalid-ca.yaml": no PEM certificate found
{file}:16:19: tls.ca_pem: certificate 1: x509: malformed certificate
hint: ca_pem holds "-----BEGIN CERTIFICATE-----" blocks
{file}:23:19: tls.ca_pem: no PEM certificate found
hint: ca_pem holds "-----BEGIN CERTIFICATE-----" blocks`},
		{"invalid-degraded-latency.yaml", `{file}:8:18: degraded_latency 2s is not below timeout 1s
hint: degraded_latency is set at line 3
{file}:11:23: degraded_latency 10s is not below timeout 5s
hint: timeout is the built-in default`},
		{"invalid-duplicates.yaml", `{file}:7:9: duplicate endpoint name "Web" in service "WhatsApp" (first at line 5, column 9)
hint: give each endpoint its own name
{file}:10:9: duplicate endpoint name "tcp://e1.whatsapp.net:5222" in service "WhatsApp" (first at line 9, column 9)
hint: give each endpoint its own name
{file}:11:11: duplicate service name "whatsapp" (first at line 3, column 11)
hint: service names are compared without case`},
		{"invalid-durations.yaml", `{file}:3:12: timeout 5 has no unit
hint: did you mean "5s"?
{file}:4:21: degraded_latency 800 has no unit
hint: did you mean "800ms"?
{file}:7:14: timeout must be positive, got 0s
{file}:10:18: timeout must be positive, got -1s
{file}:12:27: degraded_latency "soon" is not a duration
hint: a duration is a number with a unit: "ms", "s", "m" or "h", like "5s" or "800ms"`},
		{"invalid-empty.yaml", `{file}: configuration is empty
hint: start it with "version: 1"`},
		{"invalid-env.yaml", `{file}:5:17: environment variable "MSGPROBE_TEST_UNSET" is not set
hint: set it, or give a default: ${MSGPROBE_TEST_UNSET:-value}
{file}:8:28: environment variable "MSGPROBE_TEST_TOKEN" is not set
hint: set it, or give a default: ${MSGPROBE_TEST_TOKEN:-value}
{file}:11:18: unterminated ${ in value
hint: close it with "}", or write "$$" for a literal "$"
{file}:12:15: invalid variable name "1BAD" in ${...}
hint: a name is letters, digits and underscores, not starting with a digit`},
		{"invalid-five.yaml", `{file}:3:12: timeout 5 has no unit
hint: did you mean "5s"?
{file}:8:17: tcp:// target has no port
hint: write it as tcp://e1.whatsapp.net:PORT
{file}:10:17: unknown scheme "htps" in target
hint: did you mean "https"?
{file}:11:9: unknown key "timout" in endpoint
hint: did you mean "timeout"?
{file}:12:11: duplicate service name "Whatsapp" (first at line 5, column 11)
hint: service names are compared without case`},
		{"invalid-host.yaml", `{file}:5:17: target has no host
{file}:6:17: target has no host
{file}:7:17: target has an IPv6 address without brackets
hint: write IPv6 addresses in brackets, like tcp://[2001:db8::1]:443`},
		{"invalid-kind-blocks.yaml", `{file}:8:11: expect.body_contains does not apply to tcp:// targets
{file}:9:9: tls block does not apply to tcp:// targets
hint: use a tls:// target to check the handshake
{file}:13:9: tls block does not apply to http:// targets
hint: use an https:// target
{file}:17:9: http block does not apply to tls:// targets
{file}:20:11: expect.status does not apply to tls:// targets`},
		{"invalid-multidoc.yaml", `{file}:6:1: configuration holds more than one YAML document
hint: remove the "---" separator and everything after it`},
		{"invalid-numbers.yaml", `{file}:3:12: samples must be between 1 and 100, got 0
{file}:4:18: cert_min_days must not be negative, got -1
{file}:7:14: samples must be between 1 and 100, got 101
{file}:10:18: samples must be an integer, got "three"
{file}:12:25: expect.status 700 is not an HTTP status (100-599)
{file}:12:30: expect.status 99 is not an HTTP status (100-599)`},
		{"invalid-port.yaml", `{file}:5:17: tcp:// target has no port
hint: write it as tcp://g-33.0.threema.ch:PORT
{file}:6:17: target port 70000 is out of range 1-65535
{file}:7:17: target port 0 is out of range 1-65535
{file}:8:17: target port 99999 is out of range 1-65535
{file}:9:17: target has an empty port`},
		{"invalid-repeated-key.yaml", `{file}:4:5: key "name" is repeated in service (first at line 3, column 5)
{file}:8:19: http.method "get" is not upper-case
hint: did you mean "GET"?
{file}:11:13: header "x-a" is repeated (first at line 10, column 13)`},
		{"invalid-resolver.yaml", `{file}:2:11: resolver "9.9.9.9" is not HOST:PORT
hint: did you mean "9.9.9.9:53"?`},
		{"invalid-roles.yaml", `{file}:5:7: unknown role "mesaging" in functions
hint: did you mean "messaging"?
{file}:6:23: min_up must not be negative, got -1
{file}:7:7: min_up 3 is more than the endpoints with role "calls" (1)
{file}:8:7: no endpoint of this service has role "web"
hint: set role: web on the endpoints that serve it
{file}:15:15: unknown role "call"
hint: did you mean "calls"?`},
		{"invalid-scheme.yaml", `{file}:5:17: unknown scheme "htps" in target
hint: did you mean "https"?
{file}:6:17: target has no scheme
hint: did you mean "tcp://chat.signal.org:443" or "tls://chat.signal.org:443"?
{file}:7:17: target has no scheme
hint: did you mean "https://chat.signal.org/"?
{file}:8:17: scheme "quic" is not supported yet
hint: supported schemes: {schemes}
{file}:9:17: unknown scheme "gopher" in target
hint: supported schemes: {schemes}`},
		{"invalid-secrets.yaml", `{file}:5:17: target port 99999 is out of range 1-65535
{file}:9:28: header "Authorization" has a line break or NUL in its value
{file}:10:13: invalid header name "Bad Name" in http.headers
hint: a header name is letters, digits and -
{file}:11:17: tcp:// target must not carry a user name or password`},
		{"invalid-services.yaml", `{file}:3:5: service has no name
{file}:7:16: service "Empty" has no endpoints
{file}:8:5: service "Nothing" has no endpoints
{file}:9:11: service name is empty`},
		{"invalid-syntax.yaml", `{file}:6: invalid YAML: did not find expected key`},
		{"invalid-types.yaml", `{file}:1:10: version must be an integer, got "1"
{file}:2:11: defaults must be a mapping, got a string
{file}:4:3: controls must be a list, got a mapping
{file}:7:11: tags must be a list of strings, got a string
hint: write a list: tags: [a, b]
{file}:10:19: critical must be true or false, got "yes"
hint: did you mean true?
{file}:11:18: samples must be an integer, got "2.5"
{file}:13:11: expect.status does not apply to tcp:// targets
{file}:13:19: expect.status must be a list of integers, got an integer
hint: write a list: status: [200]
{file}:14:9: http block does not apply to tcp:// targets
{file}:15:20: http.headers must be a mapping of name: value, got a list
{file}:16:17: target must be a string, got a list
{file}:17:9: endpoint must be a mapping, got a string`},
		{"invalid-unknown-key.yaml", `{file}:3:3: unknown key "sample" in defaults
hint: did you mean "samples"?
{file}:6:5: unknown key "endpoint" in service
hint: did you mean "endpoints"?
{file}:11:9: unknown key "timout" in endpoint
hint: did you mean "timeout"?
{file}:13:11: unknown key "metod" in http
hint: did you mean "method"?
{file}:14:9: unknown key "headers" in endpoint
hint: "headers" belongs under http`},
		{"invalid-version-missing.yaml", `{file}:1:1: missing key "version"
hint: add "version: 1" at the top`},
		{"invalid-version.yaml", `{file}:1:10: unsupported version 2
hint: this msgprobe reads version 1`},
	}
	files, err := filepath.Glob(filepath.Join(configTestdata, "invalid-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d invalid-*.yaml files but %d table entries: every file needs its expected output", len(files), len(tests))
	}
	t.Setenv("MSGPROBE_TEST_UNSET", "")
	os.Unsetenv("MSGPROBE_TEST_UNSET")
	t.Setenv("MSGPROBE_TEST_TOKEN", "")
	os.Unsetenv("MSGPROBE_TEST_TOKEN")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(configTestdata, tt.file)
			cfg, err := loadFile(path)
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("a config came back with the errors")
			}
			var errs ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want ConfigErrors", err)
			}
			// {schemes} is the table's: every protocol added would change it.
			want := strings.NewReplacer("{file}", path, "{dir}", dir, "{schemes}", schemeList()).Replace(tt.want)
			if got := err.Error(); got != want {
				t.Errorf("errors differ\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func TestLoadCollectsEveryMistake(t *testing.T) {
	_, err := loadFile(filepath.Join(configTestdata, "invalid-five.yaml"))
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want ConfigErrors", err, err)
	}
	if len(errs) != 5 {
		t.Fatalf("got %d errors, want 5:\n%v", len(errs), err)
	}
	wantLines := []int{3, 8, 10, 11, 12}
	for i, e := range errs {
		if e.Pos.Line != wantLines[i] || e.Pos.Column < 1 {
			t.Errorf("error %d at %d:%d, want line %d with a column: %s", i, e.Pos.Line, e.Pos.Column, wantLines[i], e.Msg)
		}
	}
	// Each problem is one *ConfigError reachable through errors.As.
	var one *ConfigError
	if !errors.As(err, &one) || one != errs[0] {
		t.Errorf("errors.As(*ConfigError) = %v, want the first error", one)
	}
}

func TestLoadNeverLeaksSecrets(t *testing.T) {
	_, err := loadFile(filepath.Join(configTestdata, "invalid-secrets.yaml"))
	if err == nil {
		t.Fatal("invalid-secrets.yaml loaded without error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error output leaks a secret:\n%v", err)
	}

	cfg, err := Load("secret.yaml", []byte(`version: 1
services:
  - name: S
    endpoints:
      - target: https://probe:hunter2@status.example.invalid/
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ep := cfg.Services[0].Endpoints[0]
	if strings.Contains(ep.Name, "hunter2") || strings.Contains(ep.Target, "hunter2") {
		t.Errorf("name %q / target %q show the password", ep.Name, ep.Target)
	}
	if p, _ := ep.URL.User.Password(); p != "hunter2" {
		t.Errorf("URL lost the password the probe needs: %q", p)
	}
}

func TestLoadValidFull(t *testing.T) {
	t.Setenv("MSGPROBE_TEST_TOKEN", "t0ken")
	cfg, err := loadFile(filepath.Join(configTestdata, "valid-full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 || cfg.Resolver != "[::1]:5353" {
		t.Errorf("version %d resolver %q", cfg.Version, cfg.Resolver)
	}
	wantDefaults := Settings{Timeout: 4 * time.Second, Samples: 2, DegradedLatency: time.Second, CertMinDays: 7}
	if cfg.Defaults != wantDefaults {
		t.Errorf("defaults %+v, want %+v", cfg.Defaults, wantDefaults)
	}

	if len(cfg.Controls) != 2 {
		t.Fatalf("%d controls, want 2", len(cfg.Controls))
	}
	c := cfg.Controls[0]
	if c.Service != "" || c.Name != "loopback" || c.Kind != KindHTTPS || c.Port != "443" || c.Settings != wantDefaults {
		t.Errorf("control %+v", c)
	}
	if c.TLSConfig == nil || c.TLSConfig.ServerName != "127.0.0.1" {
		t.Errorf("control TLS config %+v, want ServerName 127.0.0.1", c.TLSConfig)
	}
	if c := cfg.Controls[1]; c.Name != "tcp://[::1]:53" || c.Host != "::1" || c.Address() != "[::1]:53" {
		t.Errorf("control 2: name %q host %q address %q", c.Name, c.Host, c.Address())
	}

	if len(cfg.Services) != 2 {
		t.Fatalf("%d services, want 2", len(cfg.Services))
	}
	wa := cfg.Services[0]
	if wa.Name != "WhatsApp" || wa.Description != "Meta's messenger" || strings.Join(wa.Tags, ",") != "meta,popular" {
		t.Errorf("service %+v", wa)
	}
	if wa.Pos.Line != 12 || wa.Pos.Column != 5 {
		t.Errorf("service position %+v, want 12:5", wa.Pos)
	}
	if got := wa.Functions["messaging"]; got != (Function{Critical: true, MinUp: 1}) {
		t.Errorf("messaging function %+v", got)
	}
	if got, ok := wa.Functions["media"]; !ok || got != (Function{}) {
		t.Errorf("media function %+v, present %v", got, ok)
	}

	type want struct {
		name, kind, host, port string
		settings               Settings
	}
	waSettings := Settings{Timeout: 4 * time.Second, Samples: 2, DegradedLatency: 800 * time.Millisecond, CertMinDays: 7}
	wants := []want{
		{"web", "https", "web.whatsapp.com", "443", waSettings},
		{"chat", "tcp", "e1.whatsapp.net", "5222", Settings{Timeout: 3 * time.Second, Samples: 5, DegradedLatency: 800 * time.Millisecond, CertMinDays: 0}},
		{"tls://[2001:db8::1]:443", "tls", "2001:db8::1", "443", waSettings},
		{"tls://192.0.2.1:853", "tls", "192.0.2.1", "853", waSettings},
		{"http://[::1]/health", "http", "::1", "80", waSettings},
	}
	if len(wa.Endpoints) != len(wants) {
		t.Fatalf("%d WhatsApp endpoints, want %d", len(wa.Endpoints), len(wants))
	}
	for i, w := range wants {
		ep := wa.Endpoints[i]
		if ep.Name != w.name || string(ep.Kind) != w.kind || ep.Host != w.host || ep.Port != w.port || ep.Service != "WhatsApp" {
			t.Errorf("endpoint %d: name %q kind %q host %q port %q service %q, want %+v", i, ep.Name, ep.Kind, ep.Host, ep.Port, ep.Service, w)
		}
		if ep.Settings != w.settings {
			t.Errorf("endpoint %q settings %+v, want %+v", ep.Name, ep.Settings, w.settings)
		}
		if (ep.TLSConfig != nil) != ep.Kind.UsesTLS() {
			t.Errorf("endpoint %q: TLSConfig %v for kind %s", ep.Name, ep.TLSConfig, ep.Kind)
		}
	}

	web := wa.Endpoints[0]
	if web.HTTP.Method != "HEAD" || !web.HTTP.FollowRedirects || web.HTTP.Headers["User-Agent"] != "msgprobe" ||
		web.HTTP.Headers["Authorization"] != "Bearer t0ken" {
		t.Errorf("web http options %+v", web.HTTP)
	}
	if !web.Expect.StatusOK(302) || web.Expect.StatusOK(204) || web.Expect.BodyContains != "WhatsApp" {
		t.Errorf("web expect %+v", web.Expect)
	}
	if web.URL.String() != "https://web.whatsapp.com/" || web.Target != "https://web.whatsapp.com/" {
		t.Errorf("web URL %v target %q", web.URL, web.Target)
	}
	if web.TLSConfig.ServerName != "web.whatsapp.com" || web.TLSConfig.RootCAs != nil || web.TLSConfig.InsecureSkipVerify || web.TLSConfig.NextProtos != nil {
		t.Errorf("web TLS config: server name %q, roots %v, insecure %v, ALPN %v",
			web.TLSConfig.ServerName, web.TLSConfig.RootCAs, web.TLSConfig.InsecureSkipVerify, web.TLSConfig.NextProtos)
	}
	chat := wa.Endpoints[1]
	if !chat.Critical || chat.Role != "messaging" || chat.TLSConfig != nil || chat.HTTP.Method != "GET" {
		t.Errorf("chat: critical %v role %q tls %v method %q", chat.Critical, chat.Role, chat.TLSConfig, chat.HTTP.Method)
	}
	media := wa.Endpoints[2]
	if media.TLSConfig.ServerName != "mmg.whatsapp.net" || !media.TLSConfig.InsecureSkipVerify || !media.TLS.InsecureSkipVerify {
		t.Errorf("media TLS: %+v", media.TLS)
	}
	if ip := wa.Endpoints[3].TLSConfig.ServerName; ip != "192.0.2.1" {
		t.Errorf("IP literal without server_name: ServerName %q, want the IP", ip)
	}

	sig := cfg.Services[1]
	sigSettings := Settings{Timeout: 2 * time.Second, Samples: 2, DegradedLatency: time.Second, CertMinDays: 14}
	if len(sig.Endpoints) != 3 {
		t.Fatalf("%d Signal endpoints, want 3", len(sig.Endpoints))
	}
	api, cp, cdn := sig.Endpoints[0], sig.Endpoints[1], sig.Endpoints[2]
	if api.Settings != sigSettings || api.Port != "8443" || api.URL.Path != "/v1/config" {
		t.Errorf("api: %+v port %s path %s", api.Settings, api.Port, api.URL.Path)
	}
	// a "<<" merge takes every key of the anchored endpoint but the name
	if cp.Name != "api-copy" || cp.Target != api.Target || cp.HTTP.Headers["User-Agent"] != "msgprobe" {
		t.Errorf("merged endpoint: name %q target %q headers %v", cp.Name, cp.Target, cp.HTTP.Headers)
	}
	sigSettings.DegradedLatency = 1500 * time.Millisecond
	if cdn.Settings != sigSettings || cdn.HTTP.Headers["User-Agent"] != "msgprobe" || cdn.Port != "80" {
		t.Errorf("cdn: %+v headers %v port %s", cdn.Settings, cdn.HTTP.Headers, cdn.Port)
	}
}

func TestLoadMinimalUsesBuiltinDefaults(t *testing.T) {
	cfg, err := loadFile(filepath.Join(configTestdata, "valid-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Defaults != DefaultSettings || cfg.Resolver != "" || cfg.Controls != nil {
		t.Errorf("config %+v", cfg)
	}
	ep := cfg.Services[0].Endpoints[0]
	if ep.Settings != DefaultSettings || ep.Name != "tcp://149.154.167.50:443" || ep.Address() != "149.154.167.50:443" {
		t.Errorf("endpoint %+v", ep)
	}
}

func TestLoadTargets(t *testing.T) {
	tests := []struct {
		target           string
		kind             Kind
		host, port, addr string
	}{
		{"tcp://example.test:5222", KindTCP, "example.test", "5222", "example.test:5222"},
		{"tls://[2001:db8::1]:443", KindTLS, "2001:db8::1", "443", "[2001:db8::1]:443"},
		{"tls://[fe80::1%25eth0]:853", KindTLS, "fe80::1%eth0", "853", "[fe80::1%eth0]:853"},
		{"http://example.test/", KindHTTP, "example.test", "80", "example.test:80"},
		{"https://example.test", KindHTTPS, "example.test", "443", "example.test:443"},
		{"https://[::1]/", KindHTTPS, "::1", "443", "[::1]:443"},
		{"http://[::1]:8080/x?y=1", KindHTTP, "::1", "8080", "[::1]:8080"},
		{"HTTPS://Example.test:8443/", KindHTTPS, "Example.test", "8443", "Example.test:8443"},
		{"tcp://127.0.0.1:1/", KindTCP, "127.0.0.1", "1", "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			cfg, err := Load("t.yaml", []byte("version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: "+tt.target+"\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ep := cfg.Services[0].Endpoints[0]
			if ep.Kind != tt.kind || ep.Host != tt.host || ep.Port != tt.port || ep.Address() != tt.addr || ep.URL == nil {
				t.Errorf("kind %q host %q port %q address %q", ep.Kind, ep.Host, ep.Port, ep.Address())
			}
			if ep.Target != tt.target || ep.Name != tt.target {
				t.Errorf("target %q name %q, want both %q", ep.Target, ep.Name, tt.target)
			}
		})
	}
}

func TestLoadEnvExpansion(t *testing.T) {
	env := map[string]string{"HOST": "chat.example.test", "TOKEN": "s3cret", "EMPTY": "", "N": "4", "CRIT": "true"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	data := []byte(`version: 1
services:
  - name: ${HOST}
    samples: ${N}
    endpoints:
      - target: https://${HOST}:${PORT:-8443}/
        critical: ${CRIT}
        timeout: ${TIMEOUT:-2s}
        http:
          headers:
            Authorization: Bearer ${TOKEN}
            X-Price: $$5 and $PLAIN and ${EMPTY:-fallback}
            ${TOKEN}: keys are not expanded
`)
	_, err := Load("env.yaml", data, lookup)
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Pos.Line != 13 {
		t.Fatalf("want one error at line 13 (a key with ${...} is not a header name), got %v", err)
	}
	data = bytes.Replace(data, []byte("            ${TOKEN}: keys are not expanded\n"), nil, 1)
	cfg, err := Load("env.yaml", data, lookup)
	if err != nil {
		t.Fatal(err)
	}
	svc := cfg.Services[0]
	ep := svc.Endpoints[0]
	if svc.Name != "chat.example.test" || ep.Host != "chat.example.test" || ep.Port != "8443" {
		t.Errorf("service %q host %q port %q", svc.Name, ep.Host, ep.Port)
	}
	if ep.Samples != 4 || ep.Timeout != 2*time.Second || !ep.Critical {
		t.Errorf("samples %d timeout %v critical %v: values from the environment are typed after expansion", ep.Samples, ep.Timeout, ep.Critical)
	}
	if got := ep.HTTP.Headers["Authorization"]; got != "Bearer s3cret" {
		t.Errorf("Authorization %q", got)
	}
	if got := ep.HTTP.Headers["X-Price"]; got != "$5 and $PLAIN and fallback" {
		t.Errorf("X-Price %q", got)
	}

	// Unset without a default: an error at the scalar, naming the variable
	// and never the value of anything.
	delete(env, "TOKEN")
	_, err = Load("env.yaml", data, lookup)
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if e := errs[0]; e.Pos.Line != 11 || e.Pos.Column != 28 || !strings.Contains(e.Msg, `"TOKEN" is not set`) {
		t.Errorf("got %s", e)
	}
}

func TestExpandEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "x", "E": "", "D": "${A}"}[k]
		return v, ok
	}
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "x", ""},
		{"a${A}b${A}", "axbx", ""},
		{"${U:-def}", "def", ""},
		{"${U:-}", "", ""},
		{"${E:-def}", "def", ""},
		{"${E}", "", ""},
		{"${A:-def}", "x", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"$A $", "$A $", ""},
		{"${D}", "${A}", ""}, // a value is not expanded again
		{"${U}", "", `environment variable "U" is not set`},
		{"${A", "", "unterminated ${ in value"},
		{"${}", "", `invalid variable name "" in ${...}`},
		{"${A B}", "", `invalid variable name "A B" in ${...}`},
	}
	for _, tt := range tests {
		got, err := expandEnv(tt.in, lookup)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("expandEnv(%q) error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoadStdinNameAndMissingFile(t *testing.T) {
	_, err := Load("-", []byte("version: 1\nservices: []\n"), nil)
	if want := "<stdin>:2:11: services is empty"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err = loadFile(path)
	var re *ReadError
	if !errors.As(err, &re) || err.Error() != "cannot read config "+path+": no such file or directory" {
		t.Errorf("got %v", err)
	}
}

func TestNearestWord(t *testing.T) {
	keys := theRegistry().endpoint.keys
	for in, want := range map[string]string{
		"timout": "timeout", "Timeout": "timeout", "degraded-latency": "degraded_latency",
		"cert_min_day": "cert_min_days", "crit": "critical", "xyz": "", "tl": "tls", "": "",
	} {
		if got := nearestWord(in, keys); got != want {
			t.Errorf("nearestWord(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}

func TestLoadBoundsAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nservices:\n  - &s\n    name: a\n    endpoints: [")
	for i := 1; i <= 500; i++ {
		b.WriteString("{target: \"tcp://127.0.0.1:1\"}, ")
	}
	b.WriteString("]\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *s\n")
	}
	_, err := Load("bomb.yaml", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "configuration expands to more than") {
		t.Errorf("got %.300v, want the expansion bound", err)
	}

	// a merge that includes itself stops instead of recursing forever
	_, err = Load("cycle.yaml", []byte("version: 1\nservices:\n  - &s\n    name: a\n    <<: [*s, *s, *s, *s]\n    endpoints: [{target: \"tcp://127.0.0.1:1\"}]\n"), nil)
	if err == nil {
		t.Errorf("a self-merging service loaded")
	}
}

// configTestPKI is a CA and a TLS server on 127.0.0.1 whose certificate it
// signed, valid for 127.0.0.1 and for the name "probe.test".
type configTestPKI struct {
	caPEM []byte
	addr  string
}

func newConfigTestPKI(t *testing.T) *configTestPKI {
	t.Helper()
	ca := fixture.NewCA(t)
	return &configTestPKI{caPEM: ca.PEM(), addr: fixture.TLSServer(t, ca.Valid("probe.test", "127.0.0.1"))}
}

// handshake dials addr with the endpoint's TLS config, as a prober would.
func handshake(t *testing.T, ep *Endpoint, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: ep.TLSConfig}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
	}
	return err
}

func TestLoadCAFileRelativeToConfig(t *testing.T) {
	pki := newConfigTestPKI(t)
	addr := pki.addr
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "ca.pem"), pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	inline := "          ca_pem: |\n            " + strings.ReplaceAll(strings.TrimSpace(string(pki.caPEM)), "\n", "\n            ") + "\n"
	conf := "version: 1\nservices:\n  - name: private\n    endpoints:\n" +
		"      - name: by-ip\n        target: tls://" + addr + "\n        tls:\n          ca_file: certs/ca.pem\n" +
		"      - name: by-name\n        target: https://" + addr + "/\n        tls:\n          server_name: probe.test\n          ca_file: ./certs/ca.pem\n" +
		"      - name: inline\n        target: tls://" + addr + "\n        tls:\n" + inline +
		"      - name: wrong-name\n        target: tls://" + addr + "\n        tls:\n          server_name: other.test\n          ca_file: certs/ca.pem\n" +
		"      - name: system\n        target: tls://" + addr + "\n"
	path := filepath.Join(dir, "msgprobe.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// Load from elsewhere: the relative path must not depend on the
	// working directory.
	t.Chdir(t.TempDir())
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	eps := cfg.Services[0].Endpoints
	if got, want := eps[0].TLS.CAFile, filepath.Join(dir, "certs", "ca.pem"); got != want {
		t.Errorf("CAFile %q, want %q", got, want)
	}
	for _, ep := range eps[:3] {
		if ep.TLSConfig.RootCAs == nil {
			t.Errorf("%s: no RootCAs", ep.Name)
		}
		if err := handshake(t, ep, addr); err != nil {
			t.Errorf("%s: handshake with the config's CA failed: %v", ep.Name, err)
		}
	}
	if eps[0].TLSConfig.RootCAs != eps[3].TLSConfig.RootCAs {
		t.Errorf("endpoints with the same ca_file got different pools")
	}
	var hostErr x509.HostnameError
	if err := handshake(t, eps[3], addr); !errors.As(err, &hostErr) {
		t.Errorf("wrong-name: got %v, want a hostname error", err)
	}
	var unknown x509.UnknownAuthorityError
	if eps[4].TLSConfig.RootCAs != nil {
		t.Errorf("system: RootCAs set without ca_file or ca_pem")
	}
	if err := handshake(t, eps[4], addr); !errors.As(err, &unknown) {
		t.Errorf("system roots: got %v, want an unknown-authority error", err)
	}
}

func TestLoadSystemRootsAddsToCAFile(t *testing.T) {
	sys, err := x509.SystemCertPool()
	if err != nil || sys.Equal(x509.NewCertPool()) {
		t.Skip("no system roots on this machine")
	}
	pki := newConfigTestPKI(t)
	addr := pki.addr
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := "version: 1\nservices:\n  - name: s\n    endpoints:\n" +
		"      - name: both\n        target: tls://" + addr + "\n        tls: {ca_file: ca.pem, system_roots: true}\n" +
		"      - name: only\n        target: tls://" + addr + "\n        tls: {ca_file: ca.pem}\n"
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	both, only := cfg.Services[0].Endpoints[0], cfg.Services[0].Endpoints[1]
	withCA := sys.Clone()
	withCA.AppendCertsFromPEM(pki.caPEM)
	if !both.TLSConfig.RootCAs.Equal(withCA) {
		t.Errorf("system_roots: true: pool is not the system roots plus the CA")
	}
	justCA := x509.NewCertPool()
	justCA.AppendCertsFromPEM(pki.caPEM)
	if !only.TLSConfig.RootCAs.Equal(justCA) {
		t.Errorf("without system_roots: pool is not just the CA")
	}
	if err := handshake(t, both, addr); err != nil {
		t.Errorf("handshake: %v", err)
	}
}

// yamlLineCount counts lines as YAML does: \n, \r\n, a lone \r, NEL, LS
// and PS each end one.
func yamlLineCount(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}

func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(configTestdata, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	examples, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		f.Fatalf("no examples to seed from: %v", err)
	}
	files = append(files, examples...)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("version: 1\nservices:\n  - &a {name: x, endpoints: [*a]}\n"))
	f.Add([]byte("version: 1\nservices:\n  - &s\n    <<: [*s, *s]\n    name: a\n    endpoints: [{target: \"tcp://${SET}\"}]\n"))
	f.Add([]byte("version: 1\r\nservices:\r  - name: x\u2028    endpoints: []\n"))
	lookup := func(k string) (string, bool) {
		if k == "SET" {
			return "tcp://127.0.0.1:1", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load(filepath.Join(configTestdata, "fuzz.yaml"), data, lookup)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			return
		}
		var errs ConfigErrors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %v is not a non-empty ConfigErrors", err, err)
		}
		lines := yamlLineCount(data)
		for _, e := range errs {
			if strings.HasPrefix(e.Msg, panicMessage) {
				t.Fatalf("Load panicked: %s", e.Msg)
			}
			switch {
			case e.Pos.Line == 0:
				if !strings.HasPrefix(e.Msg, "invalid YAML") && !strings.HasPrefix(e.Msg, "configuration ") {
					t.Errorf("error without a line that is not about the whole file: %s", e)
				}
			case e.Pos.Line < 0 || e.Pos.Line > lines:
				t.Errorf("error at line %d of a %d-line file: %s", e.Pos.Line, lines, e)
			}
			if e.Msg == "" {
				t.Errorf("empty message at %+v", e.Pos)
			}
		}
	})
}

func TestLoadRecordsWhereEachSettingComesFrom(t *testing.T) {
	file := filepath.Join(configTestdata, "valid-full.yaml")
	cfg, err := loadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line, col int) Pos { return Pos{File: file, Line: line, Column: col} }
	builtin := SettingSource{Level: LevelBuiltin}
	wa, signal := cfg.Services[0], cfg.Services[1]
	tests := []struct {
		ep   *Endpoint
		want SettingSources
	}{
		{cfg.Controls[0], SettingSources{
			Timeout:         SettingSource{LevelDefaults, at(5, 12)},
			Samples:         SettingSource{LevelDefaults, at(6, 12)},
			DegradedLatency: builtin,
			CertMinDays:     builtin,
		}},
		{wa.Endpoints[0], SettingSources{
			Timeout:         SettingSource{LevelDefaults, at(5, 12)},
			Samples:         SettingSource{LevelDefaults, at(6, 12)},
			DegradedLatency: SettingSource{LevelService, at(15, 23)},
			CertMinDays:     builtin,
		}},
		{wa.Endpoints[1], SettingSources{
			Timeout:         SettingSource{LevelEndpoint, at(33, 18)},
			Samples:         SettingSource{LevelEndpoint, at(34, 18)},
			DegradedLatency: SettingSource{LevelService, at(15, 23)},
			CertMinDays:     SettingSource{LevelEndpoint, at(35, 24)},
		}},
		{signal.Endpoints[2], SettingSources{
			Timeout:         SettingSource{LevelService, at(44, 14)},
			Samples:         SettingSource{LevelDefaults, at(6, 12)},
			DegradedLatency: SettingSource{LevelEndpoint, at(57, 27)},
			CertMinDays:     SettingSource{LevelService, at(45, 20)},
		}},
	}
	for _, tt := range tests {
		if tt.ep.SetBy != tt.want {
			t.Errorf("%s: SetBy\n%+v\nwant\n%+v", tt.ep.Name, tt.ep.SetBy, tt.want)
		}
	}
}

// writeConfigs writes name -> content under dir and returns dir.
func writeConfigs(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadFilesConfD(t *testing.T) {
	dir := writeConfigs(t, t.TempDir(), map[string]string{
		"conf.d/00-base.yaml":  "version: 1\ndefaults:\n  timeout: 2s\n  samples: 1\ncontrols:\n  - target: tcp://127.0.0.1:1\nresolver: 127.0.0.1:53\n",
		"conf.d/10-alpha.yaml": "version: 1\nservices:\n  - name: Alpha\n    endpoints:\n      - target: tcp://127.0.0.1:2\n",
		"conf.d/20-beta.yml": "version: 1\ndefaults:\n  timeout: 9s\ncontrols:\n  - target: tcp://127.0.0.1:9\n" +
			"services:\n  - name: Beta\n    degraded_latency: 500ms\n    endpoints:\n      - target: tcp://127.0.0.1:3\nresolver: 127.0.0.1:5353\n",
		"conf.d/.#10-alpha.yaml": "not: [yaml",
		"conf.d/README.txt":      "not read",
		"conf.d/sub/x.yaml":      "not read either",
		"extra.yaml":             "version: 1\nservices:\n  - name: Gamma\n    endpoints:\n      - target: tcp://127.0.0.1:4\n",
	})
	confd, extra := filepath.Join(dir, "conf.d"), filepath.Join(dir, "extra.yaml")
	cfg, err := LoadFiles([]string{confd, extra}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSources := []string{
		filepath.Join(confd, "00-base.yaml"), filepath.Join(confd, "10-alpha.yaml"),
		filepath.Join(confd, "20-beta.yml"), extra,
	}
	if strings.Join(cfg.Sources, "\n") != strings.Join(wantSources, "\n") {
		t.Errorf("sources %q, want %q", cfg.Sources, wantSources)
	}
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "Alpha,Beta,Gamma" {
		t.Errorf("services %v, want Alpha, Beta, Gamma in file order", names)
	}
	if cfg.Defaults.Timeout != 2*time.Second || cfg.Resolver != "127.0.0.1:53" ||
		len(cfg.Controls) != 1 || cfg.Controls[0].Port != "1" {
		t.Errorf("defaults %+v resolver %q controls %d: want the first file's", cfg.Defaults, cfg.Resolver, len(cfg.Controls))
	}
	// The first file's defaults apply to the services of every file.
	for _, s := range cfg.Services {
		ep := s.Endpoints[0]
		if ep.Timeout != 2*time.Second || ep.Samples != 1 || ep.SetBy.Timeout.Pos.File != wantSources[0] {
			t.Errorf("%s: timeout %v samples %d from %+v", s.Name, ep.Timeout, ep.Samples, ep.SetBy.Timeout)
		}
	}
	if d := cfg.Services[1].Endpoints[0].DegradedLatency; d != 500*time.Millisecond {
		t.Errorf("Beta degraded_latency %v", d)
	}
	beta := wantSources[2]
	wantWarnings := beta + ":2:1: defaults here are not used: " + wantSources[0] + ":2:1 sets them first\n" +
		"hint: the first file that sets defaults wins; remove these or move them there\n" +
		beta + ":4:1: controls here are not used: " + wantSources[0] + ":5:1 sets them first\n" +
		"hint: the first file that sets controls wins; remove these or move them there\n" +
		beta + ":11:1: resolver here is not used: " + wantSources[0] + ":7:1 sets it first\n" +
		"hint: the first file that sets resolver wins; remove this one or move it there"
	if got := ConfigErrors(cfg.Warnings).Error(); got != wantWarnings {
		t.Errorf("warnings\n%s\nwant\n%s", got, wantWarnings)
	}
}

func TestLoadFilesErrorsAcrossFiles(t *testing.T) {
	dir := writeConfigs(t, t.TempDir(), map[string]string{
		"a.yaml": "version: 1\ndefaults:\n  timeout: 1s\nservices:\n  - name: WhatsApp\n    endpoints:\n      - target: tcp://h:1\n        timout: 2s\n",
		"b.yaml": "version: 1\nservices:\n  - name: Signal\n    degraded_latency: 2s\n    endpoints:\n      - target: tcp://h:1\n  - name: whatsapp\n    endpoints:\n      - target: htps://h/\n",
	})
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	_, err := LoadFiles([]string{b, a}, nil, nil)
	// b's errors come first because b was named first; the duplicate is the
	// name in a, the later file; a's defaults still apply to b.
	want := b + ":4:23: degraded_latency 2s is not below timeout 1s\n" +
		"hint: timeout is set at " + a + ":3:12\n" +
		b + ":9:17: unknown scheme \"htps\" in target\n" +
		"hint: did you mean \"https\"?\n" +
		a + ":5:11: duplicate service name \"WhatsApp\" (first at " + b + ":7:11)\n" +
		"hint: service names are compared without case\n" +
		a + ":8:9: unknown key \"timout\" in endpoint\n" +
		"hint: did you mean \"timeout\"?"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	// In the other order, the duplicate is the name in b.
	_, err = LoadFiles([]string{a, b}, nil, nil)
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 4 || errs[0].Pos.File != a || errs[3].Pos.File != b ||
		errs[2].Msg != `duplicate service name "whatsapp" (first at `+a+`:5:11)` {
		t.Errorf("got %v", err)
	}
}

func TestLoadFilesServicesSomewhere(t *testing.T) {
	dir := writeConfigs(t, t.TempDir(), map[string]string{
		"a.yaml": "version: 1\ndefaults: {samples: 2}\n",
		"b.yaml": "version: 1\ncontrols: [{target: 'tcp://h:1'}]\n",
	})
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	_, err := LoadFiles([]string{a, b}, nil, nil)
	want := a + ": none of the 2 files has services\nhint: add \"services:\" to one of them"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	// Alone, a file without services is an error at its top.
	_, err = LoadFiles([]string{a}, nil, nil)
	if want := a + ":1:1: missing key \"services\""; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	// With stdin holding the services, both files are fragments.
	cfg, err := LoadFiles([]string{a, "-", b}, strings.NewReader("version: 1\nservices: [{name: s, endpoints: [{target: 'tcp://h:2'}]}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Services[0].Endpoints[0].Samples != 2 || len(cfg.Controls) != 1 || cfg.Sources[1] != "<stdin>" {
		t.Errorf("config %+v", cfg)
	}
}

func TestLoadFilesReadErrors(t *testing.T) {
	dir := writeConfigs(t, t.TempDir(), map[string]string{
		"a.yaml":          "version: 1\nservices: [{name: s, endpoints: [{target: 'tcp://h:2'}]}]\n",
		"empty/notes.txt": "x",
	})
	a := filepath.Join(dir, "a.yaml")
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{filepath.Join(dir, "missing.yaml")}, "cannot read config " + filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{[]string{filepath.Join(dir, "empty")}, "cannot read config " + filepath.Join(dir, "empty") + ": the directory holds no *.yaml or *.yml file"},
		{[]string{a, a}, "cannot read config " + a + ": it is given twice"},
		{[]string{dir, a}, "cannot read config " + a + ": it is given twice, also as " + dir},
		{[]string{"-", "-"}, "cannot read config -: it is given twice"},
		{[]string{""}, `cannot read config "": empty path`},
	}
	for _, tt := range tests {
		_, err := LoadFiles(tt.paths, strings.NewReader(""), nil)
		var re *ReadError
		if !errors.As(err, &re) || err.Error() != tt.want {
			t.Errorf("%q: got %v (%T), want %q", tt.paths, err, err, tt.want)
		}
	}
}
