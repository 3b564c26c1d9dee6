package examples_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/examples"
	"github.com/msgprobe/msgprobe/probe"
)

// The built-in catalog loads, covers the services the README promises and
// gives every chat endpoint the protocol really spoken there.
func TestCatalogLoads(t *testing.T) {
	cfg, err := probe.Load("examples/messaging.yaml", examples.Messaging, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the embedded catalog does not load:\n%v", err)
	}
	if len(cfg.Services) < 12 {
		t.Errorf("%d services, want at least 12", len(cfg.Services))
	}
	names := map[string]*probe.Service{}
	for _, s := range cfg.Services {
		names[s.Name] = s
	}
	for _, want := range []string{"WhatsApp", "Telegram", "Signal", "Olvid", "Messenger", "Instagram", "Matrix", "Slack", "Discord", "Microsoft Teams", "Threema", "Wire"} {
		if names[want] == nil {
			t.Errorf("catalog lacks %s", want)
		}
	}
	// Chat protocols that are not TLS must be probed with a plain connect:
	// a TLS probe would call a healthy service down.
	for _, host := range []string{"whatsapp.net", "149.154.", "threema.ch:5222"} {
		for _, s := range cfg.Services {
			for _, ep := range s.Endpoints {
				if strings.Contains(ep.Target, host) && ep.Role == "messaging" && ep.Kind.UsesTLS() {
					t.Errorf("%s/%s: %s chat endpoint probed as %s", s.Name, ep.Name, ep.Target, ep.Kind)
				}
			}
		}
	}
	ips, byName := 0, 0
	for _, c := range cfg.Controls {
		if strings.Trim(c.Host, "0123456789.:") == "" {
			ips++
		} else {
			byName++
		}
	}
	if ips < 3 || byName < 3 {
		t.Errorf("controls: %d by IP, %d by name; want at least 3 of each", ips, byName)
	}
	meta := 0
	for _, s := range cfg.Services {
		for _, tag := range s.Tags {
			if tag == "meta" {
				meta++
			}
		}
	}
	if meta < 3 {
		t.Errorf("%d services tagged meta, want WhatsApp, Messenger and Instagram", meta)
	}
}

// Every endpoint and control names its source in a comment right above it.
func TestCatalogEndpointsHaveSources(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(examples.Messaging, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	check := func(where string, list *yaml.Node) {
		for _, item := range list.Content {
			target := ""
			for i := 0; i+1 < len(item.Content); i += 2 {
				if item.Content[i].Value == "target" {
					target = item.Content[i+1].Value
				}
			}
			if strings.TrimSpace(item.HeadComment) == "" {
				t.Errorf("%s: endpoint %s at line %d has no source comment above it", where, target, item.Line)
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "controls":
			check("controls", root.Content[i+1])
		case "services":
			for _, svc := range root.Content[i+1].Content {
				name := ""
				for j := 0; j+1 < len(svc.Content); j += 2 {
					switch svc.Content[j].Value {
					case "name":
						name = svc.Content[j+1].Value
					case "endpoints":
						check(name, svc.Content[j+1])
					}
				}
			}
		}
	}
}

// WhatsApp's messaging function is proved by WhatsApp's own handshake, not
// by a connect that any edge accepts: every endpoint of the role speaks it.
func TestCatalogWhatsAppMessagingSpeaksNoise(t *testing.T) {
	cfg, err := probe.Load("examples/messaging.yaml", examples.Messaging, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Services {
		if s.Name != "WhatsApp" {
			continue
		}
		n := 0
		for _, ep := range s.Endpoints {
			if ep.Role != "messaging" {
				continue
			}
			n++
			if !strings.HasPrefix(string(ep.Kind), "whatsapp") {
				t.Errorf("WhatsApp/%s: messaging probed by %s, not WhatsApp's handshake", ep.Name, ep.Kind)
			}
		}
		if n == 0 || !s.Functions["messaging"].Critical {
			t.Errorf("WhatsApp: %d messaging endpoints, critical %v", n, s.Functions["messaging"].Critical)
		}
	}
}

// The catalog checks what the sources say a healthy service answers, not
// only that a port is open: Signal's backend header and its own uptime
// flag, Matrix's and Wire's JSON, and the name servers of the messengers'
// own zones.
func TestCatalogProtocolChecks(t *testing.T) {
	cfg, err := probe.Load("examples/messaging.yaml", examples.Messaging, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]*probe.Endpoint{}
	for _, s := range cfg.Services {
		for _, ep := range s.Endpoints {
			byTarget[ep.Target] = ep
		}
	}
	for _, want := range []string{
		"dns:///uptime.signal.org?type=A",
		"https://chat.signal.org/v1/accounts/whoami",
		"https://matrix-client.matrix.org/_matrix/client/versions",
		"https://matrix-federation.matrix.org/_matrix/federation/v1/version",
		"https://matrix-federation.matrix.org/_matrix/key/v2/server",
		"https://prod-nginz-https.wire.com/api-version",
		"https://server.olvid.io/.well-known/server-config.json",
		"dns:///whatsapp.net?type=NS",
		"dns:///facebook.com?type=NS",
	} {
		if byTarget[want] == nil {
			t.Errorf("catalog lacks %s", want)
		}
	}
	// A DNS probe asks about the zone of its own service's hosts (or a name
	// in it), and the
	// catalog asks the resolver as well as one zone's own name server, with a
	// plain connect to that server beside it.
	zones, authoritative := 0, 0
	for _, s := range cfg.Services {
		for _, ep := range s.Endpoints {
			if ep.Kind != probe.KindDNS {
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(ep.URL.Path, "/"), ".")
			if ep.URL.Query().Get("type") != "NS" {
				// A name in the zone (uptime.signal.org): its parent must hold
				// the service's hosts.
				_, name, _ = strings.Cut(name, ".")
			}
			owned := false
			for _, other := range s.Endpoints {
				if other != ep && other.Kind != probe.KindDNS && (other.Host == name || strings.HasSuffix(other.Host, "."+name)) {
					owned = true
				}
			}
			if !owned {
				t.Errorf("%s/%s asks about %s, which none of %s's hosts is in", s.Name, ep.Name, name, s.Name)
			}
			if ep.URL.Query().Get("type") == "NS" {
				zones++
			}
			if ep.Host != "" {
				authoritative++
				if byTarget["tcp://"+ep.Host+":53"] == nil {
					t.Errorf("%s/%s asks %s, with no tcp://%s:53 beside it", s.Name, ep.Name, ep.Host, ep.Host)
				}
			}
		}
	}
	if zones < 5 || authoritative < 1 {
		t.Errorf("%d NS probes (want at least 5), %d of a zone's own server (want at least 1)", zones, authoritative)
	}
}
