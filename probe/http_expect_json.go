package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A JSON path names one value inside a JSON document: keys separated by
// dots ("server.ws_server"), numeric indexes into arrays ("versions.0" or
// "versions[0]"), and keys that hold dots or brackets in brackets as JSON
// strings (`["m.homeserver"].base_url`). A bare number after a dot selects
// an array's element or an object's member of that name, whichever the
// document has there; [N] only an element, ["..."] only a member.

// pathStep is one step of a parsed JSON path.
type pathStep struct {
	key   string // member name; for an index step, its decimal form
	index int    // array index, or -1 when the step cannot select an element
	byKey bool   // the step may select an object's member
}

// maxPathLen bounds a path from a configuration file; anything longer is a
// mistake, and the bound keeps the fuzzer's inputs meaningful.
const maxPathLen = 1024

// parseJSONPath parses a path as written in expect.json. Its errors are one
// line, for the loader to position.
func parseJSONPath(path string) ([]pathStep, error) {
	if path == "" {
		return nil, errors.New("empty JSON path")
	}
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("JSON path longer than %d bytes", maxPathLen)
	}
	var steps []pathStep
	rest := path
	for first := true; rest != ""; first = false {
		switch {
		case rest[0] == '[':
			end := bracketEnd(rest)
			if end < 0 {
				return nil, fmt.Errorf("JSON path %q: unclosed [", path)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			if strings.HasPrefix(inner, `"`) {
				var key string
				if err := json.Unmarshal([]byte(inner), &key); err != nil {
					return nil, fmt.Errorf("JSON path %q: %s is not a JSON string", path, inner)
				}
				steps = append(steps, pathStep{key: key, index: -1, byKey: true})
				continue
			}
			n, ok := arrayIndex(inner)
			if !ok {
				return nil, fmt.Errorf(`JSON path %q: [%s] is neither an index nor a quoted key`, path, inner)
			}
			steps = append(steps, pathStep{key: inner, index: n})
			continue
		case rest[0] == '.':
			if first {
				return nil, fmt.Errorf("JSON path %q starts with a dot", path)
			}
			rest = rest[1:]
		case !first:
			return nil, fmt.Errorf("JSON path %q: expected . or [ after ]", path)
		}
		end := strings.IndexAny(rest, ".[")
		if end < 0 {
			end = len(rest)
		}
		seg := rest[:end]
		rest = rest[end:]
		if seg == "" {
			return nil, fmt.Errorf("JSON path %q has an empty key", path)
		}
		n, ok := arrayIndex(seg)
		if !ok {
			n = -1
		}
		steps = append(steps, pathStep{key: seg, index: n, byKey: true})
	}
	return steps, nil
}

// bracketEnd is the index of the ] that closes the [ at s[0], skipping a
// quoted key's escapes; -1 when there is none.
func bracketEnd(s string) int {
	if len(s) > 1 && s[1] == '"' {
		for i := 2; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				if i+1 < len(s) && s[i+1] == ']' {
					return i + 1
				}
				return -1
			}
		}
		return -1
	}
	return strings.IndexByte(s, ']')
}

// arrayIndex parses a decimal array index without sign or leading zeros.
func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// lookupJSON finds the value at path in doc, which must be valid JSON, and
// returns its raw bytes. It streams through doc, so that what it keeps is
// the one value, not a tree of the whole document a
// hostile server filled to the cap; where an object repeats a member name,
// the first one counts.
func lookupJSON(doc []byte, path []pathStep) (raw []byte, found bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	for _, step := range path {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		delim, _ := tok.(json.Delim)
		switch {
		case delim == '{' && step.byKey:
			if !seekMember(dec, step.key) {
				return nil, false
			}
		case delim == '[' && step.index >= 0:
			if !seekElement(dec, step.index) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	var v json.RawMessage
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// seekMember reads an object's members up to the one named key, leaving the
// decoder before its value; false when the object ends without it.
func seekMember(dec *json.Decoder, key string) bool {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if name, _ := tok.(string); name == key {
			return true
		}
		if skipValue(dec) != nil {
			return false
		}
	}
	return false
}

// seekElement reads an array's elements up to the index-th, leaving the
// decoder before it; false when the array is shorter.
func seekElement(dec *json.Decoder, index int) bool {
	for i := 0; dec.More(); i++ {
		if i == index {
			return true
		}
		if skipValue(dec) != nil {
			return false
		}
	}
	return false
}

// skipValue reads one whole value, of any depth, token by token.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// jsonScalar is a wanted scalar of expect.json, typed as its YAML was: a
// string matches only a JSON string, a number only a number of the same
// value, true/false only a boolean, null only null.
type jsonScalar struct {
	kind jsonKind
	text string // the string, or the number, boolean or null as written
}

type jsonKind int

const (
	jsonString jsonKind = iota
	jsonNumber
	jsonBool
	jsonNull
)

func (s jsonScalar) String() string {
	if s.kind == jsonString {
		return strconv.Quote(s.text)
	}
	return s.text
}

// matches reports whether the raw JSON value v is the scalar s.
func (s jsonScalar) matches(v []byte) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return false
	}
	switch s.kind {
	case jsonString:
		if v[0] != '"' {
			return false
		}
		var got string
		return json.Unmarshal(v, &got) == nil && got == s.text
	case jsonNumber:
		if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return false
		}
		if string(v) == s.text {
			return true
		}
		a, errA := strconv.ParseFloat(string(v), 64)
		b, errB := strconv.ParseFloat(s.text, 64)
		return errA == nil && errB == nil && a == b
	case jsonBool:
		return string(v) == s.text
	case jsonNull:
		return string(v) == "null"
	}
	return false
}

// arrayLacks is the first of want that the raw JSON array arr does not
// hold, and whether there is one; isArray is false when arr is no array.
// It reads the array element by element.
func arrayLacks(arr []byte, want []jsonScalar) (lacking jsonScalar, lacks, isArray bool) {
	have := make([]bool, len(want))
	dec := json.NewDecoder(bytes.NewReader(arr))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return jsonScalar{}, false, false
	}
	left := len(want)
	for dec.More() && left > 0 {
		var elem json.RawMessage
		if dec.Decode(&elem) != nil {
			break
		}
		for i, w := range want {
			if !have[i] && w.matches(elem) {
				have[i] = true
				left--
			}
		}
	}
	for i, ok := range have {
		if !ok {
			return want[i], true, true
		}
	}
	return jsonScalar{}, false, true
}

// maxShown bounds a value quoted in a failure message.
const maxShown = 60

// shortJSON is a raw JSON value compacted and cut to maxShown bytes for a
// message; it never splits a UTF-8 sequence.
func shortJSON(v []byte) string {
	var b bytes.Buffer
	if len(v) > 4*maxShown {
		v = v[:4*maxShown]
	}
	if json.Compact(&b, v) != nil {
		b.Reset()
		b.Write(bytes.Join(bytes.Fields(v), []byte(" ")))
	}
	return truncate(b.String(), maxShown)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut,
// and makes it one line.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
