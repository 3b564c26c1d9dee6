package report

import (
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/msgprobe/msgprobe/probe"
)

// Table renders the report for a terminal: a row per service, a row per
// endpoint under it, the controls in their own section, then the note and a
// one-line footer.
type Table struct {
	status [probe.Unknown + 1]*color.Color
	bold   *color.Color
	opt    Options
}

// NewTable returns the table renderer. Its colors are its own values,
// switched on or off from opt.Color, so the global color.NoColor (computed
// from os.Stdout) never decides for a report written elsewhere.
func NewTable(opt Options) *Table {
	t := &Table{
		status: [...]*color.Color{
			probe.Up:       color.New(color.FgGreen),
			probe.Degraded: color.New(color.FgYellow),
			probe.Down:     color.New(color.FgRed, color.Bold),
			probe.Unknown:  color.New(color.FgMagenta),
		},
		bold: color.New(color.Bold),
		opt:  opt,
	}
	for _, c := range append(t.status[:], t.bold) {
		if opt.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return t
}

const (
	colService = iota
	colEndpoint
	colStatus
	colLatency
	colLoss
	colDetail
	numCols
)

var tableHeader = [numCols]string{"SERVICE", "ENDPOINT", "STATUS", "LATENCY", "LOSS", "DETAIL"}

// tableRow holds plain text only; color is applied after padding so that
// escape codes never count towards a column's width.
type tableRow struct {
	cells     [numCols]string
	status    probe.Status
	hasStatus bool
	boldFirst bool // a service or section row
	blank     bool // spacing between sections
}

// Render writes the table.
func (t *Table) Render(w io.Writer, r *probe.Report) error {
	at := reportTime(r, t.opt)
	rows := []tableRow{{cells: tableHeader, boldFirst: true}}
	for i := range r.Services {
		s := &r.Services[i]
		rows = append(rows, tableRow{
			cells:     [numCols]string{colService: oneLine(serviceOf(s).Name), colStatus: statusSince(s.Status, s.Span, at), colDetail: oneLine(s.Reason)},
			status:    s.Status,
			hasStatus: true,
			boldFirst: true,
		})
		if p := s.Provider; p != nil && !p.Operational && p.Err == "" {
			// What the provider admits, under its service: corroboration,
			// not a verdict, so it has no status of its own.
			rows = append(rows, tableRow{cells: [numCols]string{colEndpoint: "provider says", colDetail: oneLine(p.Says(at))}})
		}
		for j := range s.Endpoints {
			rows = appendEndpointRows(rows, &s.Endpoints[j], at)
		}
	}
	if len(r.Controls) > 0 {
		rows = append(rows, tableRow{blank: true}, tableRow{cells: [numCols]string{colService: "controls"}, boldFirst: true})
		for j := range r.Controls {
			rows = appendEndpointRows(rows, &r.Controls[j], at)
		}
	}

	var width [numCols]int
	for _, row := range rows {
		for c, cell := range row.cells {
			width[c] = max(width[c], utf8.RuneCountInString(cell))
		}
	}

	var b strings.Builder
	for i, row := range rows {
		if row.blank {
			b.WriteByte('\n')
			continue
		}
		t.writeRow(&b, row, width, i == 0)
	}
	b.WriteByte('\n')
	for _, line := range changeLines(r, t.opt) {
		t.writeWrapped(&b, line)
	}
	// When the note is the diagnosis (the network is to blame), the last
	// line says it once.
	if r.Note != "" && r.Note != r.Diagnosis.Message {
		for _, l := range t.wrapped("note: " + oneLine(r.Note)) {
			b.WriteString(t.bold.Sprint(l))
			b.WriteByte('\n')
		}
	}
	t.writeWrapped(&b, summaryLine(r))
	if d := r.Diagnosis; d.Code != "" {
		// The answer to "is it me?" goes last, where the eye lands when
		// the table has scrolled by; its code takes the run's color.
		lines := t.wrapped("diagnosis: " + d.Code + " — " + oneLine(d.Message))
		lines[0] = strings.Replace(lines[0], d.Code, t.color(r.Status).Sprint(d.Code), 1)
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// appendEndpointRows adds an endpoint's row and, when it was probed over
// both families and they disagree, a row per family under it.
func appendEndpointRows(rows []tableRow, e *probe.EndpointResult, at time.Time) []tableRow {
	row := endpointRow(e)
	row.cells[colStatus] = statusSince(e.Status, e.Span, at)
	rows = append(rows, row)
	if !familiesDiffer(e) {
		return rows
	}
	for i := range e.Families {
		f := &e.Families[i]
		row := endpointRow(&f.EndpointResult)
		row.cells[colEndpoint] = "  " + f.Family.Label()
		if f.NoRoute {
			row.cells[colDetail] = "no route from this machine: " + row.cells[colDetail]
		}
		rows = append(rows, row)
	}
	return rows
}

// familiesDiffer reports whether an endpoint's families got different
// verdicts, which are then worth a row each.
func familiesDiffer(e *probe.EndpointResult) bool {
	if len(e.Families) < 2 {
		return false
	}
	a, b := &e.Families[0], &e.Families[1]
	return a.Status != b.Status || a.Reason != b.Reason || a.NoRoute != b.NoRoute
}

func endpointRow(e *probe.EndpointResult) tableRow {
	return tableRow{
		cells: [numCols]string{
			colEndpoint: oneLine(endpointOf(e).Name),
			colStatus:   e.Status.String(),
			colLatency:  p50(e),
			colLoss:     loss(e),
			colDetail:   detail(e),
		},
		status:    e.Status,
		hasStatus: true,
	}
}

func (t *Table) writeRow(b *strings.Builder, row tableRow, width [numCols]int, header bool) {
	// The last non-empty cell is not padded, so no line ends in spaces.
	last := numCols - 1
	for last > 0 && row.cells[last] == "" {
		last--
	}
	// A DETAIL wider than what the terminal leaves it is wrapped at word
	// boundaries, each further line starting under the column.
	var more []string
	if last == colDetail && t.opt.Width > 0 {
		start := 0
		for c := 0; c < colDetail; c++ {
			start += width[c] + 2
		}
		lines := wrapWords(row.cells[colDetail], max(t.opt.Width-start, minDetail))
		row.cells[colDetail], more = lines[0], lines[1:]
		defer func() {
			for _, l := range more {
				b.WriteString(strings.Repeat(" ", start))
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}()
	}
	for c := 0; c <= last; c++ {
		cell := row.cells[c]
		pad := ""
		if c < last {
			pad = strings.Repeat(" ", width[c]-utf8.RuneCountInString(cell)+2)
		}
		switch {
		case cell == "":
		case header:
			cell = t.bold.Sprint(cell)
		case c == colStatus && row.hasStatus:
			cell = t.color(row.status).Sprint(cell)
		case c == colService && row.boldFirst:
			cell = t.bold.Sprint(cell)
		}
		b.WriteString(cell)
		b.WriteString(pad)
	}
	b.WriteByte('\n')
}

// wrapped is a line of the footer fit to the terminal's width, broken at
// word boundaries, each further line indented by two spaces.
func (t *Table) wrapped(line string) []string {
	if t.opt.Width <= 0 || utf8.RuneCountInString(line) <= t.opt.Width {
		return []string{line}
	}
	lines := wrapWords(line, max(t.opt.Width-2, minDetail))
	for i := 1; i < len(lines); i++ {
		lines[i] = "  " + lines[i]
	}
	return lines
}

func (t *Table) writeWrapped(b *strings.Builder, line string) {
	for _, l := range t.wrapped(line) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

// minDetail is the least width DETAIL is wrapped to, however narrow the
// terminal: narrower, a reason would read a word a line.
const minDetail = 24

// wrapWords splits s into lines of at most width runes, breaking at
// spaces; a word longer than a line is cut where the line ends.
func wrapWords(s string, width int) []string {
	if utf8.RuneCountInString(s) <= width {
		return []string{s}
	}
	var lines []string
	var line []rune
	for _, word := range strings.Fields(s) {
		w := []rune(word)
		for len(w) > width {
			if len(line) > 0 {
				lines = append(lines, string(line))
				line = nil
			}
			lines = append(lines, string(w[:width]))
			w = w[width:]
		}
		switch {
		case len(line) == 0:
			line = w
		case len(line)+1+len(w) <= width:
			line = append(append(line, ' '), w...)
		default:
			lines = append(lines, string(line))
			line = w
		}
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

func (t *Table) color(s probe.Status) *color.Color {
	if s < 0 || s > probe.Unknown {
		return t.status[probe.Unknown]
	}
	return t.status[s]
}
