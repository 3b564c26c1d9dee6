package main

import (
	"strings"
	"testing"
)

func TestTableMarksInvalidGroups(t *testing.T) {
	in := `100 1 floor 1 1 1.0 0.5 0.1 10240
100 1 msgprobe 1 1 0.1 0.1 0.0 10240
100 1 floor 2 1 3.0 0.5 0.1 10240
100 1 msgprobe 2 0 0.1 0.1 0.0 10240
100 3 floor 1 1 2.0 1.0 0.0 10240
100 3 floor 2 1 4.0 1.0 0.0 10240
100 3 floor 3 1 9.0 1.0 0.0 10240
100 3 msgprobe 1 1 6.0 2.0 0.0 20480
`
	groups, order, err := read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	write(&b, groups, order)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{
		{"N", "samples", "tool", "valid", "runs", "wall", "s", "cpu", "s", "peak", "RSS", "MiB"},
		{"100", "1", "floor", "2/2", "2.000", "0.600", "10.0"},
		// one invalid run invalidates the group, however fast it was
		{"100", "1", "msgprobe", "1/2", "INVALID", "INVALID", "INVALID"},
		{"100", "1", "msgprobe/floor", "-", "-", "-"},
		{"100", "3", "floor", "3/3", "4.000", "1.000", "10.0"},
		{"100", "3", "msgprobe", "1/1", "6.000", "2.000", "20.0"},
		{"100", "3", "msgprobe/floor", "1.50x", "2.00x", "2.00x"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: got %q, want %q", i, got, w)
		}
	}
}

func TestReadRejectsShortLines(t *testing.T) {
	if _, _, err := read(strings.NewReader("100 1 floor 1 1 0.1\n")); err == nil {
		t.Fatal("a line with 6 fields was accepted")
	}
}
