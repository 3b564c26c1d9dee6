package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
)

// The live page, fed by a real round loop probing loopback: before the
// first round it says it waits; after three rounds it shows the last
// one, Beta's history (up, up, then down once its listener closed) and
// since when Beta is down, from the loop's state.
func TestLiveStatusPage(t *testing.T) {
	up := fixture.TCPListener(t)
	beta := newSwitchable(t)
	cfg, err := probe.Load("live.yaml", []byte(fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Alpha
    endpoints: [{name: chat, target: "tcp://%s"}]
  - name: Beta
    endpoints: [{name: chat, target: "tcp://%s"}]
`, up, beta.addr())), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	loop := round.New(cfg)
	loop.Track = true
	page := newLiveStatusPage(loop, "lab", 30*time.Second)
	loop.Sinks = append(loop.Sinks, page)
	srv := httptest.NewServer(page)
	defer srv.Close()

	get := func() (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(body)
	}
	if code, _, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "first round has not completed") {
		t.Errorf("before any round: %d\n%s", code, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		if i == 2 {
			beta.down()
		}
		if _, err := loop.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	code, h, body := get()
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("after three rounds: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q lets the page load something", csp)
	}
	svcs, _, text := readPage(t, body)
	if svcs["Alpha"].status != "up" || svcs["Beta"].status != "down" {
		t.Fatalf("statuses: Alpha %q, Beta %q\n%s", svcs["Alpha"].status, svcs["Beta"].status, text)
	}
	for _, want := range []string{"last 3 rounds", "2 up, 1 down", "down since ", "(1 round)"} {
		if !strings.Contains(svcs["Beta"].text, want) {
			t.Errorf("Beta does not say %q: %s", want, svcs["Beta"].text)
		}
	}
	for _, want := range []string{"last 3 rounds", "3 up", "up since ", "(3 rounds)"} {
		if !strings.Contains(svcs["Alpha"].text, want) {
			t.Errorf("Alpha does not say %q: %s", want, svcs["Alpha"].text)
		}
	}
	if !strings.Contains(text, "msgprobe · lab") || !strings.Contains(text, "Beta: up → down") {
		t.Errorf("the page lacks its vantage or Beta's change:\n%s", text)
	}
	if !strings.Contains(body, `<meta http-equiv="refresh" content="30">`) {
		t.Errorf("the page does not reload every interval:\n%s", body)
	}

	// The page is rendered once per round, whoever asks how often.
	rendered := page.page
	if _, _, again := get(); again != body || &page.page[0] != &rendered[0] {
		t.Error("a second request rendered the page again")
	}
	if _, err := loop.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, next := get(); !strings.Contains(next, "last 4 rounds") {
		t.Errorf("the page after a fourth round is not new:\n%s", next)
	}
}
