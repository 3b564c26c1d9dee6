package probe

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The answers of Matrix's client-server API that a delivery probe reads
// (matrix-org/matrix-spec, data/api/client-server: login.yaml, whoami.yaml,
// room_send.yaml, sync.yaml, directory.yaml). Each parser is a pure
// function of at most its cap's bytes.

const (
	// maxMatrixAnswer bounds the answer of a login, send or lookup.
	maxMatrixAnswer = 64 << 10
	// maxMatrixSync bounds one /sync answer. The probe's filter keeps it
	// to one room's few new events; a server that ignores the filter and
	// sends more than this is not one to read whole.
	maxMatrixSync = 4 << 20
)

var errMatrixAnswer = errors.New("not a Matrix answer")

// matrixError is the standard error body: {"errcode": "M_FORBIDDEN",
// "error": "...", "retry_after_ms": 2000}.
type matrixError struct {
	Errcode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMs int64  `json:"retry_after_ms"`
}

func parseMatrixError(b []byte) (matrixError, bool) {
	var e matrixError
	if len(b) > maxMatrixAnswer || json.Unmarshal(b, &e) != nil || e.Errcode == "" {
		return matrixError{}, false
	}
	return e, true
}

// matrixLogin is the answer to POST /login.
type matrixLogin struct {
	AccessToken string `json:"access_token"`
	UserID      string `json:"user_id"`
	DeviceID    string `json:"device_id"`
}

func parseMatrixLogin(b []byte) (matrixLogin, error) {
	var l matrixLogin
	if err := decodeCapped(b, maxMatrixAnswer, &l); err != nil {
		return l, err
	}
	if l.AccessToken == "" {
		return l, fmt.Errorf("%w: login answer without access_token", errMatrixAnswer)
	}
	return l, nil
}

// parseMatrixField reads one string field that must be there: user_id of
// /account/whoami, event_id of a send, room_id of a directory lookup.
func parseMatrixField(b []byte, field string) (string, error) {
	var m map[string]json.RawMessage
	if err := decodeCapped(b, maxMatrixAnswer, &m); err != nil {
		return "", err
	}
	var s string
	if raw, ok := m[field]; ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %s is not a string", errMatrixAnswer, field)
		}
	}
	if s == "" {
		return "", fmt.Errorf("%w: answer without %s", errMatrixAnswer, field)
	}
	return s, nil
}

// matrixSync is what a delivery probe reads of a /sync answer: the next
// position, and the ids of the new timeline events of the joined rooms.
type matrixSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					EventID string `json:"event_id"`
				} `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// parseMatrixSync reads a /sync answer: its next_batch, and whether event
// is in room's timeline.
func parseMatrixSync(b []byte, room, event string) (next string, seen bool, err error) {
	var s matrixSync
	if err := decodeCapped(b, maxMatrixSync, &s); err != nil {
		return "", false, err
	}
	if s.NextBatch == "" {
		return "", false, fmt.Errorf("%w: sync answer without next_batch", errMatrixAnswer)
	}
	if event != "" {
		for _, e := range s.Rooms.Join[room].Timeline.Events {
			if e.EventID == event {
				seen = true
				break
			}
		}
	}
	return s.NextBatch, seen, nil
}

// decodeCapped unmarshals a JSON object of at most limit bytes.
func decodeCapped(b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: answer over %s", errMatrixAnswer, formatBytes(int64(limit)))
	}
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%w: invalid JSON at byte %d", errMatrixAnswer, se.Offset)
		case errors.As(err, &te):
			return fmt.Errorf("%w: %s is not of the expected type", errMatrixAnswer, te.Field)
		}
		return fmt.Errorf("%w: invalid JSON", errMatrixAnswer)
	}
	return nil
}
