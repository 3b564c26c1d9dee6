package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// pageConfig writes a config of three services as the status page shows
// them: Alpha up (messaging and web), Beta down (refused), Gamma degraded
// (one of its two chat servers refused), and a control that answers.
func pageConfig(t *testing.T, dir string) string {
	t.Helper()
	up, closed := fixture.TCPListener(t), fixture.ClosedPort(t)
	return writeFile(t, dir, "page.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 2}
controls:
  - {name: ctl, target: "tcp://%[1]s"}
services:
  - name: Alpha
    tags: [acme]
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: chat, target: "tcp://%[1]s", role: messaging}
      - {name: web, target: "tcp://%[1]s", role: web}
  - name: Beta
    tags: [acme]
    endpoints:
      - {name: chat, target: "tcp://%[2]s"}
  - name: Gamma
    endpoints:
      - {name: chat1, target: "tcp://%[1]s", role: messaging}
      - {name: chat2, target: "tcp://%[2]s", role: messaging}
`, up, closed))
}

// pageService is what the page says of one service, read from its DOM.
type pageService struct {
	status string // data-status
	text   string // its text, spaces collapsed
}

// readPage parses a page as a browser would and returns its services by
// name, the diagnosis code and the whole text.
func readPage(t *testing.T, page string) (map[string]pageService, string, string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("the page does not parse: %v", err)
	}
	svcs := map[string]pageService{}
	var code string
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := map[string]string{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			if name, ok := a["data-service"]; ok {
				svcs[name] = pageService{status: a["data-status"], text: nodeText(n)}
			}
			if a["id"] == "diagnosis" {
				code = a["data-code"]
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(doc)
	return svcs, code, nodeText(doc)
}

func nodeText(n *html.Node) string {
	var b strings.Builder
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkPageServices checks the services of the page config, their status
// words and the diagnosis.
func checkPageServices(t *testing.T, page string) (map[string]pageService, string) {
	t.Helper()
	svcs, code, text := readPage(t, page)
	for name, want := range map[string]struct{ status, says string }{
		"Alpha": {"up", "✓ up"},
		"Beta":  {"down", "✕ down"},
		"Gamma": {"degraded", "! degraded"},
	} {
		s, ok := svcs[name]
		if !ok {
			t.Errorf("the page has no service %s:\n%s", name, text)
			continue
		}
		if s.status != want.status || !strings.Contains(s.text, want.says) {
			t.Errorf("%s: status %q, text %q; want %s", name, s.status, s.text, want.says)
		}
	}
	if !strings.Contains(svcs["Beta"].text, "refused") {
		t.Errorf("Beta does not say why it is down: %q", svcs["Beta"].text)
	}
	if !strings.Contains(svcs["Gamma"].text, "messaging degraded 1/2 up") {
		t.Errorf("Gamma does not show its function's verdict: %q", svcs["Gamma"].text)
	}
	if code != "service_outage" || !strings.Contains(text, "Beta down; your network works") {
		t.Errorf("diagnosis %q, want service_outage, saying Beta is down:\n%s", code, text)
	}
	return svcs, text
}

// `check -f html -o FILE` writes the status page, one file that needs
// nothing else; with --state, the second run says since when.
func TestCheckWritesHTMLStatusPage(t *testing.T) {
	dir := t.TempDir()
	pageConfig(t, dir)
	args := []string{"check", "-c", "page.yaml", "-f", "html", "-o", "status.html", "--state", "state.json", "--fail-on", "never"}
	for run := 1; run <= 2; run++ {
		if r := msgprobe(t, dir, "", args...); r.code != 0 || r.stdout != "" {
			t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, r.code, r.stdout, r.stderr)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "status.html"))
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := checkPageServices(t, string(page))
	if !strings.Contains(svcs["Beta"].text, "down since ") || !strings.Contains(svcs["Beta"].text, "(2 rounds)") {
		t.Errorf("the second run does not say since when Beta is down: %q", svcs["Beta"].text)
	}
	for _, bad := range []string{"<script", "<link", "src=", "href=", "url("} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("the page contains %q: it must need nothing but itself", bad)
		}
	}

	// As one of several formats, to a file of its own.
	r := msgprobe(t, dir, "", "check", "-c", "page.yaml", "-f", "json", "-f", "html=other.html", "--fail-on", "never")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	decodeReport(t, r.stdout)
	other, err := os.ReadFile(filepath.Join(dir, "other.html"))
	if err != nil {
		t.Fatal(err)
	}
	checkPageServices(t, string(other))
}

// chromiumArgs are the flags every run of Chromium gets: headless, no
// sandbox (the test may run as root, in a user namespace), and nothing
// that would reach out of the loopback network.
func chromiumArgs(profile string) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + profile}
}

// runChromium runs Chromium bounded by a deadline; at the deadline the
// whole process group goes (Chromium forks its renderers).
func runChromium(t *testing.T, bin string, within time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, append(chromiumArgs(filepath.Join(home, "profile")), args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// Its own home, and no D-Bus to wait for.
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home,
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent", "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// Whatever it left behind in its group ends with it.
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("chromium did not finish within %v: %w", within, ctx.Err())
	}
	return out.String(), errb.String(), err
}

// findChromium returns Chromium, or skips the test when it is not
// installed or cannot run here (it is tried on a page of its own first).
func findChromium(t *testing.T) string {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		fixture.Missing(t, "chromium", "Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
	}
	out, stderr, err := runChromium(t, bin, 60*time.Second, "--dump-dom", "data:text/html,<p id=probe>ready</p>")
	if err != nil || !strings.Contains(out, `<p id="probe">ready</p>`) {
		fixture.Missing(t, "chromium", "Chromium cannot run here (%v); its last words:\n%s", err, lastLines(stderr, 10))
	}
	return bin
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// The status page of a loopback serve, in a real headless Chromium: the
// DOM it renders names each service with its status and the diagnosis,
// and screenshots at a phone's size and a desktop's, light and dark,
// show the status colours.
func TestStatusPageInChromium(t *testing.T) {
	bin := findChromium(t)
	dir := t.TempDir()
	pageConfig(t, dir)
	s := startServe(t, dir, "-c", "page.yaml", "--interval", "2s")
	s.waitLogN(roundLine, 2, 15*time.Second)

	dom, stderr, err := runChromium(t, bin, 60*time.Second, "--dump-dom", s.url("/"))
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, lastLines(stderr, 20))
	}
	svcs, _ := checkPageServices(t, dom)
	// serve's page shows the last rounds and since when, from its state.
	if b := svcs["Beta"].text; !regexp.MustCompile(`last [2-9]\d* rounds`).MatchString(b) || !strings.Contains(b, "down since ") {
		t.Errorf("Beta shows no history or since on serve's page: %q", b)
	}

	shots := t.TempDir()
	for _, c := range []struct {
		name, size string
		dark       bool
	}{
		{"status.png", "390,844", false},
		{"status-desktop.png", "1280,900", false},
		{"status-dark.png", "390,844", true},
	} {
		path := filepath.Join(shots, c.name)
		args := []string{"--screenshot=" + path, "--window-size=" + c.size}
		if c.dark {
			args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
		}
		if _, stderr, err := runChromium(t, bin, 60*time.Second, append(args, s.url("/"))...); err != nil {
			t.Fatalf("chromium --screenshot %s: %v\n%s", c.name, err, lastLines(stderr, 20))
		}
		img := readPNG(t, path)
		var w, h int
		fmt.Sscanf(c.size, "%d,%d", &w, &h)
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s is %dx%d, want %dx%d", c.name, b.Dx(), b.Dy(), w, h)
		}
		// The badges fill with the status colours: Alpha's up, Beta's
		// down, Gamma's degraded. The page's background says the mode.
		want := map[string]color.RGBA{
			"background": {0xff, 0xff, 0xff, 0xff}, "up": {0xda, 0xfb, 0xe1, 0xff},
			"degraded": {0xff, 0xf1, 0xa8, 0xff}, "down": {0xff, 0xe0, 0xdc, 0xff},
		}
		if c.dark {
			want = map[string]color.RGBA{
				"background": {0x0d, 0x11, 0x17, 0xff}, "up": {0x0f, 0x2d, 0x1a, 0xff},
				"degraded": {0x33, 0x27, 0x07, 0xff}, "down": {0x3d, 0x14, 0x14, 0xff},
			}
		}
		if got := rgba(img.At(img.Bounds().Max.X-1, img.Bounds().Max.Y-1)); got != want["background"] {
			t.Errorf("%s: background %v, want %v", c.name, got, want["background"])
		}
		for what, col := range want {
			if n := countColor(img, col); n < 20 {
				t.Errorf("%s shows no %s colour %v (%d pixels)", c.name, what, col, n)
			}
		}
		if dst := os.Getenv("MSGPROBE_SCREENSHOT_DIR"); dst != "" {
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(filepath.Join(dst, c.name), data, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("chromium wrote no screenshot %s", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func rgba(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func countColor(img image.Image, want color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if rgba(img.At(x, y)) == want {
				n++
			}
		}
	}
	return n
}
