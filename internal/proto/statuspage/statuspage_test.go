package statuspage

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Answers in the documented shapes (see the package comment).
const (
	discordOperational = `{"page":{"id":"srhpyqt94yxb","name":"Discord","url":"https://discordstatus.com","updated_at":"2026-11-25T09:00:00.000Z"},
"status":{"indicator":"none","description":"All Systems Operational"},
"components":[{"id":"x","name":"API","status":"operational"}],"incidents":[],"scheduled_maintenances":[]}`
	discordOutage = `{"page":{"id":"srhpyqt94yxb","name":"Discord"},
"status":{"indicator":"major","description":"Partial System Outage"},
"components":[{"name":"API","status":"major_outage"}],
"incidents":[{"id":"abc","name":"Messages failing to send","status":"investigating","impact":"major",
"created_at":"2026-11-25T09:12:30.123Z","started_at":"2026-11-25T09:12:00.000Z","updated_at":"2026-11-25T09:20:00Z"}]}`
	slackOK     = `{"status":"ok","active_incidents":[],"date_created":"2026-11-25T09:00:00-08:00","date_updated":"2026-11-25T09:00:00-08:00"}`
	slackActive = `{"status":"active","active_incidents":[{"id":1,"date_created":"2026-11-25T01:12:00-08:00","date_updated":"2026-11-25T01:30:00-08:00",
"title":"Trouble loading messages","type":"outage","status":"active","url":"https://slack-status.com/2026-11/abc","services":["Messaging"],"notes":[{"date_created":"2026-11-25T01:15:00-08:00","body":"We are investigating."}]}]}`
)

func TestParseSummary(t *testing.T) {
	st, err := ParseSummary([]byte(discordOperational))
	if err != nil || !st.Operational || st.Indicator != "none" || st.Description != "All Systems Operational" || len(st.Incidents) != 0 {
		t.Errorf("operational: %+v %v", st, err)
	}
	st, err = ParseSummary([]byte(discordOutage))
	want := time.Date(2026, 11, 25, 9, 12, 0, 0, time.UTC)
	if err != nil || st.Operational || st.Indicator != "major" || len(st.Incidents) != 1 ||
		st.Incidents[0].Title != "Messages failing to send" || !st.Incidents[0].Since.Equal(want) || st.Incidents[0].Impact != "major" {
		t.Errorf("outage: %+v %v", st, err)
	}
	// A resolved incident in the list is not open.
	st, _ = ParseSummary([]byte(strings.Replace(discordOutage, `"status":"investigating"`, `"status":"resolved"`, 1)))
	if len(st.Incidents) != 0 {
		t.Errorf("resolved incident kept: %+v", st)
	}
}

func TestParseSlackCurrent(t *testing.T) {
	st, err := ParseSlackCurrent([]byte(slackOK))
	if err != nil || !st.Operational || st.Indicator != "ok" {
		t.Errorf("ok: %+v %v", st, err)
	}
	st, err = ParseSlackCurrent([]byte(slackActive))
	if err != nil || st.Operational || len(st.Incidents) != 1 || st.Incidents[0].Title != "Trouble loading messages" ||
		!st.Incidents[0].Since.Equal(time.Date(2026, 11, 25, 9, 12, 0, 0, time.UTC)) {
		t.Errorf("active: %+v %v", st, err)
	}
}

func TestParsersRejectWhatIsNotAStatus(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        nil,
		"html":         []byte("<html>captive portal</html>"),
		"other json":   []byte(`{"ok":true}`),
		"wrong type":   []byte(`{"status":{"indicator":3},"incidents":[]}`),
		"array":        []byte(`[1,2,3]`),
		"truncated":    []byte(discordOutage[:100]),
		"too large":    append([]byte(`{"status":{"indicator":"none"},"x":"`), make([]byte, MaxSize)...),
		"slack as sp":  []byte(slackOK),
		"slack broken": []byte(`{"status":null}`),
	} {
		_, err1 := ParseSummary(b)
		if err1 == nil || !(errors.Is(err1, ErrNotStatus) || errors.Is(err1, ErrTooLarge)) {
			t.Errorf("%s: summary: %v", name, err1)
		}
		if name == "slack as sp" {
			continue
		}
		_, err2 := ParseSlackCurrent(b)
		if name != "wrong type" && (err2 == nil || !(errors.Is(err2, ErrNotStatus) || errors.Is(err2, ErrTooLarge))) {
			t.Errorf("%s: slack: %v", name, err2)
		}
	}
}

func TestTextIsOneBoundedLine(t *testing.T) {
	b := `{"status":{"indicator":"major\n\u0007x"},"incidents":[{"name":"` + strings.Repeat("é", 500) + `","status":"identified"}]}`
	st, err := ParseSummary([]byte(b))
	if err != nil || st.Indicator != "major x" || len([]rune(st.Incidents[0].Title)) != maxText {
		t.Errorf("%q %d %v", st.Indicator, len([]rune(st.Incidents[0].Title)), err)
	}
}

// The parsers read answers from servers that may be hostile: no input may
// panic, every error is classed, and whatever is kept is bounded.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{discordOperational, discordOutage, slackOK, slackActive, `{}`, `{"status":{"indicator":"x"},"incidents":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (Status, error){ParseSummary, ParseSlackCurrent} {
			st, err := parse(b)
			if err != nil {
				if !errors.Is(err, ErrNotStatus) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unclassed error %v", err)
				}
				continue
			}
			if len(st.Incidents) > maxIncidents || len([]rune(st.Indicator)) > maxText || len([]rune(st.Description)) > maxText {
				t.Fatalf("unbounded: %+v", st)
			}
			for _, in := range st.Incidents {
				if len([]rune(in.Title)) > maxText || strings.ContainsAny(in.Title, "\n\r") {
					t.Fatalf("incident title not one bounded line: %q", in.Title)
				}
			}
		}
	})
}
