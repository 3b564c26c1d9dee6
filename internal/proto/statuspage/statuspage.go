// Package statuspage reads what a messaging provider says about itself on
// its machine-readable status page: Atlassian Statuspage's summary
// (/api/v2/summary.json, Discord and many others) and Slack's status API
// (/api/v2.0.0/current). Each parser is a pure function from the bytes of
// an answer to a Status or an error; neither trusts the answer's size or
// shape.
//
// Shapes, from the providers' documentation:
//
//	Statuspage: {"page": {...}, "status": {"indicator": "none|minor|major|critical",
//	  "description": "All Systems Operational"}, "components": [...],
//	  "incidents": [{"name", "status": "investigating|identified|monitoring|...",
//	  "impact": "none|minor|major|critical", "created_at", "started_at", ...}]}
//	Slack: {"status": "ok|active|...", "active_incidents": [{"title", "type",
//	  "status", "date_created", "date_updated", ...}], "date_created", "date_updated"}
//
// The summary's incidents are the unresolved ones; Slack's active_incidents
// likewise.
package statuspage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxSize is the largest answer a parser reads: a summary of a large page
// with its components is tens of kilobytes; anything past a mebibyte is
// not a status page.
const MaxSize = 1 << 20

// maxText bounds the strings kept from an answer, which reach a one-line
// report.
const maxText = 200

// maxIncidents bounds the incidents kept.
const maxIncidents = 10

// Status is what the provider says.
type Status struct {
	// Operational is true when the provider reports nothing wrong: the
	// indicator none (Statuspage) or ok (Slack), and no open incident.
	Operational bool
	// Indicator is the provider's own word for the whole: none, minor,
	// major, critical (Statuspage); ok, active, ... (Slack).
	Indicator string
	// Description is the provider's sentence for it, when it has one.
	Description string
	// Incidents are the open incidents, most recent first as the provider
	// lists them, at most ten.
	Incidents []Incident
}

// Incident is one open incident.
type Incident struct {
	Title  string
	Status string    // investigating, identified, monitoring, active...
	Impact string    // none, minor, major, critical; "" when not given
	Since  time.Time // when it started (or was created); zero when unknown
}

// ErrTooLarge is the error of an answer larger than MaxSize.
var ErrTooLarge = errors.New("status answer larger than 1 MiB")

// ErrNotStatus is the error of an answer that is JSON but not of the shape
// expected: a status page moved, or a captive portal's JSON.
var ErrNotStatus = errors.New("not a status document")

type summaryDoc struct {
	Status *struct {
		Indicator   *string `json:"indicator"`
		Description string  `json:"description"`
	} `json:"status"`
	Incidents []struct {
		Name      string `json:"name"`
		Status    string `json:"status"`
		Impact    string `json:"impact"`
		CreatedAt string `json:"created_at"`
		StartedAt string `json:"started_at"`
	} `json:"incidents"`
}

// ParseSummary reads a Statuspage /api/v2/summary.json (or status.json,
// which has the same status object and no incidents).
func ParseSummary(b []byte) (Status, error) {
	if err := check(b); err != nil {
		return Status{}, err
	}
	var doc summaryDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return Status{}, fmt.Errorf("%w: %s", ErrNotStatus, jsonProblem(err))
	}
	if doc.Status == nil || doc.Status.Indicator == nil {
		return Status{}, fmt.Errorf("%w: no status.indicator", ErrNotStatus)
	}
	st := Status{Indicator: text(*doc.Status.Indicator), Description: text(doc.Status.Description)}
	for _, in := range doc.Incidents {
		if in.Status == "resolved" || in.Status == "postmortem" || in.Status == "completed" {
			continue
		}
		if len(st.Incidents) == maxIncidents {
			break
		}
		since := parseTime(in.StartedAt)
		if since.IsZero() {
			since = parseTime(in.CreatedAt)
		}
		st.Incidents = append(st.Incidents, Incident{Title: text(in.Name), Status: text(in.Status), Impact: text(in.Impact), Since: since})
	}
	st.Operational = st.Indicator == "none" && len(st.Incidents) == 0
	return st, nil
}

type slackDoc struct {
	Status          *string `json:"status"`
	ActiveIncidents []struct {
		Title       string `json:"title"`
		Type        string `json:"type"`
		Status      string `json:"status"`
		DateCreated string `json:"date_created"`
	} `json:"active_incidents"`
}

// ParseSlackCurrent reads Slack's /api/v2.0.0/current.
func ParseSlackCurrent(b []byte) (Status, error) {
	if err := check(b); err != nil {
		return Status{}, err
	}
	var doc slackDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return Status{}, fmt.Errorf("%w: %s", ErrNotStatus, jsonProblem(err))
	}
	if doc.Status == nil {
		return Status{}, fmt.Errorf("%w: no status", ErrNotStatus)
	}
	st := Status{Indicator: text(*doc.Status)}
	for _, in := range doc.ActiveIncidents {
		if len(st.Incidents) == maxIncidents {
			break
		}
		st.Incidents = append(st.Incidents, Incident{Title: text(in.Title), Status: text(in.Status), Impact: text(in.Type), Since: parseTime(in.DateCreated)})
	}
	st.Operational = st.Indicator == "ok" && len(st.Incidents) == 0
	return st, nil
}

func check(b []byte) error {
	if len(b) > MaxSize {
		return ErrTooLarge
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: empty answer", ErrNotStatus)
	}
	return nil
}

// jsonProblem names what is wrong with the JSON without echoing it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s is a JSON %s", te.Field, te.Value)
	}
	return "invalid JSON"
}

// text keeps a provider's string fit for one line: valid UTF-8, no control
// characters, at most maxText runes.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' }), " ")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxText {
		r := []rune(s)
		s = string(r[:maxText-1]) + "…"
	}
	return s
}

// parseTime reads the providers' timestamps: RFC 3339, with or without
// fractional seconds; zero when absent or unreadable.
func parseTime(s string) time.Time {
	if s == "" || len(s) > 64 {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
