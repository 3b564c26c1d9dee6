package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// checkOptions are the flags of `msgprobe check`.
type checkOptions struct {
	Config      string
	Format      string
	Output      string
	Services    []string
	Tags        []string
	Timeout     time.Duration
	Samples     int
	Concurrency int
	Deadline    time.Duration
	FailOn      string
	Quiet       bool
	NoColor     bool
	IPv4, IPv6  bool

	// Now is the clock; tests fix it.
	Now func() time.Time
}

func newCheckCmd(io *IO) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check [flags]",
		Short: "Probe the services and report their status",
		Long: `Probe every endpoint of the config (the built-in catalog without -c) and
report each service up, degraded or down, with the reason.`,
		Example: `  msgprobe check
  msgprobe check -s whatsapp -s signal
  msgprobe check -c smoke.yaml -f junit -o report.xml --fail-on down
  msgprobe check -q -f prometheus -o /var/lib/node_exporter/msgprobe.prom --deadline 50s`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), opts, io)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Config, "config", "c", "", "config `FILE`; - reads standard input (default: the built-in catalog)")
	f.StringVarP(&opts.Format, "format", "f", "table", "report format: "+strings.Join(report.Formats, ", "))
	f.StringVarP(&opts.Output, "output", "o", "", "write the report to `FILE` atomically instead of stdout")
	f.StringArrayVarP(&opts.Services, "service", "s", nil, "only this service (repeatable, case-insensitive)")
	f.StringArrayVarP(&opts.Tags, "tag", "t", nil, "only services with this tag (repeatable)")
	f.DurationVar(&opts.Timeout, "timeout", 0, "per-attempt timeout, overrides the config")
	f.IntVar(&opts.Samples, "samples", 0, "attempts per endpoint, overrides the config")
	f.IntVar(&opts.Concurrency, "concurrency", 64, "endpoints probed at once")
	f.DurationVar(&opts.Deadline, "deadline", 0, "bound on the whole run; what has not finished is reported down (canceled)")
	f.StringVar(&opts.FailOn, "fail-on", "degraded", "lowest overall status that gives a non-zero exit: degraded, down or never")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing on stdout unless a status is not up")
	f.BoolVar(&opts.NoColor, "no-color", false, "no ANSI colors (also when NO_COLOR is set or stdout is not a terminal)")
	f.BoolVarP(&opts.IPv4, "ipv4", "4", false, "probe over IPv4 only")
	f.BoolVarP(&opts.IPv6, "ipv6", "6", false, "probe over IPv6 only")
	return cmd
}

// failOnLevel reads --fail-on; ok is false for "never".
func failOnLevel(s string) (level probe.Status, ok bool, err error) {
	switch strings.ToLower(s) {
	case "degraded":
		return probe.Degraded, true, nil
	case "down":
		return probe.Down, true, nil
	case "never":
		return probe.Unknown, false, nil
	}
	return 0, false, usageErrorf("invalid --fail-on %q", s).hint("use degraded, down or never")
}

func (o *checkOptions) validate() error {
	if _, _, err := failOnLevel(o.FailOn); err != nil {
		return err
	}
	if o.IPv4 && o.IPv6 {
		return usageErrorf("-4 and -6 exclude each other").hint("give neither to probe over either family")
	}
	if o.Concurrency < 1 {
		return usageErrorf("invalid --concurrency %d: must be at least 1", o.Concurrency)
	}
	if o.Samples < 0 || o.Samples > 100 {
		return usageErrorf("invalid --samples %d: must be from 1 to 100", o.Samples)
	}
	if o.Timeout < 0 || o.Deadline < 0 {
		return usageErrorf("--timeout and --deadline must be positive durations")
	}
	return nil
}

func runCheck(ctx context.Context, opts *checkOptions, io *IO) error {
	if err := opts.validate(); err != nil {
		return err
	}
	failOn, failOnSet, _ := failOnLevel(opts.FailOn)
	cfg, err := loadConfig(opts.Config, io)
	if err != nil {
		return err
	}
	if err := selectServices(cfg, opts.Services, opts.Tags); err != nil {
		return err
	}
	applyOverrides(cfg, opts)

	color := opts.Format == "table" && opts.Output == "" && io.OutTTY && !opts.NoColor && io.getenv("NO_COLOR") == ""
	rendOpt := report.Options{Color: color, Now: opts.Now}
	if failOnSet {
		rendOpt.FailOn = failOn
	} else {
		rendOpt.FailOn = report.FailNever
	}
	renderer, err := report.New(opts.Format, rendOpt)
	if err != nil {
		return usageErrorf("%v", err)
	}
	var out *atomicFile
	if opts.Output != "" {
		path := opts.Output
		if io.WorkDir != "" && !strings.HasPrefix(path, "/") {
			path = io.WorkDir + "/" + path
		}
		if out, err = createAtomic(path); err != nil {
			return err
		}
		defer out.abort() // a no-op once committed
	}

	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := runContext(ctx, opts, io)
	defer stop()
	runner := &probe.Runner{
		Concurrency: opts.Concurrency,
		Options:     &probe.Options{Network: network(opts), Now: opts.Now},
		Now:         opts.Now,
	}
	rep := runner.Run(ctx, cfg)

	switch {
	case out != nil:
		if err := renderer.Render(out, rep); err != nil {
			return fmt.Errorf("cannot write report to %s: %v", opts.Output, err)
		}
		if err := out.commit(); err != nil {
			return err
		}
		if opts.Quiet && rep.Status != probe.Up {
			printProblems(io, rep)
		}
	case !opts.Quiet || rep.Status != probe.Up:
		if err := renderer.Render(io.Out, rep); err != nil {
			return err
		}
	}
	return verdictExit(rep.Status, failOn, failOnSet)
}

