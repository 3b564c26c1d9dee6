package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/msgprobe/msgprobe/probe"
)

// The JSON renderer writes services one at a time; what it writes must be
// exactly what encoding/json gives for the whole document at once.
func TestJSONStreamMatchesWholeDocument(t *testing.T) {
	for name, rep := range map[string]*probe.Report{
		"fixture":     fixture(),
		"large":       benchReport(),
		"no services": {StartedAt: fixedNow},
	} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := NewJSON(Options{Now: fixedClock}).Render(&got, rep); err != nil {
				t.Fatal(err)
			}
			var doc jsonReport
			if err := json.Unmarshal(got.Bytes(), &doc); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			if len(doc.Services) != len(rep.Services) {
				t.Fatalf("%d services written, want %d", len(doc.Services), len(rep.Services))
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(doc); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := got.Bytes(), want.Bytes()
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Errorf("streamed output differs from the whole document at byte %d:\ngot  %q\nwant %q",
					i, g[max(0, i-40):min(len(g), i+40)], w[max(0, i-40):min(len(w), i+40)])
			}
		})
	}
}
