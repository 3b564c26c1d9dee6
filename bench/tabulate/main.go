// Command tabulate turns the benchmark's raw measurements into the table
// run.sh prints: per N, samples and tool, the median wall time, CPU time and
// peak RSS over the rounds, then msgprobe/floor ratios.
//
// Input lines, whitespace-separated:
//
//	N samples tool round valid wall_s user_s sys_s maxrss_kib
//
// valid is 1 or 0. A group with any invalid run shows INVALID instead of
// figures: a run that failed must never read as a fast one.
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

type run struct {
	valid         bool
	wall, cpu, kb float64
}

type key struct {
	n, samples int
	tool       string
}

type figures struct {
	ok            bool
	runs, valid   int
	wall, cpu, mb float64
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("tabulate: ")
	in := io.Reader(os.Stdin)
	if len(os.Args) == 2 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		in = f
	} else if len(os.Args) > 2 {
		log.Fatal("usage: tabulate [FILE]")
	}
	groups, order, err := read(in)
	if err != nil {
		log.Fatal(err)
	}
	write(os.Stdout, groups, order)
}

func read(r io.Reader) (map[key][]run, []key, error) {
	groups := map[key][]run{}
	var order []key
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 9 {
			return nil, nil, fmt.Errorf("line %d: %d fields, want 9", line, len(f))
		}
		var nums [8]float64
		for i, s := range append(f[:2:2], f[3:]...) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
			nums[i] = v
		}
		k := key{n: int(nums[0]), samples: int(nums[1]), tool: f[2]}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], run{
			valid: nums[3] == 1,
			wall:  nums[4],
			cpu:   nums[5] + nums[6],
			kb:    nums[7],
		})
	}
	return groups, order, sc.Err()
}

func summarise(runs []run) figures {
	f := figures{runs: len(runs)}
	var wall, cpu, kb []float64
	for _, r := range runs {
		if r.valid {
			f.valid++
			wall = append(wall, r.wall)
			cpu = append(cpu, r.cpu)
			kb = append(kb, r.kb)
		}
	}
	f.ok = f.runs > 0 && f.valid == f.runs
	if f.ok {
		f.wall, f.cpu, f.mb = median(wall), median(cpu), median(kb)/1024
	}
	return f
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func write(out io.Writer, groups map[key][]run, order []key) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "N\tsamples\ttool\tvalid runs\twall s\tcpu s\tpeak RSS MiB\t")
	type setup struct{ n, samples int }
	var setups []setup
	for _, k := range order {
		s := setup{k.n, k.samples}
		if !slices.Contains(setups, s) {
			setups = append(setups, s)
		}
	}
	for _, s := range setups {
		tools := map[string]figures{}
		for _, tool := range []string{"floor", "msgprobe"} {
			runs, ok := groups[key{s.n, s.samples, tool}]
			if !ok {
				continue
			}
			f := summarise(runs)
			tools[tool] = f
			if f.ok {
				fmt.Fprintf(w, "%d\t%d\t%s\t%d/%d\t%.3f\t%.3f\t%.1f\t\n", s.n, s.samples, tool, f.valid, f.runs, f.wall, f.cpu, f.mb)
			} else {
				fmt.Fprintf(w, "%d\t%d\t%s\t%d/%d\tINVALID\tINVALID\tINVALID\t\n", s.n, s.samples, tool, f.valid, f.runs)
			}
		}
		fl, m := tools["floor"], tools["msgprobe"]
		if fl.ok && m.ok {
			fmt.Fprintf(w, "%d\t%d\tmsgprobe/floor\t\t%s\t%s\t%s\t\n", s.n, s.samples, ratio(m.wall, fl.wall), ratio(m.cpu, fl.cpu), ratio(m.mb, fl.mb))
		} else {
			fmt.Fprintf(w, "%d\t%d\tmsgprobe/floor\t\t-\t-\t-\t\n", s.n, s.samples)
		}
	}
	w.Flush()
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
