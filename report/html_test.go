package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/msgprobe/msgprobe/probe"
)

// liveFixture is the fixture as serve shows it: a state that knows since
// when each status holds, this round's changes, and five rounds of history.
func liveFixture() (*probe.Report, Options, Page) {
	r := fixture()
	r.Services[0].Functions = []probe.FunctionResult{
		{Name: "web", Status: probe.Up, Up: 1, Total: 1},
		{Name: "messaging", Status: probe.Up, Critical: true, Up: 1, Total: 1},
	}
	r.Transitions = []probe.Transition{
		{Service: "Telegram", From: probe.Up, To: probe.Down, Since: fixedNow.Add(-26 * time.Hour), Runs: 1500, Reason: r.Services[2].Reason},
		{Service: "Telegram", Endpoint: "api", From: probe.Up, To: probe.Down, Since: fixedNow.Add(-26 * time.Hour), Runs: 1500},
		{Service: "Signal", Endpoint: "chat", From: probe.Up, To: probe.Degraded, Since: fixedNow.Add(-time.Hour), Runs: 60, Reason: "1/3 attempts timed out at tls"},
	}
	// Olvid is unknown this round: the state still remembers it up.
	since := map[string]Held{
		"WhatsApp": {Status: probe.Up, Since: fixedNow.Add(-3 * time.Hour)},
		"Signal":   {Status: probe.Degraded, Since: fixedNow.Add(-5 * time.Minute)},
		"Telegram": {Status: probe.Down, Since: fixedNow},
		"Olvid":    {Status: probe.Up, Since: fixedNow.Add(-time.Hour)},
	}
	opt := Options{Since: func(service, endpoint string) (Held, bool) {
		h, ok := since[service]
		if !ok || endpoint != "" {
			return Held{}, false
		}
		h.Rounds = int(fixedNow.Sub(h.Since)/time.Minute) + 1
		return h, true
	}}
	h := NewHistory(5)
	for i, st := range []probe.Status{probe.Up, probe.Up, probe.Degraded, probe.Up, probe.Down, probe.Down} {
		round := fixture()
		round.StartedAt = fixedNow.Add(time.Duration(i-5) * time.Minute)
		round.Services[2].Status = st
		if i == 3 {
			round.Services = round.Services[:2] // Telegram filtered out of one round
		}
		h.Add(round)
	}
	return r, opt, Page{Vantage: "paris", Refresh: time.Minute, History: h}
}

func renderHTML(t *testing.T, opt Options, p Page, r *probe.Report) string {
	t.Helper()
	if opt.Now == nil {
		opt.Now = fixedClock
	}
	var b bytes.Buffer
	if err := NewHTMLPage(opt, p).Render(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHTMLGolden(t *testing.T) {
	live, opt, page := liveFixture()
	for _, c := range []struct {
		file string
		got  string
	}{
		{"html.golden", render(t, "html", Options{}, fixture())},
		{"html_live.golden", renderHTML(t, opt, page, live)},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, []byte(c.got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./report -update to create it)", err)
			}
			if c.got != string(want) {
				t.Errorf("%s differs from the golden file (run go test ./report -update and review the diff)\ngot:\n%s", c.file, c.got)
			}
		})
	}
}

// parseHTML parses the page as a browser would.
func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// find returns the elements that have the attribute, by its value.
func find(doc *html.Node, name string) map[string]*html.Node {
	out := map[string]*html.Node{}
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, name); ok && n.Type == html.ElementNode {
			if _, dup := out[v]; !dup {
				out[v] = n
			}
		}
	})
	return out
}

// The page is one file a browser shows without asking for anything else:
// no script, no stylesheet or image or font to fetch, no link out, and no
// CSS url(); the style is inline.
func TestHTMLSelfContained(t *testing.T) {
	live, opt, page := liveFixture()
	for name, out := range map[string]string{
		"check": render(t, "html", Options{}, hostile()),
		"live":  renderHTML(t, opt, page, live),
	} {
		t.Run(name, func(t *testing.T) {
			styles := 0
			walk(parseHTML(t, out), func(n *html.Node) {
				if n.Type != html.ElementNode {
					return
				}
				switch n.Data {
				case "script", "link", "img", "iframe", "object", "embed", "base":
					t.Errorf("the page has a <%s>", n.Data)
				case "style":
					styles++
					if css := textOf(n); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
						t.Errorf("the style fetches something: %q", css)
					}
				}
				for _, a := range n.Attr {
					if a.Key == "src" || a.Key == "href" || a.Key == "srcset" || strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s %s=%q> would fetch or run something", n.Data, a.Key, a.Val)
					}
				}
			})
			if styles != 1 {
				t.Errorf("%d <style> elements, want the one inline style", styles)
			}
		})
	}
}

