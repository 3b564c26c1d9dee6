package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// checkOptions are the flags of `msgprobe check`.
type checkOptions struct {
	Configs     []string // -c, repeatable; none: the built-in catalog
	Formats     []string
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
	Resolver    string // HOST:PORT of the DNS server every lookup goes to
	State       string
	Watch       time.Duration

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
  msgprobe check -f table -f junit=report.xml -f markdown=summary.md
  msgprobe check --watch 30s
  msgprobe check -q -f prometheus -o /var/lib/node_exporter/msgprobe.prom --state state.json --deadline 50s`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), opts, io)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Configs, "config", "c", nil, configFlagUsage)
	f.StringArrayVarP(&opts.Formats, "format", "f", nil, "report `FORMAT[=FILE]` (repeatable): "+strings.Join(report.Formats, ", ")+"; =FILE writes that format to its own file, the one without goes to stdout or -o (default table)")
	f.StringVarP(&opts.Output, "output", "o", "", "write the report to `FILE` atomically instead of stdout")
	f.StringArrayVarP(&opts.Services, "service", "s", nil, "only this service (repeatable, case-insensitive)")
	f.StringArrayVarP(&opts.Tags, "tag", "t", nil, "only services with this tag (repeatable)")
	f.DurationVar(&opts.Timeout, "timeout", 0, "per-attempt timeout, overrides the config")
	f.IntVar(&opts.Samples, "samples", 0, "attempts per endpoint, overrides the config")
	f.IntVar(&opts.Concurrency, "concurrency", 64, "endpoints probed at once")
	f.DurationVar(&opts.Deadline, "deadline", 0, "bound on the whole run; what has not finished is reported down (canceled)")
	f.StringVar(&opts.FailOn, "fail-on", "degraded", "lowest overall status that gives a non-zero exit: degraded, down or never")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing on stdout unless a status is not up (or changed, with --state)")
	f.StringVar(&opts.State, "state", "", "remember statuses between runs in `FILE` and report what changed")
	f.DurationVar(&opts.Watch, "watch", 0, "probe again every `DUR` until Ctrl-C")
	f.BoolVar(&opts.NoColor, "no-color", false, "no ANSI colors (also when NO_COLOR is set or stdout is not a terminal)")
	f.BoolVarP(&opts.IPv4, "ipv4", "4", false, "probe over IPv4 only")
	f.BoolVarP(&opts.IPv6, "ipv6", "6", false, "probe over IPv6 only")
	f.StringVar(&opts.Resolver, "resolver", "", "send every name lookup to the DNS server at `HOST:PORT` (overrides resolver: in the config)")
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
	if o.Watch < 0 {
		return usageErrorf("invalid --watch %s: must be a positive duration", o.Watch)
	}
	if o.Resolver != "" {
		if err := probe.CheckResolverAddr(o.Resolver); err != nil {
			return usageErrorf("invalid --resolver: %v", err).hint("give the DNS server as HOST:PORT, e.g. 127.0.0.1:53 or [::1]:53")
		}
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
	specs, err := parseFormats(opts.Formats, opts.Output)
	if err != nil {
		return err
	}
	failOn, failOnSet, _ := failOnLevel(opts.FailOn)
	cfg, err := loadConfig(opts.Configs, io)
	if err != nil {
		return err
	}
	if err := selectServices(cfg, opts.Services, opts.Tags); err != nil {
		return err
	}
	applyOverrides(cfg, opts.Timeout, opts.Samples)

	rendOpt := report.Options{Now: opts.Now, FailOn: report.FailNever}
	if failOnSet {
		rendOpt.FailOn = failOn
	}
	files, stdout, err := newOutputs(specs, opts.NoColor, io, rendOpt)
	if err != nil {
		return err
	}
	loop := round.New(cfg)
	loop.Concurrency = opts.Concurrency
	loop.Network = network(opts.IPv4, opts.IPv6)
	loop.Resolver = opts.Resolver
	loop.Deadline = opts.Deadline
	loop.Now = opts.Now
	loop.Files = files
	if io.ErrTTY && !opts.Quiet {
		loop.Progress = round.NewProgress(io.Err)
	}
	if opts.State != "" {
		loop.Store = round.NewStore(io.path(opts.State), opts.State)
	}
	c := &checkRun{opts: opts, io: io, loop: loop, stdout: stdout, failOn: failOn, failOnSet: failOnSet}
	if err := loop.Open(); err != nil {
		return err
	}
	defer loop.Abort() // a no-op once committed
	if opts.State != "" {
		var w *round.StateWarning
		if err := loop.LoadState(); errors.As(err, &w) && !(w.Missing && opts.Quiet) {
			fmt.Fprintf(io.Err, "msgprobe: warning: %v\n", w)
		}
	}

	if most := probe.MaxConcurrency(); most > 0 && opts.Concurrency > most && round.EndpointTotal(cfg) > most {
		fmt.Fprintf(io.Err, "msgprobe: warning: probing %d endpoints at once, not %d: the open-files limit (ulimit -n) allows no more\n", most, opts.Concurrency)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Watch > 0 {
		return c.watch(ctx)
	}
	// Ctrl-C ends the probing, not the writing of what was measured.
	pctx, stop := interruptContext(ctx, io)
	r := loop.Probe(pctx)
	stop()
	if err := loop.Record(r); err != nil {
		return err
	}
	if err := c.print(r.Report); err != nil {
		return err
	}
	return verdictExit(r.Report.Status, failOn, failOnSet)
}

// checkRun is a check under way: its options, its loop, and where its
// report goes besides the loop's files.
type checkRun struct {
	opts      *checkOptions
	io        *IO
	loop      *round.Loop
	stdout    *stdoutReport // nil when every report goes to a file
	failOn    probe.Status
	failOnSet bool
}

// news is what a quiet run speaks up for: a status that is not up, or a
// change since the last run.
func news(rep *probe.Report) bool {
	return rep.Status != probe.Up || len(rep.Transitions) > 0
}

// print writes a single run's report on stdout, or, when every report went
// to a file, what a quiet run's reader must know.
func (c *checkRun) print(rep *probe.Report) error {
	if o := c.stdout; o != nil {
		if c.opts.Quiet && !news(rep) {
			return nil
		}
		return o.renderer.Render(c.io.Out, rep)
	}
	if c.opts.Quiet && news(rep) {
		printDigest(c.io.Out, rep)
	}
	return nil
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

// printDigest tells a quiet run's reader what is wrong or what changed
// when the report went to a file, so that cron mails something worth
// reading: the note, then per service either its transition or, when it
// did not change and is not up, its status and reason, then the changes of
// its endpoints.
func printDigest(w io.Writer, rep *probe.Report) {
	if rep.Note != "" {
		fmt.Fprintln(w, rep.Note)
	}
	changes := report.Changes(rep)
	for _, s := range rep.Services {
		name := s.Service.Name
		changed := slices.ContainsFunc(changes, func(t probe.Transition) bool { return t.Service == name && t.Endpoint == "" })
		if !changed && s.Status != probe.Up {
			fmt.Fprintf(w, "%s %s: %s\n", name, s.Status, s.Reason)
		}
		for _, t := range changes {
			if t.Service == name {
				fmt.Fprintln(w, report.TransitionLine(t, rep.StartedAt))
			}
		}
	}
}

// interruptContext ends a single run's probing on Ctrl-C (the report of
// what was measured is still printed; a second Ctrl-C kills the process).
// The loop adds --deadline.
func interruptContext(parent context.Context, io *IO) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	if !io.Signals {
		return ctx, func() { cancel(nil) }
	}
	remove := onInterrupt(func() {
		fmt.Fprintln(io.Err, "msgprobe: interrupted, reporting what was measured (press Ctrl-C again to quit at once)")
		cancel(probe.ErrInterrupted)
	})
	return ctx, func() {
		remove()
		cancel(nil)
	}
}

// onInterrupt calls stop on the first Ctrl-C or SIGTERM, then lets the next
// one kill the process as usual, so a user is never stuck. The returned
// function removes the handler.
func onInterrupt(stop func()) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			signal.Stop(sig)
			stop()
		case <-done:
		}
	}()
	return func() { signal.Stop(sig); close(done) }
}

// network is the dialer's network for -4 and -6.
func network(ipv4, ipv6 bool) string {
	switch {
	case ipv4:
		return "tcp4"
	case ipv6:
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
func applyOverrides(cfg *probe.Config, timeout time.Duration, samples int) {
	each := func(ep *probe.Endpoint) {
		if timeout > 0 {
			ep.Timeout = timeout
		}
		if samples > 0 {
			ep.Samples = samples
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
