package probe

import (
	"time"

	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func mustPath(t testing.TB, path string) []pathStep {
	t.Helper()
	steps, err := parseJSONPath(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return steps
}

func TestParseJSONPath(t *testing.T) {
	key := func(k string) pathStep { return pathStep{key: k, index: -1, byKey: true} }
	either := func(n int) pathStep { return pathStep{key: strconv.Itoa(n), index: n, byKey: true} }
	index := func(n int) pathStep { return pathStep{key: strconv.Itoa(n), index: n} }
	for _, tc := range []struct {
		path  string
		steps []pathStep
	}{
		{"versions", []pathStep{key("versions")}},
		{"server.ws_server", []pathStep{key("server"), key("ws_server")}},
		{"versions.0", []pathStep{key("versions"), either(0)}},
		{"versions[12]", []pathStep{key("versions"), index(12)}},
		{`["m.homeserver"].base_url`, []pathStep{key("m.homeserver"), key("base_url")}},
		{`verify_keys["ed25519:a\"x"]`, []pathStep{key("verify_keys"), key(`ed25519:a"x`)}},
		{`a[1][2].b`, []pathStep{key("a"), index(1), index(2), key("b")}},
	} {
		if steps := mustPath(t, tc.path); !slices.Equal(steps, tc.steps) {
			t.Errorf("%s: %+v, want %+v", tc.path, steps, tc.steps)
		}
	}
	for _, bad := range []string{"", ".a", "a..b", "a.", "a[", "a[x]", "a[01]", `a["x]`, "a[0]b", `a["x"`, strings.Repeat("a", maxPathLen+1)} {
		if _, err := parseJSONPath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error spans lines: %v", bad, err)
		}
	}
}

func TestLookupJSON(t *testing.T) {
	doc := []byte(`{"versions": ["r0.6.1", "v1.1"], "server": {"ws_server": "wss://ws.test", "n": 3},
		"m.homeserver": {"base_url": "https://hs.test"}, "0": "zero", "dup": 1, "dup": 2, "nested": [[1, [2, {"x": true}]]]}`)
	for _, tc := range []struct {
		path, want string
		found      bool
	}{
		{"versions", `["r0.6.1", "v1.1"]`, true},
		{"versions.1", `"v1.1"`, true},
		{"versions[0]", `"r0.6.1"`, true},
		{"versions.2", "", false},
		{"server.ws_server", `"wss://ws.test"`, true},
		{"server.n", `3`, true},
		{"server.missing", "", false},
		{`["m.homeserver"].base_url`, `"https://hs.test"`, true},
		{"m.homeserver.base_url", "", false},
		{"0", `"zero"`, true},
		{"[0]", "", false},
		{"dup", "1", true},
		{"nested.0.1.1.x", "true", true},
		{"versions.0.x", "", false},
		{"server.n.x", "", false},
	} {
		raw, found := lookupJSON(doc, mustPath(t, tc.path))
		if found != tc.found || string(raw) != tc.want {
			t.Errorf("%s: %q %v, want %q %v", tc.path, raw, found, tc.want, tc.found)
		}
	}
}

func jsonExpect(t testing.TB, path string, cond condition, want ...jsonScalar) JSONExpect {
	return JSONExpect{Path: path, steps: mustPath(t, path), cond: cond, want: want}
}

func str(s string) jsonScalar { return jsonScalar{kind: jsonString, text: s} }
func num(s string) jsonScalar { return jsonScalar{kind: jsonNumber, text: s} }

// Each unmet condition fails with json_mismatch at body, naming the path,
// what was found (short) and what was wanted.
func TestJudgeJSON(t *testing.T) {
	body := []byte(`{"versions": ["r0.6.1", "v1.1"], "server": {"name": "Synapse", "port": 8448, "ok": true, "none": null},
		"long": "` + strings.Repeat("x", 500) + `"}`)
	for _, tc := range []struct {
		cond JSONExpect
		msg  string // empty: met
	}{
		{jsonExpect(t, "versions", condPresent), ""},
		{jsonExpect(t, "unstable_features", condPresent), "JSON unstable_features: found nothing, want a value"},
		{jsonExpect(t, "debug", condAbsent), ""},
		{jsonExpect(t, "server.name", condAbsent), `JSON server.name: found "Synapse", want nothing`},
		{jsonExpect(t, "server.name", condEquals, str("Synapse")), ""},
		{jsonExpect(t, "server.name", condEquals, str("Dendrite")), `JSON server.name: found "Synapse", want "Dendrite"`},
		{jsonExpect(t, "server.port", condEquals, num("8448")), ""},
		{jsonExpect(t, "server.port", condEquals, num("8448.0")), ""},
		{jsonExpect(t, "server.port", condEquals, str("8448")), `JSON server.port: found 8448, want "8448"`},
		{jsonExpect(t, "server.ok", condEquals, jsonScalar{kind: jsonBool, text: "true"}), ""},
		{jsonExpect(t, "server.none", condEquals, jsonScalar{kind: jsonNull, text: "null"}), ""},
		{jsonExpect(t, "versions", condHolds, str("v1.1"), str("r0.6.1")), ""},
		{jsonExpect(t, "versions", condHolds, str("v1.1"), str("v1.11")), `JSON versions: found ["r0.6.1","v1.1"], want an array holding "v1.11"`},
		{jsonExpect(t, "versions", condHolds), ""},
		{jsonExpect(t, "server", condHolds, str("x")), `JSON server: found {"name":"Synapse","port":8448,"ok":true,"none":null}, want an array holding "x"`},
		{jsonExpect(t, "long", condEquals, str("y")), `JSON long: found "` + strings.Repeat("x", maxShown-1) + `…, want "y"`},
	} {
		f := judgeJSON(body, true, []JSONExpect{tc.cond})
		switch {
		case tc.msg == "" && f != nil:
			t.Errorf("%s: %v", tc.cond.Path, f)
		case tc.msg != "" && f == nil:
			t.Errorf("%s: met, want %q", tc.cond.Path, tc.msg)
		case f != nil && (f.Class != ClassJSONMismatch || f.Phase != PhaseBody || f.Error() != tc.msg):
			t.Errorf("%s: %s at %s: %q\nwant json_mismatch at body: %q", tc.cond.Path, f.Class, f.Phase, f, tc.msg)
		}
	}

	cond := []JSONExpect{jsonExpect(t, "versions", condPresent)}
	for _, tc := range []struct {
		body     string
		complete bool
		msg      string
	}{
		{"<html><body>Sign in to the Wi-Fi</body></html>", true, `body is not JSON (starts "<html><body>Sign in to the Wi-…")`},
		{"", true, "body is empty, not JSON"},
		{`{"versions": [`, true, `body is not JSON (starts "{\"versions\": [")`},
		{`{"versions": []}`, false, "body is larger than 1 MiB, not judged as JSON"},
	} {
		f := judgeJSON([]byte(tc.body), tc.complete, cond)
		if f == nil || f.Class != ClassJSONMismatch || f.Error() != tc.msg {
			t.Errorf("%q: %v, want %q", tc.body, f, tc.msg)
		}
	}
}

func TestJudgeHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-Signal-Timestamp", "1767225600000")
	h.Set("Content-Type", "application/json ")
	h.Set("Set-Cookie", "session=secret-value")
	for _, tc := range []struct {
		cond HeaderExpect
		msg  string
	}{
		{HeaderExpect{Name: "X-Signal-Timestamp", cond: condPresent}, ""},
		{HeaderExpect{Name: "X-Matrix-Server", cond: condPresent}, "header X-Matrix-Server: found nothing, want a value"},
		{HeaderExpect{Name: "Content-Type", cond: condEquals, Value: "Application/JSON"}, ""},
		{HeaderExpect{Name: "Content-Type", cond: condEquals, Value: "text/html"}, `header Content-Type: found "application/json ", want "text/html"`},
		{HeaderExpect{Name: "Server", cond: condEquals, Value: "nginx"}, `header Server: found nothing, want "nginx"`},
		{HeaderExpect{Name: "Server", cond: condAbsent}, ""},
		{HeaderExpect{Name: "Set-Cookie", cond: condAbsent}, "header Set-Cookie: found a value (not shown), want nothing"},
		{HeaderExpect{Name: "Set-Cookie", cond: condEquals, Value: "x"}, `header Set-Cookie: found a value (not shown), want "x"`},
	} {
		f := judgeHeaders(h, []HeaderExpect{tc.cond})
		switch {
		case tc.msg == "" && f != nil:
			t.Errorf("%s: %v", tc.cond.Name, f)
		case tc.msg != "" && f == nil:
			t.Errorf("%s: met, want %q", tc.cond.Name, tc.msg)
		case f != nil && (f.Class != ClassHeaderMismatch || f.Phase != PhaseHTTP || f.Error() != tc.msg):
			t.Errorf("%s: %s at %s: %q\nwant header_mismatch at http: %q", tc.cond.Name, f.Class, f.Phase, f, tc.msg)
		}
		if f != nil && strings.Contains(f.Error(), "secret-value") {
			t.Errorf("a cookie reached a message: %v", f)
		}
	}
}

