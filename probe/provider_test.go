package probe

import (
	"strings"
	"testing"
)

func TestProviderStatusConfig(t *testing.T) {
	load := func(block string) (*Config, error) {
		y := "version: 1\nservices:\n  - name: A\n    provider_status: " + block + "\n    endpoints: [{target: \"tcp://127.0.0.1:1\"}]\n"
		return Load("p.yaml", []byte(y), func(string) (string, bool) { return "", false })
	}
	for block, want := range map[string]string{
		"{statuspage: https://discordstatus.com}":             "https://discordstatus.com/api/v2/summary.json",
		"{slack: https://slack-status.com/}":                  "https://slack-status.com/api/v2.0.0/current",
		"{statuspage: https://x.test/api/v2/status.json}":     "https://x.test/api/v2/status.json",
		"{dns: uptime.signal.org., up: 127.0.0.1}":            "dns:uptime.signal.org",
		"{statuspage: https://a.test, slack: https://b.test}": `p.yaml:4:22: provider_status names statuspage and slack: one source only`,
		"{dns: uptime.signal.org}":                            `p.yaml:4:22: provider_status dns needs up: ADDR`,
		"{dns: uptime.signal.org, up: nowhere}":               `p.yaml:4:51: provider_status up "nowhere" is not an IP address`,
		"{statuspage: ftp://x.test}":                          `p.yaml:4:35: provider_status statuspage is not an http(s) URL`,
		"{statuspage: https://x.test, url: y}":                `p.yaml:4:51: unknown key "url" in provider_status`,
	} {
		cfg, err := load(block)
		got := ""
		if err != nil {
			got = strings.SplitN(err.Error(), "\n", 2)[0]
		} else {
			got = cfg.Services[0].Provider.Source()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: got %q, want %q", block, got, want)
		}
	}
}
