package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestLabelWriterAddsTheLabelToEverySeries(t *testing.T) {
	in := `# HELP a_total A counter.
# TYPE a_total counter
a_total 3
a_total{x="1 {y}",z="a\"b\\c\nd"} 4

# TYPE b summary
b{quantile="0.5"} 1
b_sum 2
b_count 1
`
	want := `# HELP a_total A counter.
# TYPE a_total counter
a_total{vantage="par\"is\n"} 3
a_total{vantage="par\"is\n",x="1 {y}",z="a\"b\\c\nd"} 4

# TYPE b summary
b{vantage="par\"is\n",quantile="0.5"} 1
b_sum{vantage="par\"is\n"} 2
b_count{vantage="par\"is\n"} 1
`
	// Whole, and one byte per write: the writer keeps its place between
	// writes.
	for _, chunk := range []int{len(in), 1, 7} {
		var b bytes.Buffer
		lw := newLabelWriter(&b, "vantage", "par\"is\n")
		for s := in; s != ""; {
			n := min(chunk, len(s))
			if _, err := lw.Write([]byte(s[:n])); err != nil {
				t.Fatal(err)
			}
			s = s[n:]
		}
		if b.String() != want {
			t.Fatalf("chunks of %d:\n%s\nwant\n%s", chunk, b.String(), want)
		}
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == "vantage" && l.GetValue() == "par\"is\n")
			}
			if !found {
				t.Errorf("%s: a series without the label", name)
			}
		}
	}
}
