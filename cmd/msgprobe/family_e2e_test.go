package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// loopbackIPv6 skips the test when this machine has no ::1 to listen on.
func loopbackIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here (%v): the dual-stack tests need ::1", err)
	}
	ln.Close()
}

// dualStack serves a name with 127.0.0.1 and ::1 from the test DNS fixture;
// the port accepts on 127.0.0.1 and refuses on ::1.
func dualStack(t *testing.T, dir string, extra string) (config string) {
	t.Helper()
	loopbackIPv6(t)
	v4 := fixture.TCPListener(t) // 127.0.0.1:port, accepting
	_, port, _ := net.SplitHostPort(v4)
	if ln, err := net.Listen("tcp6", "[::1]:"+port); err == nil {
		ln.Close() // free on ::1 as well: it refuses
	} else {
		t.Skipf("port %s is taken on ::1: %v", port, err)
	}
	dns := fixture.DNSServer(t, map[string][]string{"chat.dual.test": {"127.0.0.1", "::1"}, "v4only.dual.test": {"127.0.0.1"}})
	return writeFile(t, dir, "dual.yaml", fmt.Sprintf(`version: 1
resolver: %s
defaults: {timeout: 2s, samples: 3%s}
services:
  - name: Dual
    endpoints:
      - name: chat
        target: tcp://chat.dual.test:%s
  - name: Single
    endpoints:
      - name: chat
        target: tcp://v4only.dual.test:%s
`, dns.Addr, extra, port, port))
}

// The done-when of dual-stack: a name with a working 127.0.0.1 and a
// refused ::1 is degraded with the IPv6 reason, and the JSON has both
// families; a name with only an A record is probed over IPv4 alone.
func TestFamilyBothJudgesEachFamily(t *testing.T) {
	dir := t.TempDir()
	dualStack(t, dir, "")
	r := msgprobe(t, dir, "", "check", "-c", "dual.yaml", "--family", "both", "-f", "json")
	if r.code != 1 || r.stderr != "" {
		t.Fatalf("exit %d, want 1 (degraded)\nstderr %s\n%s", r.code, r.stderr, r.stdout)
	}
	var rep struct {
		Services []struct {
			Name, Status, Reason string
			Endpoints            []struct {
				Status, Reason     string
				Attempts, Failures int
				Families           map[string]struct {
					Status, Reason     string
					Attempts, Failures int
					Remote             string
					Errors             []struct{ Class, Phase string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	dual := rep.Services[0]
	ep := dual.Endpoints[0]
	want := "IPv6 down (3/3 refused at connect), IPv4 up"
	if dual.Status != "degraded" || ep.Status != "degraded" || ep.Reason != want || dual.Reason != "chat: "+want {
		t.Errorf("dual: service %s %q, endpoint %s %q; want degraded %q", dual.Status, dual.Reason, ep.Status, ep.Reason, want)
	}
	v4, v6 := ep.Families["ipv4"], ep.Families["ipv6"]
	if len(ep.Families) != 2 || v4.Status != "up" || v4.Attempts != 3 || !strings.HasPrefix(v4.Remote, "127.0.0.1:") ||
		v6.Status != "down" || v6.Failures != 3 || len(v6.Errors) != 1 || v6.Errors[0].Class != "connection_refused" {
		t.Errorf("families: %+v", ep.Families)
	}
	if ep.Attempts != 6 || ep.Failures != 3 {
		t.Errorf("endpoint counts %d attempts, %d failures; want 6 and 3", ep.Attempts, ep.Failures)
	}
	single := rep.Services[1].Endpoints[0]
	if single.Status != "up" || len(single.Families) != 1 || single.Families["ipv4"].Status != "up" || single.Attempts != 3 {
		t.Errorf("a name with only an A record: %+v", single)
	}

	// The table shows a row per family when they differ.
	r = msgprobe(t, dir, "", "check", "-c", "dual.yaml", "--family", "both")
	if !hasRow(r.stdout, "chat", "degraded") || !hasRow(r.stdout, "IPv6", "down") || !strings.Contains(r.stdout, "  IPv6") || !strings.Contains(r.stdout, "3/3 attempts refused at connect") {
		t.Errorf("table:\n%s", r.stdout)
	}
	if strings.Count(r.stdout, "  IPv4") != 1 {
		t.Errorf("the agreeing families of Single have rows of their own:\n%s", r.stdout)
	}

	// The config's family: does the same, and -4 overrides it.
	dir2 := t.TempDir()
	dualStack(t, dir2, ", family: both")
	if r := msgprobe(t, dir2, "", "check", "-c", "dual.yaml", "-f", "json"); r.code != 1 || !strings.Contains(r.stdout, want) {
		t.Errorf("family: both in defaults: exit %d\n%s", r.code, r.stdout)
	}
	if r := msgprobe(t, dir2, "", "check", "-c", "dual.yaml", "-4"); r.code != 0 {
		t.Errorf("-4 over family: both: exit %d\n%s", r.code, r.stdout)
	}
	if r := msgprobe(t, dir2, "", "check", "-c", "dual.yaml", "-6"); r.code != 2 || !strings.Contains(r.stdout, "refused") {
		t.Errorf("-6: exit %d\n%s", r.code, r.stdout)
	}
	if r := msgprobe(t, dir2, "", "check", "-c", "dual.yaml", "--family", "sideways"); r.code != 3 || !strings.Contains(r.stderr, "hint: use any, both, ipv4 or ipv6") {
		t.Errorf("--family sideways: exit %d\n%s", r.code, r.stderr)
	}
}

// hasRow reports whether a line of the table starts, after its indent and
// blank cells, with the given cells.
func hasRow(table string, cells ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(cells) && strings.Join(f[:len(cells)], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}