// FuzzJSONPath feeds any path and any body through the path parser, the
// lookup and every kind of condition: nothing panics, a found value is
// valid JSON, and every message is one short line.
func FuzzJSONPath(f *testing.F) {
	f.Add("versions", []byte(`{"versions":["v1.1"]}`))
	f.Add("server.ws_server", []byte(`{"server":{"ws_server":"wss://x"}}`))
	f.Add(`["m.server"][0].a`, []byte(`{"m.server":[{"a":1e400}]}`))
	f.Add("a.0.b", []byte(`{"a":{"0":{"b":null}}}`))
	f.Add("a", []byte(`[[[[[[`))
	f.Add("a", []byte("\xff\xfe{}"))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		steps, err := parseJSONPath(path)
		if err != nil {
			return
		}
		if raw, found := lookupJSON(body, steps); found && !isJSON(raw) {
			t.Fatalf("found %q, not JSON", raw)
		}
		for _, c := range []JSONExpect{
			{Path: path, steps: steps, cond: condPresent},
			{Path: path, steps: steps, cond: condAbsent},
			{Path: path, steps: steps, cond: condEquals, want: []jsonScalar{str("x")}},
			{Path: path, steps: steps, cond: condEquals, want: []jsonScalar{num("1")}},
			{Path: path, steps: steps, cond: condHolds, want: []jsonScalar{str("x"), {kind: jsonNull, text: "null"}}},
		} {
			if f := judgeJSON(body, true, []JSONExpect{c}); f != nil {
				msg := f.Error()
				if strings.ContainsAny(msg, "\n\r") || len(msg) > 6*maxShown+100 {
					t.Fatalf("message %q", msg)
				}
			}
		}
	})
}

