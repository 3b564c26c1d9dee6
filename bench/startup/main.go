//go:build unix

// Command startup measures what a short run costs: it runs each command it
// is given many times, one after another, and prints the median and 90th
// percentile of wall time, the median CPU time (user + system) and the
// largest peak RSS. Every run must exit 0; a failing command is reported
// and makes startup exit 1, since a failure is not a fast start.
//
//	startup [-n RUNS] 'NAME=COMMAND ARGS...' ...
//
// Arguments are split on spaces; NAME labels the row.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("startup: ")
	runs := flag.Int("n", 50, "runs of each command")
	flag.Parse()
	if flag.NArg() == 0 || *runs < 1 {
		flag.Usage()
		os.Exit(2)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\truns\twall p50 ms\twall p90 ms\tcpu p50 ms\tpeak RSS MiB\t")
	failed := false
	for _, arg := range flag.Args() {
		name, line, ok := strings.Cut(arg, "=")
		if !ok {
			log.Fatalf("%q: want NAME=COMMAND", arg)
		}
		s, err := measure(strings.Fields(line), *runs)
		if err != nil {
			log.Printf("%s: %v", name, err)
			failed = true
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t\n", name, *runs, ms(s.wall, 0.5), ms(s.wall, 0.9), ms(s.cpu, 0.5), float64(s.rssKiB)/1024)
	}
	tw.Flush()
	if failed {
		os.Exit(1)
	}
}

type sample struct {
	wall, cpu []time.Duration
	rssKiB    int64
}

func measure(argv []string, runs int) (*sample, error) {
	s := &sample{}
	for range runs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr // output goes to /dev/null
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		s.wall = append(s.wall, time.Since(start))
		st := cmd.ProcessState
		s.cpu = append(s.cpu, st.UserTime()+st.SystemTime())
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			s.rssKiB = max(s.rssKiB, int64(ru.Maxrss))
		}
	}
	return s, nil
}

// ms is the q-quantile of ds (nearest rank), in milliseconds.
func ms(ds []time.Duration, q float64) float64 {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := min(len(sorted)-1, max(0, int(q*float64(len(sorted))+0.5)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}
