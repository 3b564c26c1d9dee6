package examples_test

import (
	"os"
	"testing"

	"github.com/msgprobe/msgprobe/probe"
)

// The delivery examples load once their credentials are in the
// environment, and the XMPP one is an xmpp+deliver:// endpoint.
func TestDeliveryExampleXMPP(t *testing.T) {
	data, err := os.ReadFile("delivery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	anyVar := func(string) (string, bool) { return "set-in-the-test", true }
	cfg, err := probe.Load("examples/delivery.yaml", data, anyVar)
	if err != nil {
		t.Fatalf("examples/delivery.yaml does not load:\n%v", err)
	}
	found := false
	for _, s := range cfg.Services {
		for _, ep := range s.Endpoints {
			if ep.Kind == probe.KindXMPPDeliver {
				found = true
				if ep.Samples != 1 || ep.Role != probe.RoleDelivery {
					t.Errorf("%s: samples %d, role %q", ep.Name, ep.Samples, ep.Role)
				}
			}
		}
	}
	if !found {
		t.Error("no xmpp+deliver:// endpoint in examples/delivery.yaml")
	}
	if _, err := probe.Load("examples/delivery.yaml", data, func(string) (string, bool) { return "", false }); err == nil {
		t.Error("examples/delivery.yaml loads without its credentials")
	}
}
