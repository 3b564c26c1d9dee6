package probe

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// matrixConfig is one matrix+deliver+http:// endpoint at the fixture's
// proxy, with the deliver block's keys given (credentials as ${VAR}
// references to env).
func matrixConfig(t *testing.T, d *fixture.Dendrite, deliver string, env map[string]string, extra string) *Config {
	t.Helper()
	doc := `version: 1
services:
  - name: Matrix
    functions: {messaging: {critical: true}}
    endpoints:
      - name: roundtrip
        target: matrix+deliver+http://` + strings.TrimPrefix(d.URL, "http://") + `
        deliver: ` + deliver + `
` + extra
	cfg, err := loadDeliver(t, doc, env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The round trip against a real homeserver: with an access token and with
// a password login, up with the round-trip time, the message marked as a
// probe and redacted; a wrong password is auth_failed after exactly one
// login; a room the account is not in refuses the message; a homeserver
// frozen right after it accepted the message is not_delivered within the
// bound plus a second.
func TestMatrixDendrite(t *testing.T) {
	d := fixture.StartDendrite(t)

	t.Run("access token", func(t *testing.T) {
		// A loaded CI machine has taken 2.5s for this round trip: within
		// 10s makes "degraded" start at 5s.
		cfg := matrixConfig(t, d, `{access_token: "${TOKEN}", room: "`+d.Room+`", within: 10s}`,
			map[string]string{"TOKEN": d.Alice.Token}, "")
		res := onlyEndpoint(t, runConfig(t, cfg))
		if res.Status != Up {
			t.Fatalf("status %v: %s\n%v\nsteps %+v", res.Status, res.Reason, res.Errors, res.Attempts[0].Timings.Steps)
		}
		a := res.Attempts[0]
		if rtt, ok := a.Details["roundtrip_ms"].(float64); !ok || rtt <= 0 {
			t.Errorf("details %v: want a round-trip time", a.Details)
		}
		if a.Details["redacted"] != true || a.Details["user"] != d.Alice.UserID {
			t.Errorf("details %v", a.Details)
		}
		if got := stepPhases(a); got != "login send deliver" {
			t.Errorf("steps %q", got)
		}
		// Dendrite applies a redaction after it answers for it: the
		// message must be gone from the room soon after, not at once.
		if left := probeMessagesLeft(t, d, 10*time.Second); len(left) != 0 {
			t.Errorf("the probe message is still readable after 10s: %q", left)
		}
		if d.Logins() != 0 {
			t.Errorf("%d logins with an access token", d.Logins())
		}
	})

	t.Run("password", func(t *testing.T) {
		before := d.Logins()
		cfg := matrixConfig(t, d, `{user: "`+d.Alice.UserID+`", password: "${PW}", room: "`+d.Room+`", within: 10s}`,
			map[string]string{"PW": d.Alice.Password}, "        samples: 2\n")
		res := onlyEndpoint(t, runConfig(t, cfg))
		if res.Status != Up || len(res.Attempts) != 2 {
			t.Fatalf("status %v after %d attempts: %s\nsteps %+v", res.Status, len(res.Attempts), res.Reason, res.Attempts[0].Timings.Steps)
		}
		if n := d.Logins() - before; n != 1 {
			t.Errorf("%d logins for two attempts of one run, want 1", n)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		before := d.Logins()
		cfg := matrixConfig(t, d, `{user: "`+d.Alice.UserID+`", password: "${PW}", room: "`+d.Room+`", within: 5s}`,
			map[string]string{"PW": testSecret}, "        samples: 3\n")
		rep := runConfig(t, cfg)
		res := onlyEndpoint(t, rep)
		if res.Status != Down {
			t.Fatalf("status %v", res.Status)
		}
		for _, a := range res.Attempts {
			wantFailure(t, a, ClassAuthFailed, PhaseLogin)
		}
		if n := d.Logins() - before; n != 1 {
			t.Errorf("%d login attempts, want exactly 1", n)
		}
		if !strings.Contains(res.Reason, "Matrix refused the login: HTTP 403 M_FORBIDDEN") {
			t.Errorf("reason %q", res.Reason)
		}
		if b, _ := json.Marshal(rep); strings.Contains(string(b), testSecret) {
			t.Error("the report holds the password")
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		cfg := matrixConfig(t, d, `{access_token: "${TOKEN}", room: "`+d.Room+`", within: 5s}`,
			map[string]string{"TOKEN": testSecret}, "")
		res := onlyEndpoint(t, runConfig(t, cfg))
		wantFailure(t, res.Attempts[0], ClassAuthFailed, PhaseLogin)
		if !strings.Contains(res.Reason, "M_UNKNOWN_TOKEN") {
			t.Errorf("reason %q", res.Reason)
		}
	})

	t.Run("room not joined", func(t *testing.T) {
		cfg := matrixConfig(t, d, `{access_token: "${TOKEN}", room: "`+d.BobsRoom+`", within: 5s}`,
			map[string]string{"TOKEN": d.Alice.Token}, "")
		res := onlyEndpoint(t, runConfig(t, cfg))
		a := res.Attempts[0]
		if a.Failure == nil || (a.Failure.Class != ClassSendRefused && a.Failure.Class != ClassHTTPStatus) || a.Failure.Phase != PhaseSend {
			t.Fatalf("failure %+v, want send_refused at send", a.Failure)
		}
		if a.Failure.Class != ClassSendRefused {
			t.Errorf("failure %v, want send_refused", a.Failure)
		}
	})

	// Last: it freezes the homeserver.
	t.Run("delivery stopped", func(t *testing.T) {
		cfg := matrixConfig(t, d, `{access_token: "${TOKEN}", room: "`+d.Room+`", within: 2s}`,
			map[string]string{"TOKEN": d.Alice.Token}, "")
		d.PauseAfterSend()
		defer d.Resume()
		start := time.Now()
		rep := runConfig(t, cfg)
		took := time.Since(start)
		res := onlyEndpoint(t, rep)
		wantFailure(t, res.Attempts[0], ClassNotDelivered, PhaseDeliver)
		msg := res.Attempts[0].Failure.Error()
		if !strings.HasPrefix(msg, "sent ") || !strings.HasSuffix(msg, ", not delivered within 2s") {
			t.Errorf("message %q", msg)
		}
		// within is counted from the send: the wait after it, and the whole
		// run (login and send take milliseconds here), end within 2s + 1s.
		for _, st := range res.Attempts[0].Timings.Steps {
			if st.Phase == PhaseDeliver && st.D > 3*time.Second {
				t.Errorf("deliver phase took %v, want within 2s + 1s", st.D)
			}
		}
		if took > 3*time.Second {
			t.Errorf("not_delivered after %v, want within 2s + 1s", took)
		}
		svc := rep.Services[0]
		if svc.Status != Down || !strings.Contains(svc.Reason, "messaging down (sent ") {
			t.Errorf("service %v %q", svc.Status, svc.Reason)
		}
	})
}

// probeMessagesLeft is the probe messages Bob can still read in the room,
// once none is left or the bound has passed.
func probeMessagesLeft(t *testing.T, d *fixture.Dendrite, bound time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for _, m := range d.Messages(t, d.Bob, d.Room) {
			if strings.HasPrefix(m, "msgprobe probe ") {
				left = append(left, m)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		<-tick.C
	}
}
