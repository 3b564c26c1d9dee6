package probe

import (
	"strings"
	"testing"
)

func TestMatrixParsers(t *testing.T) {
	next, seen, err := parseMatrixSync([]byte(`{"next_batch":"s72","rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$a"},{"event_id":"$b"}]}}}}}`), "!r:x", "$b")
	if err != nil || next != "s72" || !seen {
		t.Errorf("sync: %q %v %v", next, seen, err)
	}
	if _, seen, _ := parseMatrixSync([]byte(`{"next_batch":"s1","rooms":{"join":{"!other:x":{"timeline":{"events":[{"event_id":"$b"}]}}}}}`), "!r:x", "$b"); seen {
		t.Error("an event of another room counted")
	}
	for _, bad := range []string{`{}`, `[]`, `{"next_batch":7}`, `not json`, `{"next_batch":"s","rooms":{"join":[]}}`} {
		if _, _, err := parseMatrixSync([]byte(bad), "!r:x", "$b"); err == nil {
			t.Errorf("sync %s parsed", bad)
		}
	}
	if _, _, err := parseMatrixSync([]byte(`{"next_batch":"`+strings.Repeat("x", maxMatrixSync)+`"}`), "", ""); err == nil {
		t.Error("an oversized sync parsed")
	}
	if e, ok := parseMatrixError([]byte(`{"errcode":"M_FORBIDDEN","error":"Invalid password"}`)); !ok || e.Errcode != "M_FORBIDDEN" {
		t.Errorf("error: %+v %v", e, ok)
	}
	if _, ok := parseMatrixError([]byte(`<html>502</html>`)); ok {
		t.Error("HTML parsed as a Matrix error")
	}
	if _, err := parseMatrixLogin([]byte(`{"user_id":"@p:x"}`)); err == nil {
		t.Error("a login without a token parsed")
	}
	if id, err := parseMatrixField([]byte(`{"event_id":"$e"}`), "event_id"); err != nil || id != "$e" {
		t.Errorf("event id %q %v", id, err)
	}
	if _, err := parseMatrixField([]byte(`{"event_id":5}`), "event_id"); err == nil {
		t.Error("a number parsed as an event id")
	}
}

// FuzzMatrixAnswer feeds every Matrix parser what a hostile homeserver
// could answer: none panics, and a sync parses only with its position.
func FuzzMatrixAnswer(f *testing.F) {
	f.Add([]byte(`{"next_batch":"s72","rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$b"}]}}}}}`))
	f.Add([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":2000}`))
	f.Add([]byte(`{"access_token":"t","user_id":"@p:x","device_id":"MSGPROBE"}`))
	f.Add([]byte(`{"event_id":"$e","room_id":"!r:x","user_id":"@p:x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		next, seen, err := parseMatrixSync(b, "!r:x", "$b")
		if err == nil && next == "" {
			t.Fatalf("a sync without next_batch parsed: %q", b)
		}
		if _, unseen, _ := parseMatrixSync(b, "!r:x", ""); unseen {
			t.Fatalf("no event asked for, one seen: %q", b)
		}
		_ = seen
		_, _ = parseMatrixError(b)
		_, _ = parseMatrixLogin(b)
		for _, field := range []string{"event_id", "user_id", "room_id"} {
			_, _ = parseMatrixField(b, field)
		}
	})
}
