package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/report"
)

// deliverySecret is recognisable anywhere it leaks to.
const deliverySecret = "Zq9e2eNeverPrintMe5b1f"

// No credential reaches any output: every report format, list, validate,
// the state file, stderr; not even when a server echoes the request (and
// so the token in its path) in its error, nor when a login is refused.
func TestDeliverySecretsNeverShow(t *testing.T) {
	dir := t.TempDir()
	echoToken := "7000001:AAE" + deliverySecret
	goodToken := "7000002:AAG" + deliverySecret
	echo := fixture.StartTelegramBot(t, echoToken, "-1001234", fixture.TelegramEchoToken)
	good := fixture.StartTelegramBot(t, goodToken, "-1001234", fixture.TelegramHealthy)
	refusing := fixture.StartTelegramBot(t, "7000003:other", "-1001234", fixture.TelegramHealthy)
	t.Setenv("BOT_ECHO", echoToken)
	t.Setenv("BOT_GOOD", goodToken)
	t.Setenv("BOT_WRONG", "7000003:AAW"+deliverySecret)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	writeFile(t, dir, "delivery.yaml", fmt.Sprintf(`version: 1
services:
  - name: Telegram
    functions: {messaging: {critical: true}}
    endpoints:
      - name: echo
        target: telegram+bot+http://%s
        deliver: {token: "${BOT_ECHO}", chat_id: "-1001234", within: 2s}
      - name: good
        target: telegram+bot+http://%s
        deliver: {token: "${BOT_GOOD}", chat_id: "-1001234", within: 2s}
      - name: refused
        target: telegram+bot+http://%s
        deliver: {token: "${BOT_WRONG}", chat_id: "-1001234", within: 2s}
`, host(echo.URL), host(good.URL), host(refusing.URL)))

	var seen []string
	check := func(what string, r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, deliverySecret) {
			t.Errorf("%s shows the secret:\nstdout:\n%s\nstderr:\n%s", what, r.stdout, r.stderr)
		}
		seen = append(seen, what)
	}
	state := filepath.Join(dir, "state.json")
	for _, f := range report.Formats {
		out := filepath.Join(dir, "report."+f)
		r := msgprobe(t, dir, "", "check", "-c", "delivery.yaml", "-f", f, "-f", "json="+out+".json", "--state", state)
		if r.code != 1 {
			t.Fatalf("-f %s: exit %d, want 1 (echo and refused are down, good is up)\n%s\n%s", f, r.code, r.stdout, r.stderr)
		}
		check("check -f "+f, r)
		for _, p := range []string{state, out + ".json"} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), deliverySecret) {
				t.Errorf("%s shows the secret", p)
			}
		}
	}
	// --samples is for connect probes: a delivery endpoint still sends
	// one message.
	before := good.Calls("sendMessage")
	r := msgprobe(t, dir, "", "check", "-c", "delivery.yaml", "-f", "json", "--samples", "3")
	if n := good.Calls("sendMessage") - before; n != 1 {
		t.Errorf("--samples 3 sent %d messages, want 1", n)
	}
	for _, want := range []string{`"class": "send_refused"`, `"class": "auth_failed"`, "[secret]", `"roundtrip_ms"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the JSON report does not hold %s:\n%s", want, r.stdout)
		}
	}
	check("list", msgprobe(t, dir, "", "list", "-c", "delivery.yaml"))
	check("list -f json", msgprobe(t, dir, "", "list", "-c", "delivery.yaml", "-f", "json"))
	check("validate", msgprobe(t, dir, "", "validate", "-c", "delivery.yaml"))

	// A literal credential is refused without being quoted back.
	writeFile(t, dir, "literal.yaml", `version: 1
services:
  - name: Telegram
    endpoints:
      - target: telegram+bot://api.telegram.org
        deliver: {token: "7000001:AAE`+deliverySecret+`", chat_id: "-1001234"}
`)
	r = msgprobe(t, dir, "", "validate", "-c", "literal.yaml")
	if r.code == 0 || !strings.Contains(r.stderr, "deliver.token is written in the file") {
		t.Errorf("validate of a literal token: exit %d\n%s", r.code, r.stderr)
	}
	check("validate of a literal token", r)
	check("check of a literal token", msgprobe(t, dir, "", "check", "-c", "literal.yaml"))
	if good.Calls("sendMessage") == 0 || len(good.Stored()) != 0 {
		t.Errorf("the good bot sent %d messages and kept %d", good.Calls("sendMessage"), len(good.Stored()))
	}
}

// Against the real Dendrite, through the binary: up with the round-trip
// time in the report, and a frozen homeserver down with not_delivered.
func TestMatrixDeliveryEndToEnd(t *testing.T) {
	d := fixture.StartDendrite(t)
	dir := t.TempDir()
	t.Setenv("MATRIX_TOKEN", d.Alice.Token)
	writeFile(t, dir, "matrix.yaml", fmt.Sprintf(`version: 1
services:
  - name: Matrix
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: client-api, target: "tcp://%[1]s", role: messaging}
      - name: roundtrip
        target: matrix+deliver+http://%[1]s
        degraded_latency: 10s
        deliver: {access_token: "${MATRIX_TOKEN}", room: "%[2]s", within: 2s}
`, strings.TrimPrefix(d.URL, "http://"), d.Room))
	r := msgprobe(t, dir, "", "check", "-c", "matrix.yaml", "-f", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"roundtrip_ms"`) {
		t.Fatalf("exit %d, want up with a round-trip time\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, d.Alice.Token) {
		t.Error("the report shows the access token")
	}
	d.PauseAfterSend()
	defer d.Resume()
	r = msgprobe(t, dir, "", "check", "-c", "matrix.yaml")
	line := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "Matrix ") {
			line = strings.Join(strings.Fields(l), " ")
		}
	}
	// The tcp:// probe of the same messaging function is up: the delivery
	// probe decides it, and its row says why.
	if r.code != 2 || !strings.HasPrefix(line, "Matrix down messaging down (sent ") || !strings.HasSuffix(line, ", not delivered within 2s)") {
		t.Errorf("exit %d, line %q\n%s", r.code, line, r.stdout)
	}
}