func isJSON(b []byte) bool {
	return len(b) > 0 && json.Valid(b)
}

// The conditions as a user writes them, judged against a real server on
// loopback: each unmet one is down with its class, phase and message.
func TestHTTPExpectAttempts(t *testing.T) {
	signal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Signal-Timestamp", "1767225600000")
		w.WriteHeader(http.StatusUnauthorized)
	})
	edge := fixture.Respond(http.StatusUnauthorized, "")
	matrix := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"versions":["r0.6.1","v1.1","v1.11"],"unstable_features":{"org.matrix.msc3916":true},"server":{"name":"Synapse"}}`))
	})
	portal := fixture.Respond(http.StatusOK, "<html><title>Log in to the Wi-Fi</title></html>")
	big := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"versions":["` + strings.Repeat("v", maxBody) + `"]}`))
	})
	for _, tc := range []struct {
		name    string
		handler http.Handler
		expect  string
		class   Class
		phase   Phase
		msg     string
	}{
		{"signal backend", signal, "expect: {status: [401], headers: {x-signal-timestamp: {exists: true}}}", "", "", ""},
		{"signal edge only", edge, "expect: {status: [401], headers: {X-Signal-Timestamp: {exists: true}}}",
			ClassHeaderMismatch, PhaseHTTP, "header X-Signal-Timestamp: found nothing, want a value"},
		{"matrix", matrix, `expect: {json: {versions: {exists: true}, "versions": [v1.11], server.name: Synapse, "unstable_features[\"org.matrix.msc3916\"]": true}, headers: {Content-Type: application/json}}`, "", "", ""},
		{"matrix old", matrix, "expect: {json: {versions: [v1.12]}}",
			ClassJSONMismatch, PhaseBody, `JSON versions: found ["r0.6.1","v1.1","v1.11"], want an array holding "v1.12"`},
		{"matrix and body_contains", matrix, "expect: {json: {versions: {exists: true}}, body_contains: Dendrite}",
			ClassHTTPBody, PhaseBody, `body does not contain "Dendrite"`},
		{"captive portal", portal, "expect: {json: {versions: {exists: true}}}",
			ClassJSONMismatch, PhaseBody, `body is not JSON (starts "<html><title>Log in to the Wi-…")`},
		{"header value", portal, "expect: {headers: {Content-Type: application/json}}",
			ClassHeaderMismatch, PhaseHTTP, `header Content-Type: found "text/html; charset=utf-8", want "application/json"`},
		{"over the cap", big, "expect: {json: {versions: {exists: true}}}",
			ClassJSONMismatch, PhaseBody, "body is larger than 1 MiB, not judged as JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := fixture.HTTPServer(t, tc.handler, nil)
			ep := mustLoadOne(t, base+"/", tc.expect)
			a := runProbe(t, ep, nil, 5*time.Second)
			switch {
			case tc.class == "" && a.Failure != nil:
				t.Fatalf("%s at %s: %v", a.Failure.Class, a.Failure.Phase, a.Failure)
			case tc.class == "":
			case a.Failure == nil:
				t.Fatalf("up, want %s", tc.class)
			case a.Failure.Class != tc.class || a.Failure.Phase != tc.phase || a.Failure.Error() != tc.msg:
				t.Errorf("%s at %s: %q\nwant %s at %s: %q", a.Failure.Class, a.Failure.Phase, a.Failure, tc.class, tc.phase, tc.msg)
			}
		})
	}
}

