package probe

import (
	"fmt"
	"strings"
	"testing"
)

func loadHardened(t *testing.T, endpoint string) error {
	t.Helper()
	_, err := Load("h.yaml", []byte("version: 1\nservices:\n  - name: s\n    endpoints:\n"+endpoint), nil)
	return err
}

// What net/http would refuse to send is a config error, found by validate,
// not an outage found by every attempt (bb3a3a4 loaded these, then every
// attempt failed and the service was down). No message quotes the value.
func TestLoadRejectsHeadersNetHTTPWouldNotSend(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{`{X-Token: "S3CRET\u0001x"}`, `h.yaml:7:30: header "X-Token" has a control character (byte 0x01 at position 7) in its value`},
		{`{X-Token: "S3CRET\u007f"}`, `h.yaml:7:30: header "X-Token" has a control character (byte 0x7f at position 7) in its value`},
		{`{X-Token: "S3CRET\u001b[0m"}`, `h.yaml:7:30: header "X-Token" has a control character (byte 0x1b at position 7) in its value`},
		{`{Host: "S3CRET host"}`, `h.yaml:7:27: header "Host" is not a valid host`},
	} {
		err := loadHardened(t, "      - target: https://h.test/\n        http:\n          headers: "+tc.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("headers %s: %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
	// Tabs and text beyond ASCII are what net/http sends.
	if err := loadHardened(t, "      - target: https://h.test/\n        http:\n          headers: {X-A: \"a\\tb\", X-B: \"café\", Host: \"h.test:8443\"}\n"); err != nil {
		t.Errorf("valid headers: %v", err)
	}
}

// A body_contains longer than what is read of a body could never be found.
func TestLoadRejectsBodyContainsBeyondWhatIsRead(t *testing.T) {
	long := strings.Repeat("a", maxBody+1)
	err := loadHardened(t, "      - target: https://h.test/\n        expect: {body_contains: \""+long+"\"}\n")
	want := fmt.Sprintf("h.yaml:6:33: expect.body_contains is %d bytes, longer than the 1 MiB of the body that is read", maxBody+1)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), long[:100]) {
		t.Errorf("got %.300v\nwant %s", err, want)
	}
	if err := loadHardened(t, "      - target: https://h.test/\n        expect: {body_contains: \""+long[:maxBody]+"\"}\n"); err != nil {
		t.Errorf("1 MiB exactly: %.300v", err)
	}
}

// The "use fewer aliases" hint comes only with aliases; a configuration
// that is large by itself is told to split.
func TestLoadExpansionHintNamesAliasesOnlyWhenUsed(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nservices:\n")
	for i := range maxVisits/2 + 1 {
		fmt.Fprintf(&b, "  - name: s%d\n    endpoints: [{target: \"tcp://127.0.0.1:1\"}]\n", i)
	}
	_, err := Load("big.yaml", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "configuration expands to more than") ||
		strings.Contains(err.Error(), "aliases") || !strings.Contains(err.Error(), "hint: split it into several files") {
		t.Errorf("without aliases: %.400v", err)
	}

	b.Reset()
	b.WriteString("version: 1\nservices:\n  - &s\n    name: a\n    endpoints: [")
	for range 500 {
		b.WriteString("{target: \"tcp://127.0.0.1:1\"}, ")
	}
	b.WriteString("]\n")
	for range 1000 {
		b.WriteString("  - *s\n")
	}
	_, err = Load("bomb.yaml", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "hint: use fewer aliases") {
		t.Errorf("with aliases: %.400v", err)
	}
}

// http.max_header_bytes sets the bound on response heads, within bounds.
func TestLoadMaxHeaderBytes(t *testing.T) {
	cfg, err := Load("h.yaml", []byte("version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: https://h.test/\n        http: {max_header_bytes: 4096}\n      - target: http://h.test/\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Services[0].Endpoints[0], cfg.Services[0].Endpoints[1]; maxHeaderBytes(a) != 4096 || maxHeaderBytes(b) != DefaultMaxHeaderBytes {
		t.Errorf("bounds %d and %d", maxHeaderBytes(a), maxHeaderBytes(b))
	}
	err = loadHardened(t, "      - target: https://h.test/\n        http: {max_header_bytes: 100}\n")
	if err == nil || !strings.Contains(err.Error(), "h.yaml:6:34: http.max_header_bytes 100 is out of range 1024-16777216") {
		t.Errorf("got %v", err)
	}
}

// A dns:// target's query is msgprobe's own syntax, shown as written.
func TestLoadDNSQueryIsShownAsWritten(t *testing.T) {
	cfg, err := Load("d.yaml", []byte("version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: dns:///uptime.signal.org?type=A\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ep := cfg.Services[0].Endpoints[0]; ep.Target != "dns:///uptime.signal.org?type=A" {
		t.Errorf("target %q", ep.Target)
	}
}
