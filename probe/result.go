package probe

import (
	"fmt"
	"time"
)

// Status is a verdict. The order matters: a larger status is worse.
type Status int

// The verdicts, from best to worst.
const (
	Up Status = iota
	Degraded
	Down
	Unknown
)

var statusNames = [...]string{"up", "degraded", "down", "unknown"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// MarshalText writes the status by name, for JSON and state files.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status by name.
func (s *Status) UnmarshalText(b []byte) error {
	st, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// ParseStatus reads a status by name.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown status %q", name)
}

// Latency summarises the total time of the successful attempts.
type Latency struct {
	Min, P50, P95, Max time.Duration
}

// ErrorCount groups the failed attempts of an endpoint that share a class,
// a phase and a message.
type ErrorCount struct {
	Class   Class
	Phase   Phase
	Message string
	Count   int
}

// EndpointResult is the verdict on one endpoint, with what it was based on.
type EndpointResult struct {
	Endpoint *Endpoint
	Status   Status
	Reason   string // empty when up
	Attempts []Attempt
	Failures int
	// Latency and Phases are set only when at least one attempt succeeded.
	Latency    *Latency
	Phases     Timings // the median of each phase over successful attempts
	Errors     []ErrorCount
	HTTPStatus int      // the last status seen, 0 when none
	TLS        *TLSInfo // from the last completed handshake
	DaysLeft   int      // days until the leaf certificate expires, when TLS is set
	// Redirect is where the last HTTP answer redirected to (see
	// Attempt.Redirect), "" when none did.
	Redirect string
	// Details are the protocol details of the last successful attempt, or
	// of the last attempt that had any when none succeeded.
	Details map[string]any
}

// ServiceResult is the verdict on one service.
type ServiceResult struct {
	Service   *Service
	Status    Status
	Reason    string
	Endpoints []EndpointResult
}

// Summary counts services by status.
type Summary struct {
	Up, Degraded, Down, Unknown int
}

// Report is the outcome of a whole run.
type Report struct {
	StartedAt time.Time
	Duration  time.Duration
	Status    Status
	Summary   Summary
	Note      string // one line about the run as a whole, e.g. local network down
	Controls  []EndpointResult
	Services  []ServiceResult
	// Diagnosis is the run's one-line answer to "is it the service, its
	// provider, or me?", computed from the verdicts by Diagnose.
	Diagnosis Diagnosis
	// Transitions are the changes since the previous run, services first
	// in config order, each followed by its endpoints. nil means no state
	// was kept; empty means nothing changed.
	Transitions []Transition
}

// Transition is a change of status between two runs. Only a caller that
// keeps state between runs (msgprobe check --state) knows of any.
type Transition struct {
	Service  string
	Endpoint string // empty when the service itself changed
	From, To Status
	// Since is when From began, and Runs how many runs in a row found it.
	Since time.Time
	Runs  int
	// Reason explains To when it is not up, as the result of To does.
	Reason string
}
