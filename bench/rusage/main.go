// Command rusage runs a command and reports what it cost: wall time, user
// and system CPU time, and peak resident set size, like GNU time's
// -f '%e %U %S %M' but with no package to install.
//
//	rusage [-o FILE] [-timeout DUR] -- command [args...]
//
// The command keeps the standard streams; the figures go to FILE (or
// standard error) as one line "wall_s user_s sys_s maxrss_kib". The exit
// status is the command's, or 124 when -timeout killed it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("rusage: ")
	out := flag.String("o", "", "append the figures to `FILE` instead of standard error")
	timeout := flag.Duration("timeout", 0, "kill the command after this long (0: never)")
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			log.Fatal(err) // never started: there is nothing to report
		}
		code = exit.ExitCode()
		if ctx.Err() != nil {
			code = 124 // timeout(1)'s convention
		}
	}
	st := cmd.ProcessState
	line := fmt.Sprintf("%.3f %.3f %.3f %d\n", wall.Seconds(), st.UserTime().Seconds(), st.SystemTime().Seconds(), maxRSSKiB(st))
	w := os.Stderr
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = f
	}
	if _, err := w.WriteString(line); err != nil {
		log.Fatal(err)
	}
	if code != 0 {
		os.Exit(code) // the figures are written: os.File does not buffer
	}
}
