package report

import (
	"io"
	"strings"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// Markdown renders a GitHub-flavoured table, fit for $GITHUB_STEP_SUMMARY
// or a pull-request comment: a heading with the overall status, the note,
// a table of services and endpoints, the controls, and a summary line.
type Markdown struct {
	opt Options
}

// NewMarkdown returns the Markdown renderer.
func NewMarkdown(opt Options) *Markdown { return &Markdown{opt: opt} }

var statusEmoji = [...]string{
	probe.Up:       "✅",
	probe.Degraded: "⚠️",
	probe.Down:     "❌",
	probe.Unknown:  "❔",
}

// mdStatus is the emoji and the word: the emoji for a glance, the word for
// readers (and screen readers) that do not show emoji.
func mdStatus(s probe.Status) string {
	if s < 0 || int(s) >= len(statusEmoji) {
		return statusEmoji[probe.Unknown] + " " + s.String()
	}
	return statusEmoji[s] + " " + s.String()
}

const (
	mdServicesHead = "| Service | Endpoint | Status | Latency (p50) | Loss | Detail |\n" +
		"|---|---|---|--:|--:|---|\n"
	mdControlsHead = "| Control | Status | Latency (p50) | Loss | Detail |\n" +
		"|---|---|--:|--:|---|\n"
)

// Render writes the Markdown document.
func (m *Markdown) Render(w io.Writer, r *probe.Report) error {
	var b strings.Builder
	b.WriteString("## msgprobe: " + mdStatus(r.Status) + "\n\n")
	if d := r.Diagnosis; d.Code != "" {
		b.WriteString("**Diagnosis:** `" + d.Code + "` — " + mdEscape(d.Message) + "\n\n")
	}
	if r.Note != "" && r.Note != r.Diagnosis.Message {
		b.WriteString("> **Note:** " + mdEscape(r.Note) + "\n\n")
	}
	at := reportTime(r, m.opt)
	b.WriteString(mdServicesHead)
	for i := range r.Services {
		s := &r.Services[i]
		mdRow(&b, "**"+mdEscape(serviceOf(s).Name)+"**", "", mdStatusSince(s.Status, s.Span, at), "", "", mdEscape(s.Reason))
		for j := range s.Endpoints {
			mdEndpointRow(&b, []string{""}, &s.Endpoints[j], at)
		}
	}
	if len(r.Controls) > 0 {
		b.WriteString("\n### Controls\n\n")
		b.WriteString(mdControlsHead)
		for j := range r.Controls {
			mdEndpointRow(&b, nil, &r.Controls[j], at)
		}
	}
	if lines := changeLines(r, m.opt); len(lines) > 0 {
		b.WriteString("\n### Changes since the last run\n\n")
		for _, l := range lines {
			b.WriteString("- " + mdEscape(l) + "\n")
		}
	}
	b.WriteString("\n" + mdEscape(summaryLine(r)) + " · started " +
		startedAt(r, m.opt).Format("2006-01-02 15:04:05 UTC") + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEndpointRow writes the endpoint's cells after the leading ones.
func mdEndpointRow(b *strings.Builder, lead []string, e *probe.EndpointResult, at time.Time) {
	ep := endpointOf(e)
	mdRow(b, append(lead, mdEscape(ep.Name), mdStatusSince(e.Status, e.Span, at), mdEscape(p50(e)), mdEscape(loss(e)), mdEscape(detail(e)))...)
}

// mdStatusSince is mdStatus with since when, as the table shows it.
func mdStatusSince(st probe.Status, sp probe.Span, at time.Time) string {
	s := mdStatus(st)
	if full := statusSince(st, sp, at); full != st.String() {
		s += mdEscape(strings.TrimPrefix(full, st.String()))
	}
	return s
}

func mdRow(b *strings.Builder, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

// mdEscaper keeps a cell one cell and its text literal: the backslash is
// escaped first so that "\|" in the input cannot unescape a pipe, the pipe
// so that it does not split the row, and the characters that would start
// emphasis, strike-through, code, links, entities or HTML so that names and messages show as typed.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`,
	"|", `\|`,
	"*", `\*`,
	"_", `\_`,
	"`", "\\`",
	"[", `\[`,
	"]", `\]`,
	"<", `\<`,
	">", `\>`,
	"~", `\~`,
	"&", `\&`,
	"\r\n", " ",
	"\n", " ",
	"\r", " ",
)

func mdEscape(s string) string { return mdEscaper.Replace(s) }
