package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	mpfixture "github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/probe"
)

// The JUnit output validates against the schema Jenkins' xunit plugin
// ships (testdata/junit-10.xsd, see its README), as xmllint checks it:
// a report with failures, skips, controls and a diagnosis, under every
// --fail-on. .ci/run installs xmllint (Debian: libxml2-utils).
func TestJUnitValidatesAgainstTheXunitSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		mpfixture.Missing(t, "xmllint", "xmllint is not installed (Debian: apt-get install libxml2-utils; .ci/run installs it)")
	}
	schema, err := filepath.Abs(filepath.Join("testdata", "junit-10.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := fixture()
	unknown.Note = "every control endpoint failed"
	for i := range unknown.Services {
		unknown.Services[i].Status = probe.Unknown
	}
	dir := t.TempDir()
	for name, r := range map[string]*probe.Report{"fixture": fixture(), "hostile": hostile(), "unknown": unknown} {
		for _, failOn := range []probe.Status{probe.Degraded, probe.Down, FailNever} {
			var b bytes.Buffer
			if err := NewJUnit(Options{FailOn: failOn}).Render(&b, r); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name+".xml")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput()
			if err != nil {
				t.Errorf("%s, fail-on %v: xmllint: %v\n%s", name, failOn, err, out)
			}
		}
	}
}
