package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	applyOverrides(cfg, opts)

	rendOpt := report.Options{Now: opts.Now, FailOn: report.FailNever}
	if failOnSet {
		rendOpt.FailOn = failOn
	}
	outs, err := newOutputs(specs, opts, io, rendOpt)
	if err != nil {
		return err
	}
	c := &checkRun{opts: opts, io: io, cfg: cfg, outs: outs, failOn: failOn, failOnSet: failOnSet}
	if err := outs.open(); err != nil {
		return err
	}
	defer outs.abort() // a no-op once committed
	if opts.State != "" {
		c.store = newStateStore(opts.State, io)
		if err := c.store.open(); err != nil {
			return err
		}
		defer c.store.abort()
		c.state = c.store.load(io, opts.Quiet)
		c.tracking = true
	}

	if most := probe.MaxConcurrency(); most > 0 && opts.Concurrency > most && endpointTotal(cfg) > most {
		fmt.Fprintf(io.Err, "msgprobe: warning: probing %d endpoints at once, not %d: the open-files limit (ulimit -n) allows no more\n", most, opts.Concurrency)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Watch > 0 {
		return c.watch(ctx)
	}
	rep, interrupted := c.probe(ctx, io.Signals)
	if err := c.record(rep, interrupted); err != nil {
		return err
	}
	if err := c.print(rep); err != nil {
		return err
	}
	return verdictExit(rep.Status, failOn, failOnSet)
}

// checkRun is a check under way: what was set up before probing, and the
// state carried from one round to the next.
type checkRun struct {
	opts      *checkOptions
	io        *IO
	cfg       *probe.Config
	outs      outputs
	failOn    probe.Status
	failOnSet bool
	store     *stateStore // nil without --state
	state     *runState   // the last recorded statuses; nil before the first
	tracking  bool        // compute transitions (--state or --watch)
}

// probe runs one round; interrupted tells that Ctrl-C cut it short.
func (c *checkRun) probe(ctx context.Context, signals bool) (rep *probe.Report, interrupted bool) {
	ctx, stop := runContext(ctx, c.opts, c.io, signals)
	defer stop()
	p := newProgress(c.io, c.opts.Quiet)
	p.start(endpointTotal(c.cfg))
	runner := &probe.Runner{
		Concurrency: c.opts.Concurrency,
		Options:     &probe.Options{Network: network(c.opts), Now: c.opts.Now, Resolver: resolver(c.opts, c.cfg)},
		Now:         c.opts.Now,
		Progress:    p.hook(),
	}
	rep = runner.Run(ctx, c.cfg)
	p.end()
	return rep, errors.Is(context.Cause(ctx), probe.ErrInterrupted)
}

// record sets the round's transitions, then writes the report files and
// the state. A round the user interrupted is reported but not remembered:
// what it did not measure is no news about the services.
func (c *checkRun) record(rep *probe.Report, interrupted bool) error {
	if c.tracking {
		next, transitions := advance(c.state, rep)
		rep.Transitions = transitions
		if !interrupted {
			c.state = next
		}
	}
	if err := c.outs.writeFiles(rep); err != nil {
		return err
	}
	if c.store != nil && !interrupted {
		return c.store.save(c.state)
	}
	return nil
}

// news is what a quiet run speaks up for: a status that is not up, or a
// change since the last run.
func news(rep *probe.Report) bool {
	return rep.Status != probe.Up || len(rep.Transitions) > 0
}

// print writes a single run's report on stdout, or, when every report went
// to a file, what a quiet run's reader must know.
func (c *checkRun) print(rep *probe.Report) error {
	if o := c.outs.stdout(); o != nil {
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

func endpointTotal(cfg *probe.Config) int {
	n := len(cfg.Controls)
	for _, s := range cfg.Services {
		n += len(s.Endpoints)
	}
	return n
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

// runContext bounds the run by --deadline and ends it on Ctrl-C (the report of
// what was measured is still printed; a second Ctrl-C kills the process).
func runContext(parent context.Context, opts *checkOptions, io *IO, signals bool) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	stops := []func(){func() { cancel(nil) }}
	if opts.Deadline > 0 {
		var c context.CancelFunc
		ctx, c = context.WithDeadlineCause(ctx, time.Now().Add(opts.Deadline), probe.ErrDeadline)
		stops = append(stops, c)
	}
	if signals {
		stops = append(stops, onInterrupt(func() {
			fmt.Fprintln(io.Err, "msgprobe: interrupted, reporting what was measured (press Ctrl-C again to quit at once)")
			cancel(probe.ErrInterrupted)
		}))
	}
	return ctx, func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
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

// resolver is the DNS server --resolver or the config names (the flag wins),
// nil for the system's.
func resolver(opts *checkOptions, cfg *probe.Config) *net.Resolver {
	addr := cmp.Or(opts.Resolver, cfg.Resolver)
	if addr == "" {
		return nil
	}
	return probe.NewResolver(addr)
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
