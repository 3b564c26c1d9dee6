package examples_test

import (
	"testing"

	"github.com/msgprobe/msgprobe/examples"
	"github.com/msgprobe/msgprobe/probe"
)

// Telegram's and Threema's chat endpoints prove the service's own protocol
// answered, not just that a port is open: every messaging endpoint speaks
// mtproto:// or threema://, Telegram has a plain endpoint beside the
// obfuscated ones (plain MTProto blocked vs DC down), and each keeps a
// tcp:// connect beside it, outside the messaging role, to tell "not
// reached" from "reached, no answer".
func TestTelegramAndThreemaSpeakTheirProtocols(t *testing.T) {
	cfg, err := probe.Load("examples/messaging.yaml", examples.Messaging, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service string
		kind    probe.Kind
	}{{"Telegram", probe.KindMTProto}, {"Threema", probe.KindThreema}} {
		var svc *probe.Service
		for _, s := range cfg.Services {
			if s.Name == tc.service {
				svc = s
			}
		}
		if svc == nil {
			t.Fatalf("no %s in the catalog", tc.service)
		}
		messaging, tcp, plain, obfuscated := 0, 0, 0, 0
		for _, ep := range svc.Endpoints {
			if ep.Role == "messaging" {
				messaging++
				if ep.Kind != tc.kind {
					t.Errorf("%s/%s: messaging endpoint %s is %s, want %s", tc.service, ep.Name, ep.Target, ep.Kind, tc.kind)
				}
			}
			if ep.Kind == probe.KindTCP {
				tcp++
				if ep.Role == "messaging" {
					t.Errorf("%s/%s: a bare connect in the messaging role would hide a silent server", tc.service, ep.Name)
				}
			}
			if ep.Kind == probe.KindMTProto {
				if o, _ := ep.Options["mtproto"].(*probe.MTProtoOptions); o != nil && o.Obfuscated {
					obfuscated++
				} else {
					plain++
				}
			}
		}
		if messaging < 2 || tcp < 1 {
			t.Errorf("%s: %d messaging endpoints and %d tcp:// beside them, want at least 2 and 1", tc.service, messaging, tcp)
		}
		if tc.kind == probe.KindMTProto && (plain < 1 || obfuscated < 5) {
			t.Errorf("Telegram: %d plain and %d obfuscated mtproto:// endpoints, want one plain beside the five DCs obfuscated", plain, obfuscated)
		}
	}
}
