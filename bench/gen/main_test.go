package main

import (
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/bench/internal/fleetaddr"
	"gopkg.in/yaml.v3"
)

func TestGenerate(t *testing.T) {
	addrs := &fleetaddr.Addrs{
		TCP:   []string{"127.0.0.1:1", "127.0.0.1:2"},
		TLS:   []string{"127.0.0.1:3"},
		HTTPS: []string{"127.0.0.1:4"},
	}
	out, err := generate(25, []string{"tcp", "tls", "https"}, addrs, `/tmp/a "b"/ca.pem`, 3, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Version  int
		Services []struct {
			Name      string
			Endpoints []struct {
				Name   string
				Target string
				TLS    *struct {
					CAFile string `yaml:"ca_file"`
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	if cfg.Version != 1 || len(cfg.Services) != 3 {
		t.Fatalf("version %d, %d services; want 1 and 3", cfg.Version, len(cfg.Services))
	}
	counts := map[string]int{}
	names := map[string]bool{}
	for _, s := range cfg.Services {
		for _, e := range s.Endpoints {
			scheme, _, _ := strings.Cut(e.Target, "://")
			counts[scheme]++
			if names[e.Name] {
				t.Errorf("endpoint name %s repeated", e.Name)
			}
			names[e.Name] = true
			wantCA := scheme != "tcp"
			if (e.TLS != nil) != wantCA || (wantCA && e.TLS.CAFile != `/tmp/a "b"/ca.pem`) {
				t.Errorf("%s (%s): tls %+v", e.Name, e.Target, e.TLS)
			}
		}
	}
	if counts["tcp"] != 9 || counts["tls"] != 8 || counts["https"] != 8 {
		t.Errorf("kinds %v, want 9 tcp, 8 tls, 8 https", counts)
	}
	if got := len(cfg.Services[2].Endpoints); got != 5 {
		t.Errorf("last service has %d endpoints, want 5", got)
	}
	// both tcp listeners are used
	if !strings.Contains(out, "tcp://127.0.0.1:1\n") || !strings.Contains(out, "tcp://127.0.0.1:2\n") {
		t.Errorf("tcp endpoints do not spread over the listeners:\n%s", out)
	}
}

func TestGenerateRejectsMissingListeners(t *testing.T) {
	if _, err := generate(3, []string{"http"}, &fleetaddr.Addrs{}, "ca.pem", 1, time.Second); err == nil {
		t.Fatal("no error for a kind the fleet does not serve")
	}
}
