package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

func TestTransitionLine(t *testing.T) {
	at := fixedNow // 2026-11-25 09:38 UTC
	tests := []struct {
		tr   probe.Transition
		want string
	}{
		{
			probe.Transition{Service: "Signal", From: probe.Up, To: probe.Down, Since: at.Add(-15 * time.Minute), Runs: 3, Reason: "chat: 3/3 attempts refused at connect"},
			"Signal: up → down (up since 09:23, 3 runs): chat: 3/3 attempts refused at connect",
		},
		{
			probe.Transition{Service: "Signal", Endpoint: "chat", From: probe.Down, To: probe.Up, Since: at.Add(-12 * time.Hour), Runs: 1, Reason: "ignored when up"},
			"Signal/chat: down → up (down since 2026-11-24 21:38, 1 run)",
		},
		{
			// The time is shown in the zone of the run, whatever zone the
			// state file stored.
			probe.Transition{Service: "Olvid", From: probe.Degraded, To: probe.Up, Since: time.Date(2026, 11, 25, 10, 30, 0, 0, time.FixedZone("CET", 3600)), Runs: 2},
			"Olvid: degraded → up (degraded since 09:30, 2 runs)",
		},
	}
	for _, tt := range tests {
		if got := TransitionLine(tt.tr, at); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

// withTransitions is the golden fixture after a run that found WhatsApp
// degraded and one endpoint of Signal back up inside a service still down.
func withTransitions() *probe.Report {
	r := fixture()
	since := fixedNow.Add(-30 * time.Minute)
	r.Transitions = []probe.Transition{
		{Service: "WhatsApp", From: probe.Up, To: probe.Degraded, Since: since, Runs: 30, Reason: "media: 1/3 attempts timed out"},
		{Service: "WhatsApp", Endpoint: "web", From: probe.Up, To: probe.Degraded, Since: since, Runs: 30, Reason: "slow"},
		{Service: "Signal", Endpoint: "cdn", From: probe.Down, To: probe.Up, Since: since, Runs: 30},
	}
	return r
}

func TestTableShowsTransitions(t *testing.T) {
	var b bytes.Buffer
	if err := NewTable(Options{}).Render(&b, withTransitions()); err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if err := NewTable(Options{}).Render(&plain, fixture()); err != nil {
		t.Fatal(err)
	}
	// The change lines come after the rows and before the note, one per
	// change, the endpoint of a changed service left out.
	lines := "WhatsApp: up → degraded (up since 09:08, 30 runs): media: 1/3 attempts timed out\n" +
		"Signal/cdn: down → up (down since 09:08, 30 runs)\n"
	want := strings.Replace(plain.String(), "\nnote: ", "\n"+lines+"note: ", 1)
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestJSONTransitions(t *testing.T) {
	decode := func(r *probe.Report) map[string]json.RawMessage {
		var b bytes.Buffer
		if err := NewJSON(Options{}).Render(&b, r); err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if _, ok := decode(fixture())["transitions"]; ok {
		t.Error("transitions present without state")
	}
	r := fixture()
	r.Transitions = []probe.Transition{}
	if got := string(decode(r)["transitions"]); got != "[]" {
		t.Errorf("no change: %s, want []", got)
	}
	var got []map[string]any
	if err := json.Unmarshal(decode(withTransitions())["transitions"], &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d transitions, want all 3", len(got))
	}
	first := got[0]
	if first["service"] != "WhatsApp" || first["from"] != "up" || first["to"] != "degraded" || first["since"] != "2026-11-25T09:08:00Z" || first["runs"] != 30.0 || first["reason"] != "media: 1/3 attempts timed out" {
		t.Errorf("first: %v", first)
	}
	if _, ok := first["endpoint"]; ok {
		t.Errorf("a service transition has no endpoint: %v", first)
	}
	if got[2]["endpoint"] != "cdn" {
		t.Errorf("third: %v", got[2])
	}
}
