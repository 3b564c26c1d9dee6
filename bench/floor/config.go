package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// config is the little of msgprobe's schema the floor needs. Unknown keys
// are ignored on purpose: the floor reads configs written for msgprobe.
type config struct {
	samples   int
	timeout   time.Duration
	endpoints []endpoint
}

type endpoint struct {
	target string
	caFile string // absolute, or empty for the system roots
}

type rawConfig struct {
	Defaults struct {
		Timeout string `yaml:"timeout"`
		Samples int    `yaml:"samples"`
	} `yaml:"defaults"`
	Services []struct {
		Endpoints []struct {
			Target string `yaml:"target"`
			TLS    struct {
				CAFile string `yaml:"ca_file"`
			} `yaml:"tls"`
		} `yaml:"endpoints"`
	} `yaml:"services"`
}

func load(path string) (*config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw rawConfig
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := &config{samples: 3, timeout: 5 * time.Second}
	if raw.Defaults.Samples > 0 {
		cfg.samples = raw.Defaults.Samples
	}
	if raw.Defaults.Timeout != "" {
		if cfg.timeout, err = time.ParseDuration(raw.Defaults.Timeout); err != nil {
			return nil, fmt.Errorf("%s: defaults.timeout: %w", path, err)
		}
	}
	dir := filepath.Dir(path)
	for _, s := range raw.Services {
		for _, e := range s.Endpoints {
			ca := e.TLS.CAFile
			if ca != "" && !filepath.IsAbs(ca) {
				ca = filepath.Join(dir, ca)
			}
			cfg.endpoints = append(cfg.endpoints, endpoint{target: e.Target, caFile: ca})
		}
	}
	if len(cfg.endpoints) == 0 {
		return nil, fmt.Errorf("%s: no endpoints", path)
	}
	return cfg, nil
}