func TestHTTPExpectConfigErrors(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"expect: {json: [versions]}", `t.yaml:7:24: expect.json must be a mapping, got a list
hint: write a mapping of JSON path: value, like {versions: {exists: true}}`},
		{`expect: {json: {"a..b": 1}}`, `t.yaml:7:25: expect.json: JSON path "a..b" has an empty key
hint: paths are keys joined by dots, with numeric indexes: server.ws_server, versions.0, ["m.server"]`},
		{"expect: {json: {a: {exist: true}}}", `t.yaml:7:29: unknown key "exist" in expect.json "a"
hint: did you mean "exists"?`},
		{"expect: {json: {a: {}}}", `t.yaml:7:28: expect.json "a" must say exists: true or exists: false
hint: write {exists: true} or {exists: false}`},
		{"expect: {json: {a: [[1]]}}", `t.yaml:7:29: expect.json "a" item must be a string, number, boolean or null, got a list`},
		{"expect: {json: {a: .inf}}", `t.yaml:7:28: expect.json "a" .inf is not a number JSON can hold
hint: quote it to compare it as text: ".inf"`},
		{"expect: {headers: {Bad Name: x}}", `t.yaml:7:28: invalid header name in expect.headers
hint: a header name is letters, digits and -`},
		{"expect: {headers: {a: x, A: y}}", `t.yaml:7:34: expect.headers names A twice (first at line 7, column 28)`},
		{`expect: {headers: {Server: " "}}`, `t.yaml:7:36: expect.headers Server is empty
hint: write {exists: true} to accept any value`},
	} {
		_, err := loadOne("https://a.test/", tc.extra)
		if err == nil {
			t.Errorf("%s: loaded", tc.extra)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("%s:\n got: %s\nwant: %s", tc.extra, got, tc.want)
		}
	}
	_, err := loadOne("tcp://a.test:1", "expect: {json: {a: 1}}")
	if err == nil || !strings.Contains(err.Error(), "expect.json does not apply to tcp:// targets") {
		t.Errorf("json on tcp://: %v", err)
	}
}
