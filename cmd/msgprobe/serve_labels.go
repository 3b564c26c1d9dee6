package main

import (
	"io"
	"strings"
)

// labelWriter adds one constant label to every series of the Prometheus
// text written through it, as the report renderer streams it: a series
// line `name{a="b"} 1` becomes `name{vantage="x",a="b"} 1`, and `name 1`
// becomes `name{vantage="x"} 1`; comment lines pass unchanged. It keeps
// only its place in the line between writes, so the text is never held
// whole. Label values of the exposition format escape newlines, so a
// newline always ends a line.
type labelWriter struct {
	w     io.Writer
	open  []byte // `{name="value",`
	close []byte // `{name="value"}`
	state int
	err   error
}

const (
	lineStart = iota // at the start of a line
	inName           // in a series' metric name
	inRest           // past the name or in a comment, until the newline
)

func newLabelWriter(w io.Writer, name, value string) *labelWriter {
	v := escapeLabelValue(value)
	return &labelWriter{
		w:     w,
		open:  []byte("{" + name + `="` + v + `",`),
		close: []byte("{" + name + `="` + v + `"}`),
	}
}

func escapeLabelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

func (l *labelWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n := len(p)
	for len(p) > 0 {
		switch l.state {
		case lineStart:
			if p[0] == '#' || p[0] == '\n' {
				l.state = inRest
			} else {
				l.state = inName
			}
		case inName:
			i := 0
			for i < len(p) && p[i] != '{' && p[i] != ' ' && p[i] != '\n' {
				i++
			}
			l.write(p[:i])
			p = p[i:]
			if len(p) == 0 {
				break
			}
			switch p[0] {
			case '{':
				l.write(l.open)
				p = p[1:]
			case ' ':
				l.write(l.close)
			}
			l.state = inRest
		case inRest:
			i := 0
			for i < len(p) && p[i] != '\n' {
				i++
			}
			if i < len(p) {
				i++ // the newline
				l.state = lineStart
			}
			l.write(p[:i])
			p = p[i:]
		}
		if l.err != nil {
			return 0, l.err
		}
	}
	return n, nil
}

func (l *labelWriter) write(b []byte) {
	if l.err == nil && len(b) > 0 {
		_, l.err = l.w.Write(b)
	}
}
