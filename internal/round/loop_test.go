package round

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// switchable is a loopback listener a test opens and closes: up while it
// accepts, refused once closed.
type switchable struct {
	t    *testing.T
	addr string
	ln   net.Listener
}

func newSwitchable(t *testing.T) *switchable {
	s := &switchable{t: t}
	s.open()
	s.addr = s.ln.Addr().String()
	t.Cleanup(s.close)
	return s
}

func (s *switchable) open() {
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (s *switchable) close() {
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
}

func configOf(t *testing.T, services map[string]string) *probe.Config {
	t.Helper()
	y := "version: 1\ndefaults: {timeout: 2s, samples: 1}\nservices:\n"
	for _, name := range []string{"Alpha", "Beta"} {
		if addr, ok := services[name]; ok {
			y += fmt.Sprintf("  - name: %s\n    endpoints:\n      - {name: chat, target: \"tcp://%s\"}\n", name, addr)
		}
	}
	cfg, err := probe.Load("test.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recorder is a sink that keeps the rounds it was given.
type recorder struct {
	mu     sync.Mutex
	rounds []*Result
}

func (r *recorder) Deliver(res *Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rounds = append(r.rounds, res)
	return nil
}

func TestRoundsAdvanceTheStateAndFeedTheSinks(t *testing.T) {
	alpha := newSwitchable(t)
	dir := t.TempDir()
	rec := &recorder{}
	loop := New(configOf(t, map[string]string{"Alpha": alpha.addr}))
	loop.Files = Files{{Path: filepath.Join(dir, "r.json"), Display: "r.json", Renderer: report.NewJSON(report.Options{})}}
	loop.Store = NewStore(filepath.Join(dir, "st.json"), "st.json")
	loop.Sinks = []Sink{rec}
	if err := loop.Open(); err != nil {
		t.Fatal(err)
	}
	defer loop.Abort()
	if err := loop.LoadState(); err == nil {
		t.Fatal("no warning for a missing state file")
	}

	r1, err := loop.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r1.Round != 1 || r1.Report.Status != probe.Up || len(r1.Report.Transitions) != 0 || r1.Report.Transitions == nil {
		t.Fatalf("round 1: #%d %s %v", r1.Round, r1.Report.Status, r1.Report.Transitions)
	}
	alpha.close()
	r2, err := loop.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := r2.Report.Transitions
	if r2.Round != 2 || r2.Report.Status != probe.Down || len(tr) != 2 || tr[0].From != probe.Up || tr[0].To != probe.Down || tr[1].Endpoint != "chat" {
		t.Fatalf("round 2: #%d %s %+v", r2.Round, r2.Report.Status, tr)
	}
	if len(rec.rounds) != 2 || rec.rounds[1] != r2 {
		t.Fatalf("sink got %d rounds", len(rec.rounds))
	}

	// The files hold the last round, the state its statuses.
	var doc struct{ Status string }
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "r.json")), &doc); err != nil || doc.Status != "down" {
		t.Fatalf("report file: %v %+v", err, doc)
	}
	st, err := NewStore(filepath.Join(dir, "st.json"), "st.json").Load()
	if err != nil || st.Services["Alpha"].Status != probe.Down || st.Services["Alpha"].Runs != 1 {
		t.Fatalf("state file: %v %+v", err, st)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestInterruptedRoundIsReportedNotRemembered(t *testing.T) {
	alpha := newSwitchable(t)
	dir := t.TempDir()
	loop := New(configOf(t, map[string]string{"Alpha": alpha.addr}))
	loop.Store = NewStore(filepath.Join(dir, "st.json"), "st.json")
	loop.LoadState()
	if _, err := loop.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, filepath.Join(dir, "st.json"))

	alpha.close()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(probe.ErrInterrupted)
	r, err := loop.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || len(r.Report.Transitions) != 2 {
		t.Fatalf("interrupted %v, transitions %v", r.Interrupted, r.Report.Transitions)
	}
	if after := readFile(t, filepath.Join(dir, "st.json")); string(after) != string(before) {
		t.Errorf("an interrupted round rewrote the state:\n%s", after)
	}
	if st := loop.State(); st.Services["Alpha"].Status != probe.Up {
		t.Errorf("an interrupted round changed the state in memory: %+v", st.Services["Alpha"])
	}
}

func TestSetConfigTakesEffectNextRound(t *testing.T) {
	alpha, beta := newSwitchable(t), newSwitchable(t)
	loop := New(configOf(t, map[string]string{"Alpha": alpha.addr}))
	r1, _ := loop.Round(context.Background())
	loop.SetConfig(configOf(t, map[string]string{"Alpha": alpha.addr, "Beta": beta.addr}))
	r2, _ := loop.Round(context.Background())
	if len(r1.Report.Services) != 1 || len(r2.Report.Services) != 2 || r2.Config == r1.Config {
		t.Fatalf("services: %d then %d", len(r1.Report.Services), len(r2.Report.Services))
	}
}

func TestRepeatRoundsNeverOverlap(t *testing.T) {
	alpha := newSwitchable(t)
	loop := New(configOf(t, map[string]string{"Alpha": alpha.addr}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var spans [][2]time.Time
	running := 0
	loop.Sinks = []Sink{SinkFunc(func(r *Result) error {
		running++
		defer func() { running-- }()
		if running != 1 {
			t.Errorf("%d rounds delivered at once", running)
		}
		return nil
	})}
	// An interval shorter than a round: each round follows the last at once.
	last, err := loop.Repeat(ctx, Schedule{Interval: time.Nanosecond, FromStart: true, Jitter: 0.5}, func(r *Result, err error) error {
		if err != nil {
			return err
		}
		spans = append(spans, [2]time.Time{r.Report.StartedAt, r.Report.StartedAt.Add(r.Report.Duration)})
		if len(spans) == 5 {
			cancel()
		}
		return nil
	})
	if err != nil || ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("repeat: %v %v", err, ctx.Err())
	}
	if len(spans) != 5 || last.Round != 5 {
		t.Fatalf("%d rounds delivered, last #%d", len(spans), last.Round)
	}
	for i := 1; i < len(spans); i++ {
		if spans[i][0].Before(spans[i-1][1]) {
			t.Errorf("round %d started at %v, before round %d ended at %v", i+1, spans[i][0], i, spans[i-1][1])
		}
	}
}

func TestRepeatDropsACutRoundButNotTheFirst(t *testing.T) {
	// An endpoint that never answers: every round lasts until ctx ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	y := fmt.Sprintf("version: 1\ndefaults: {timeout: 30s, samples: 1}\nservices:\n  - name: Alpha\n    endpoints:\n      - {name: web, target: \"http://%s/\"}\n", ln.Addr())
	cfg, err := probe.Load("slow.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	loop := New(cfg)
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(200*time.Millisecond, func() { cancel(probe.ErrInterrupted) })
	n := 0
	last, err := loop.Repeat(ctx, Schedule{Interval: time.Hour}, func(_ *Result, err error) error { n++; return err })
	if err != nil || n != 1 || last == nil || !last.Interrupted || last.Cause != probe.ErrInterrupted || last.Round != 1 {
		t.Fatalf("first round cut short: err %v, delivered %d, last %+v", err, n, last)
	}
}

func TestScheduleWait(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)
	tests := []struct {
		s       Schedule
		took    time.Duration
		want    time.Duration
		comment string
	}{
		{Schedule{Interval: 10 * time.Second}, 3 * time.Second, 10 * time.Second, "from the end"},
		{Schedule{Interval: 10 * time.Second, FromStart: true}, 3 * time.Second, 7 * time.Second, "from the start"},
		{Schedule{Interval: 10 * time.Second, FromStart: true}, 12 * time.Second, 0, "a round longer than the interval: the next at once"},
		{Schedule{Interval: 10 * time.Second, Jitter: 0.1, Rand: func() float64 { return 0 }}, 0, 9 * time.Second, "jitter, lowest"},
		{Schedule{Interval: 10 * time.Second, Jitter: 0.1, Rand: func() float64 { return 0.5 }}, 0, 10 * time.Second, "jitter, middle"},
		{Schedule{Interval: 10 * time.Second, Jitter: 0.1, FromStart: true, Rand: func() float64 { return 0.75 }}, time.Second, 9500 * time.Millisecond, "jitter from the start"},
	}
	for _, tt := range tests {
		if got := tt.s.Wait(t0, t0.Add(tt.took)); got != tt.want {
			t.Errorf("%s: waits %v, want %v", tt.comment, got, tt.want)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
