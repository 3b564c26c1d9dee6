package report

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// On a terminal narrower than the table, DETAIL is wrapped at word
// boundaries under its own column: no line is wider than the terminal
// (unless DETAIL's least width forces it), and no word is cut.
func TestTableFitsTheTerminal(t *testing.T) {
	wide := render(t, "table", Options{}, fixture())
	for _, width := range []int{100, 80, 60} {
		out := render(t, "table", Options{Width: width}, fixture())
		start := strings.Index(strings.SplitN(out, "\n", 2)[0], "DETAIL")
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if n := utf8.RuneCountInString(line); n > width && n > start+minDetail {
				t.Errorf("width %d: line of %d: %q", width, n, line)
			}
			if strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, strings.Repeat(" ", start)) &&
				!strings.HasPrefix(line, "  ") {
				t.Errorf("width %d: a continuation does not start under DETAIL: %q", width, line)
			}
		}
		// The same words, in the same order.
		if strings.Join(strings.Fields(out), " ") != strings.Join(strings.Fields(wide), " ") {
			t.Errorf("width %d: words changed:\n%s", width, out)
		}
	}
	if got := render(t, "table", Options{Width: 1000}, fixture()); got != wide {
		t.Error("a table that fits is changed")
	}
}

func TestWrapWords(t *testing.T) {
	for _, c := range []struct {
		s     string
		width int
		want  string
	}{
		{"3/3 attempts refused at connect", 12, "3/3 attempts|refused at|connect"},
		{"short", 10, "short"},
		{"a verylongwordindeed b", 8, "a|verylong|wordinde|ed b"},
	} {
		if got := strings.Join(wrapWords(c.s, c.width), "|"); got != c.want {
			t.Errorf("wrapWords(%q, %d) = %q, want %q", c.s, c.width, got, c.want)
		}
	}
}