// verdictExit maps the overall status to the exit code, honouring --fail-on.
// unknown (the local network looks down) is exit 3 whatever --fail-on says:
// it is not a verdict on the services.
func verdictExit(st probe.Status, failOn probe.Status, failOnSet bool) error {
	code := exitOK
	switch {
	case st == probe.Unknown:
		code = exitUnknown
	case !failOnSet || st < failOn:
		code = exitOK
	case st == probe.Degraded:
		code = exitDegraded
	case st == probe.Down:
		code = exitDown
	}
	if code == exitOK {
		return nil
	}
	return &statusExit{code}
}

// printProblems tells a quiet run's reader what is wrong when the report went
// to a file, so that cron mails something worth reading.
func printProblems(io *IO, rep *probe.Report) {
	if rep.Note != "" {
		fmt.Fprintln(io.Out, rep.Note)
	}
	for _, s := range rep.Services {
		if s.Status != probe.Up {
			fmt.Fprintf(io.Out, "%s %s: %s\n", s.Service.Name, s.Status, s.Reason)
		}
	}
}

// runContext bounds the run by --deadline and ends it on Ctrl-C (the report of
// what was measured is still printed; a second Ctrl-C kills the process).
func runContext(parent context.Context, opts *checkOptions, io *IO) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stops := []func(){func() { cancel(nil) }}
	if opts.Deadline > 0 {
		var c context.CancelFunc
		ctx, c = context.WithDeadlineCause(ctx, time.Now().Add(opts.Deadline), probe.ErrDeadline)
		stops = append(stops, c)
	}
	if io.Signals {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			select {
			case <-sig:
				signal.Stop(sig)
				fmt.Fprintln(io.Err, "msgprobe: interrupted, reporting what was measured (press Ctrl-C again to quit at once)")
				cancel(probe.ErrInterrupted)
			case <-done:
			}
		}()
		stops = append(stops, func() { signal.Stop(sig); close(done) })
	}
	return ctx, func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
}

func network(opts *checkOptions) string {
	switch {
	case opts.IPv4:
		return "tcp4"
	case opts.IPv6:
		return "tcp6"
	}
	return "tcp"
}

// selectServices keeps the services named by -s and tagged by -t. A name or
// tag that matches nothing is an error: a typo in a CI job must not turn into
// a green run that probed nothing.
func selectServices(cfg *probe.Config, names, tags []string) error {
	if len(names) == 0 && len(tags) == 0 {
		return nil
	}
	var known, knownTags []string
	for _, s := range cfg.Services {
		known = append(known, s.Name)
		for _, t := range s.Tags {
			if !slices.Contains(knownTags, t) {
				knownTags = append(knownTags, t)
			}
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, n) }) {
			return usageErrorf("no service named %q in the config", n).hint("services: %s", strings.Join(known, ", "))
		}
	}
	for _, t := range tags {
		if !slices.ContainsFunc(knownTags, func(k string) bool { return strings.EqualFold(k, t) }) {
			return usageErrorf("no service has the tag %q", t).hint("tags: %s", strings.Join(knownTags, ", "))
		}
	}
	kept := cfg.Services[:0]
	for _, s := range cfg.Services {
		byName := len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, s.Name) })
		byTag := len(tags) == 0 || slices.ContainsFunc(tags, func(t string) bool {
			return slices.ContainsFunc(s.Tags, func(st string) bool { return strings.EqualFold(st, t) })
		})
		if byName && byTag {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return usageErrorf("no service matches both -s and -t")
	}
	cfg.Services = kept
	return nil
}

// applyOverrides lets --timeout and --samples win over every level of the
// config, controls included.
func applyOverrides(cfg *probe.Config, opts *checkOptions) {
	each := func(ep *probe.Endpoint) {
		if opts.Timeout > 0 {
			ep.Timeout = opts.Timeout
		}
		if opts.Samples > 0 {
			ep.Samples = opts.Samples
		}
	}
	for _, ep := range cfg.Controls {
		each(ep)
	}
	for _, s := range cfg.Services {
		for _, ep := range s.Endpoints {
			each(ep)
		}
	}
}
