package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// familyProber answers each attempt by the network it is made over.
func familyProber(v4, v6 func() Attempt) ProbeFunc {
	return func(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
		switch opt.network() {
		case "tcp4":
			return v4()
		case "tcp6":
			return v6()
		}
		panic("family both probed over " + opt.network())
	}
}

func upAttempt() Attempt { return okAttempt(time.Millisecond) }

func failing(class Class, phase Phase, err error) func() Attempt {
	return func() Attempt { return Attempt{Failure: &Failure{Class: class, Phase: phase, Err: err}} }
}

func bothConfig(hosts ...string) *Config {
	cfg := &Config{}
	for i, h := range hosts {
		ep := testEndpoint("chat")
		ep.Host, ep.Port, ep.Family = h, "443", FamilyBoth
		ep.Service = fmt.Sprintf("S%d", i)
		cfg.Services = append(cfg.Services, &Service{Name: ep.Service, Endpoints: []*Endpoint{ep}})
	}
	return cfg
}

func TestFamilyBothVerdicts(t *testing.T) {
	timeout := failing(ClassTimeout, PhaseConnect, os.ErrDeadlineExceeded)
	refused := failing(ClassConnectionRefused, PhaseConnect, syscall.ECONNREFUSED)
	noAAAA := failing(ClassDNSError, PhaseDNS, &NoFamilyAddress{Host: "h", Family: "IPv6"})
	tests := []struct {
		name     string
		v4, v6   func() Attempt
		status   Status
		reason   string
		families int
	}{
		{"both up", upAttempt, upAttempt, Up, "", 2},
		{"IPv6 down alone", upAttempt, timeout, Degraded, "IPv6 down (3/3 timed out at connect), IPv4 up", 2},
		{"IPv4 down alone", refused, upAttempt, Degraded, "IPv4 down (3/3 refused at connect), IPv6 up", 2},
		{"both down alike", refused, refused, Down, "IPv4 and IPv6 down (3/3 refused at connect)", 2},
		{"both down apart", refused, timeout, Down, "IPv6 down (3/3 timed out at connect), IPv4 down (3/3 refused at connect)", 2},
		{"no AAAA record", upAttempt, noAAAA, Up, "", 1},
	}
	for _, tt := range tests {
		r := &Runner{Probe: familyProber(tt.v4, tt.v6)}
		rep := r.Run(context.Background(), bothConfig("chat.example"))
		e := rep.Services[0].Endpoints[0]
		if e.Status != tt.status || e.Reason != tt.reason || len(e.Families) != tt.families {
			t.Errorf("%s: %s %q with %d families, want %s %q with %d", tt.name, e.Status, e.Reason, len(e.Families), tt.status, tt.reason, tt.families)
		}
		if rep.Note != "" {
			t.Errorf("%s: note %q", tt.name, rep.Note)
		}
	}
}

// A machine without an IPv6 route says so once, and the services are judged
// over IPv4.
func TestFamilyBothWithoutIPv6Route(t *testing.T) {
	unreachable := failing(ClassNetworkUnreachable, PhaseConnect, &describedError{"network is unreachable", syscall.ENETUNREACH})
	r := &Runner{Probe: familyProber(upAttempt, unreachable)}
	rep := r.Run(context.Background(), bothConfig("a.example", "b.example", "c.example"))
	for _, s := range rep.Services {
		e := s.Endpoints[0]
		if s.Status != Up || e.Status != Up || len(e.Families) != 2 || !e.Families[1].NoRoute {
			t.Errorf("%s: %s %q, families %+v", s.Service.Name, s.Status, s.Reason, e.Families)
		}
	}
	if rep.Status != Up || strings.Count(rep.Note, "no IPv6 route") != 1 {
		t.Errorf("status %s, note %q", rep.Status, rep.Note)
	}
	if !errors.Is(rep.Services[0].Endpoints[0].Families[1].Attempts[0].Failure, syscall.ENETUNREACH) {
		t.Error("the family's attempts are not kept")
	}
}

// An IP literal has one family: family both probes it once, untagged.
func TestFamilyBothLiteralProbedOnce(t *testing.T) {
	calls := 0
	r := &Runner{Probe: func(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
		calls++
		if opt.network() != "tcp" {
			t.Errorf("a literal probed over %s", opt.network())
		}
		return upAttempt()
	}}
	rep := r.Run(context.Background(), bothConfig("127.0.0.1"))
	if calls != 3 || rep.Services[0].Endpoints[0].Families != nil {
		t.Errorf("%d calls, families %+v", calls, rep.Services[0].Endpoints[0].Families)
	}
}

// family: is a setting like timeout: defaults, service and endpoint levels,
// the most specific winning, a bad value a positioned error.
func TestFamilySettingLevels(t *testing.T) {
	y := `version: 1
defaults: {family: ipv4}
services:
  - name: A
    family: both
    endpoints:
      - {name: one, target: "tcp://a.example:1"}
      - {name: two, target: "tcp://a.example:2", family: ipv6}
  - name: B
    endpoints:
      - {name: one, target: "tcp://b.example:1"}
`
	cfg, err := Load("f.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got := []Family{cfg.Services[0].Endpoints[0].Family, cfg.Services[0].Endpoints[1].Family, cfg.Services[1].Endpoints[0].Family}
	if got[0] != FamilyBoth || got[1] != FamilyIPv6 || got[2] != FamilyIPv4 {
		t.Errorf("families %v", got)
	}
	if src := cfg.Services[0].Endpoints[0].SetBy.Family; src.Level != LevelService || src.Pos.Line != 5 {
		t.Errorf("family set by %+v", src)
	}
	_, err = Load("f.yaml", []byte(strings.Replace(y, "family: both", "family: sideways", 1)), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), `f.yaml:5:13: unknown family "sideways"`) {
		t.Errorf("bad family: %v", err)
	}
}
