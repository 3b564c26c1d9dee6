package round

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// runOf is a report of one service with the given endpoint statuses,
// started at at.
func runOf(at time.Time, service string, svc probe.Status, eps map[string]probe.Status) *probe.Report {
	s := probe.ServiceResult{Service: &probe.Service{Name: service}, Status: svc, Reason: "why " + svc.String()}
	for _, name := range []string{"a", "b"} {
		if st, ok := eps[name]; ok {
			s.Endpoints = append(s.Endpoints, probe.EndpointResult{Endpoint: &probe.Endpoint{Name: name}, Status: st, Reason: name + " " + st.String()})
		}
	}
	return &probe.Report{StartedAt: at, Status: svc, Services: []probe.ServiceResult{s}}
}

func TestAdvanceCountsRunsAndFindsTransitions(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	up := map[string]probe.Status{"a": probe.Up, "b": probe.Up}

	st, tr := Advance(nil, runOf(minute(0), "Signal", probe.Up, up))
	if len(tr) != 0 || tr == nil {
		t.Fatalf("first run: transitions %v, want an empty list", tr)
	}
	st, _ = Advance(st, runOf(minute(1), "Signal", probe.Up, up))
	st, tr = Advance(st, runOf(minute(2), "Signal", probe.Up, up))
	if e := st.Services["Signal"]; len(tr) != 0 || e.Runs != 3 || !e.Since.Equal(t0) || e.Endpoints["b"].Runs != 3 {
		t.Fatalf("three runs up: %v %+v", tr, e)
	}

	st, tr = Advance(st, runOf(minute(3), "Signal", probe.Down, map[string]probe.Status{"a": probe.Up, "b": probe.Down}))
	want := []probe.Transition{
		{Service: "Signal", From: probe.Up, To: probe.Down, Since: t0, Runs: 3, Reason: "why down"},
		{Service: "Signal", Endpoint: "b", From: probe.Up, To: probe.Down, Since: t0, Runs: 3, Reason: "b down"},
	}
	if fmt.Sprint(tr) != fmt.Sprint(want) {
		t.Fatalf("up → down:\n got %v\nwant %v", tr, want)
	}
	if e := st.Services["Signal"]; e.Status != probe.Down || e.Runs != 1 || !e.Since.Equal(minute(3)) || e.Endpoints["a"].Runs != 4 {
		t.Fatalf("state after the change: %+v", e)
	}

	// An unknown verdict (the local network looked down) changes nothing.
	st, tr = Advance(st, runOf(minute(4), "Signal", probe.Unknown, map[string]probe.Status{"a": probe.Down, "b": probe.Down}))
	if e := st.Services["Signal"]; len(tr) != 0 || e.Status != probe.Down || e.Runs != 1 {
		t.Fatalf("unknown run: %v %+v", tr, e)
	}
	// A service not probed this time keeps its entry.
	st, _ = Advance(st, runOf(minute(5), "Olvid", probe.Up, up))
	if st.Services["Signal"] == nil || st.Services["Olvid"] == nil {
		t.Fatalf("services kept: %v", st.Services)
	}
}

func TestStateFileRoundTripAndWarnings(t *testing.T) {
	dir := t.TempDir()
	store := NewStore(filepath.Join(dir, "st.json"), "st.json")

	var w *StateWarning
	if st, err := store.Load(); st != nil || !errors.As(err, &w) || !w.Missing || err.Error() != "no state in st.json yet, starting a new one" {
		t.Fatalf("missing file: %v %v", st, err)
	}

	next, _ := Advance(nil, runOf(time.Now(), "Signal", probe.Degraded, map[string]probe.Status{"a": probe.Degraded}))
	if err := store.Save(next); err != nil {
		t.Fatal(err)
	}
	back, err := store.Load()
	if back == nil || err != nil || back.Services["Signal"].Status != probe.Degraded || back.Services["Signal"].Endpoints["a"].Runs != 1 {
		t.Fatalf("read back: %+v %v", back, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	for _, bad := range []string{"{", "null", `{"version":2,"services":{}}`, `{"version":1,"services":{"x":{"status":"sideways","since":"2026-01-01T00:00:00Z","runs":1}}}`, `{"version":1,"services":{"x":{"status":"up","since":"2026-01-01T00:00:00Z","runs":0}}}`} {
		if err := os.WriteFile(filepath.Join(dir, "st.json"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := store.Load()
		if st != nil || !errors.As(err, &w) || w.Missing || !strings.HasPrefix(err.Error(), "ignoring the state in st.json (") || !strings.HasSuffix(err.Error(), "); it will be rewritten") {
			t.Errorf("corrupt %q: %v %v", bad, st, err)
		}
	}

	if err := NewStore(filepath.Join(dir, "no", "such", "dir.json"), filepath.Join("no", "such", "dir.json")).Open(); err == nil || !strings.Contains(err.Error(), "cannot write state to no/such/dir.json") {
		t.Errorf("unwritable state: %v", err)
	}
}

// fakeTimer is the progress counter's clock and timer, driven by the test.
type fakeTimer struct {
	now     time.Time
	fire    func()
	stopped bool
}

func newFakeProgress(w *bytes.Buffer) (*Progress, *fakeTimer) {
	ft := &fakeTimer{now: time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)}
	p := NewProgress(w)
	p.now = func() time.Time { return ft.now }
	p.after = func(d time.Duration, f func()) func() bool {
		if d != progressDelay {
			panic("unexpected delay")
		}
		ft.fire = f
		return func() bool { ft.stopped = true; return true }
	}
	return p, ft
}

func TestProgressCounter(t *testing.T) {
	var nilProgress *Progress
	nilProgress.Start(3)
	nilProgress.update(1, 3)
	nilProgress.End()
	if nilProgress.Hook() != nil {
		t.Fatal("a nil counter has a hook")
	}

	// A quick run shows nothing and disarms the timer.
	var w bytes.Buffer
	p, ft := newFakeProgress(&w)
	p.Start(52)
	p.update(1, 52)
	p.End()
	if w.Len() != 0 || !ft.stopped {
		t.Fatalf("quick run wrote %q, timer stopped %v", w.String(), ft.stopped)
	}

	// A slow run shows the counter when the delay passes, redraws at most
	// every progressEvery, and erases it at the end.
	w.Reset()
	p, ft = newFakeProgress(&w)
	p.Start(52)
	p.update(5, 52)
	if w.Len() != 0 {
		t.Fatalf("shown before the delay: %q", w.String())
	}
	ft.now = ft.now.Add(progressDelay)
	ft.fire()
	p.update(6, 52) // too soon after the first draw
	ft.now = ft.now.Add(progressEvery)
	p.update(37, 52)
	p.End()
	p.End()
	want := "\r\x1b[Kprobing 5/52 endpoints…\r\x1b[Kprobing 37/52 endpoints…\r\x1b[K"
	if w.String() != want {
		t.Fatalf("wrote %q\nwant  %q", w.String(), want)
	}
	// The timer firing after the end draws nothing.
	w.Reset()
	p, ft = newFakeProgress(&w)
	p.Start(2)
	p.End()
	ft.fire()
	if w.Len() != 0 {
		t.Fatalf("drawn after the end: %q", w.String())
	}
}