// Names and messages reach the reader as written, whatever they hold:
// html/template escapes them, so that a service named <script> is text.
func TestHTMLEscapes(t *testing.T) {
	r := hostile()
	r.Services[2].Service.Name = `<script>alert("x")</script>`
	r.Services[2].Reason = `</p><img src=x onerror=alert(1)>`
	r.Diagnosis.Message = `Telegram & "friends" <down>`
	out := render(t, "html", Options{}, r)
	if strings.Contains(out, "<script>") || strings.Contains(out, "<img") {
		t.Fatalf("a name or a reason reached the page as markup:\n%s", out)
	}
	doc := parseHTML(t, out)
	svcs := find(doc, "data-service")
	for _, want := range []string{`Whats"App, Inc. |=\`, "Сигнал ✓", `<script>alert("x")</script>`} {
		n, ok := svcs[want]
		if !ok {
			t.Errorf("no service %q on the page; have %v", want, keys(svcs))
			continue
		}
		if !strings.Contains(textOf(n), want) {
			t.Errorf("service %q does not show its name as text: %q", want, textOf(n))
		}
	}
	if got := textOf(svcs[`<script>alert("x")</script>`]); !strings.Contains(got, `</p><img src=x onerror=alert(1)>`) {
		t.Errorf("the reason does not read as written: %q", got)
	}
	if got := textOf(find(doc, "id")["diagnosis"]); !strings.Contains(got, `Telegram & "friends" <down>`) {
		t.Errorf("the diagnosis does not read as written: %q", got)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Each service shows its status as a word beside its colour, its reason,
// its functions, its endpoints' latency, since when (from the state), and
// its history; the run shows its diagnosis.
func TestHTMLContent(t *testing.T) {
	live, opt, page := liveFixture()
	doc := parseHTML(t, renderHTML(t, opt, page, live))
	svcs := find(doc, "data-service")
	for _, c := range []struct {
		service, status string
		says            []string
	}{
		{"WhatsApp", "up", []string{"✓ up", "up since 06:38 UTC (181 rounds)", "web up 1/1 up", "messaging up 1/1 up · critical", "42ms p95 55ms", "dns 2.1ms · connect 11ms · tls 29ms", "HTTP 200, TLS 1.3, cert 46d", "last 5 rounds", "5 up"}},
		{"Signal", "degraded", []string{"! degraded", "chat: 1/3 attempts timed out at tls; p50 1.24s > 1s", "degraded since 09:33 UTC (6 rounds)", "1/3", "cert not verified"}},
		{"Telegram", "down", []string{"✕ down", "api (critical) is down", "down since 09:38 UTC (1 round)", "3/3 attempts refused at connect", "1 up, 1 degraded, 2 down, 1 not probed"}},
		{"Olvid", "unknown", []string{"? unknown", "not probed before the deadline"}},
	} {
		n, ok := svcs[c.service]
		if !ok {
			t.Errorf("no service %s", c.service)
			continue
		}
		if st, _ := attr(n, "data-status"); st != c.status {
			t.Errorf("%s: data-status %q, want %q", c.service, st, c.status)
		}
		if class, _ := attr(n, "class"); !strings.Contains(class, "s-"+c.status) {
			t.Errorf("%s: class %q lacks s-%s, the colour of its status", c.service, class, c.status)
		}
		text := strings.Join(strings.Fields(textOf(n)), " ")
		for _, s := range c.says {
			if !strings.Contains(text, s) {
				t.Errorf("%s does not say %q:\n%s", c.service, s, text)
			}
		}
	}
	if text := textOf(svcs["Olvid"]); strings.Contains(text, " since ") {
		t.Errorf("Olvid, unknown this round, claims a since from the status the state remembers: %s", text)
	}
	// The history: oldest first; Telegram's cell of the round it was not
	// probed in says so, and the newest is the current round.
	var cells []string
	walk(svcs["Telegram"], func(n *html.Node) {
		if v, ok := attr(n, "title"); ok {
			cells = append(cells, v)
		}
	})
	want := []string{"09:34 UTC: up", "09:35 UTC: degraded", "09:36 UTC: not probed", "09:37 UTC: down", "09:38 UTC: down"}
	if strings.Join(cells, "|") != strings.Join(want, "|") {
		t.Errorf("Telegram's history %q, want %q", cells, want)
	}

	top := strings.Join(strings.Fields(textOf(doc)), " ")
	for _, s := range []string{
		"msgprobe · paris", "diagnosis service_outage — Telegram down; your network works (1 of 2 controls answer)",
		"note 1 of 2 controls failed: quad9", "Telegram: up → down (up since 2026-11-24 07:38, 1500 runs)",
		"Signal/chat: up → degraded", "4 services: 1 up, 1 degraded, 1 down, 1 unknown",
	} {
		if !strings.Contains(top, s) {
			t.Errorf("the page does not say %q", s)
		}
	}
	// Telegram's endpoint change is part of its own change: one line.
	if strings.Contains(top, "Telegram/api") {
		t.Errorf("the page repeats Telegram's endpoint change:\n%s", top)
	}
	var refresh string
	walk(doc, func(n *html.Node) {
		if v, _ := attr(n, "http-equiv"); n.Data == "meta" && v == "refresh" {
			refresh, _ = attr(n, "content")
		}
	})
	if refresh != "60" {
		t.Errorf("meta refresh %q, want 60 (the page's Refresh)", refresh)
	}
}

// Without a state, since when is only known for what changed this round;
// a one-shot check without --state shows no since line at all.
func TestHTMLSinceFromTransitions(t *testing.T) {
	r := fixture()
	if out := render(t, "html", Options{}, r); strings.Contains(out, " since ") {
		t.Errorf("a report without state or transitions claims a since:\n%s", out)
	}
	r.Transitions = []probe.Transition{{Service: "Telegram", From: probe.Up, To: probe.Down, Since: fixedNow.Add(-time.Hour), Runs: 60}}
	text := textOf(find(parseHTML(t, render(t, "html", Options{}, r)), "data-service")["Telegram"])
	if !strings.Contains(text, "down since this round (up before, since 08:38 UTC)") {
		t.Errorf("Telegram's since does not come from its transition:\n%s", text)
	}
}

// The page carries every colour for light and for dark mode, and lays the
// endpoint table out as lines on a narrow screen.
func TestHTMLDarkAndNarrow(t *testing.T) {
	out := render(t, "html", Options{}, fixture())
	for _, s := range []string{"@media (prefers-color-scheme:dark)", `<meta name="color-scheme" content="light dark">`, "@media (max-width:40rem)", `name="viewport"`} {
		if !strings.Contains(out, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
	dark := out[strings.Index(out, "prefers-color-scheme:dark"):]
	for _, st := range []string{"up", "degraded", "down", "unknown"} {
		for _, v := range []string{"--" + st + ":", "--" + st + "-bg:"} {
			if !strings.Contains(out[:strings.Index(out, "prefers-color-scheme:dark")], v) || !strings.Contains(dark, v) {
				t.Errorf("%s is not set for both light and dark mode", v)
			}
		}
	}
}

func TestHistoryKeepsTheLastRounds(t *testing.T) {
	h := NewHistory(3)
	if h.Rounds() != nil {
		t.Fatal("a new history has rounds")
	}
	for i := range 5 {
		r := fixture()
		r.StartedAt = fixedNow.Add(time.Duration(i) * time.Minute)
		h.Add(r)
	}
	got := h.Rounds()
	if len(got) != 3 || !got[0].At.Equal(fixedNow.Add(2*time.Minute)) || !got[2].At.Equal(fixedNow.Add(4*time.Minute)) {
		t.Fatalf("rounds %+v, want the last three, oldest first", got)
	}
	if got[2].Services["Telegram"] != probe.Down {
		t.Errorf("Telegram remembered as %s", got[2].Services["Telegram"])
	}
	var nilHistory *History
	if nilHistory.Rounds() != nil {
		t.Error("a nil history has rounds")
	}
}
