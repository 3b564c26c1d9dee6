package probe

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// Every protocol in the table is complete: a newcomer who forgets a part
// learns it here, not from a user.
func TestProtocolTableIsComplete(t *testing.T) {
	seen := map[Class]Kind{}
	for _, p := range protocols {
		if p.Kind == "" || strings.ToLower(string(p.Kind)) != string(p.Kind) {
			t.Errorf("protocol %q: the kind must be a lower-case scheme", p.Kind)
		}
		if p.Target == nil {
			t.Errorf("protocol %s has no Target", p.Kind)
		}
		if p.Probe == nil {
			t.Errorf("protocol %s has no Probe", p.Kind)
		}
		if len(p.Phases) == 0 || p.Proves == "" {
			t.Errorf("protocol %s must name its phases and what it proves", p.Kind)
		}
		if p.Once && p.Account == nil {
			t.Errorf("protocol %s runs once per account but names no account", p.Kind)
		}
		for _, c := range p.Classes {
			if slices.Contains(baseClasses, c.Class) {
				t.Errorf("protocol %s redeclares the base class %s", p.Kind, c.Class)
			}
			if other, dup := seen[c.Class]; dup && other != p.Kind {
				// Two protocols may share a class only by declaring it alike.
				if ci, _ := classInfo(c.Class); ci != c {
					t.Errorf("class %s is declared differently by %s and %s", c.Class, other, p.Kind)
				}
			}
			seen[c.Class] = p.Kind
		}
	}
	if _, err := buildSchema(); err != nil {
		t.Errorf("the schema does not assemble: %v", err)
	}
}

// A block named by a protocol that does not take it is an error at the
// block's key, naming the kind; a null block is accepted.
func TestBlockOnTheWrongKind(t *testing.T) {
	_, err := Load("c.yaml", []byte("version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: tcp://h:1\n        http: {method: GET}\n      - target: tcp://h:2\n        tls:\n"), nil)
	want := "c.yaml:6:9: http block does not apply to tcp:// targets\n" +
		"c.yaml:8:9: tls block does not apply to tcp:// targets\nhint: use a tls:// target to check the handshake"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// The README's taxonomy names every scheme and every failure class a
// report may carry: a protocol added without its documentation fails here.
func TestREADMENamesEverySchemeAndClass(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Schemes() {
		if !bytes.Contains(readme, []byte("`"+s+"://")) {
			t.Errorf("README.md never shows a `%s://` target", s)
		}
	}
	for _, c := range Classes() {
		if !bytes.Contains(readme, []byte("`"+string(c)+"`")) {
			t.Errorf("README.md never names the class `%s`", c)
		}
	}
}
