package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// serveOptions are the flags of `msgprobe serve`.
type serveOptions struct {
	Configs        []string
	Services       []string
	Tags           []string
	Timeout        time.Duration
	Samples        int
	Concurrency    int
	Deadline       time.Duration
	IPv4, IPv6     bool
	Resolver       string
	State          string
	Interval       time.Duration
	Listen         string
	WebConfig      string
	InsecureListen bool
	Vantage        string
	ProbeOffset    time.Duration
	LogLevel       string
	LogFormat      string
}

// The defaults of serve's flags.
const (
	defaultListen   = "127.0.0.1:9470" // the port is not registered yet; 9470 is free in Prometheus's list
	defaultInterval = 60 * time.Second
	// intervalJitter varies each interval by up to ±10%, so that vantage
	// points started together do not probe in lockstep.
	intervalJitter = 0.1
	// shutdownGrace bounds a graceful stop: SIGTERM ends serve within 5 s.
	shutdownGrace = 4 * time.Second
)

func newServeCmd(io *IO) *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Probe every --interval and serve the results to Prometheus",
		Long: `Probe the config every --interval (jittered by ±10%; rounds never overlap)
and serve, on --listen:

  /metrics                  the last completed round, in the metric names of
                            'check -f prometheus', plus msgprobe_round_* and
                            the process's own metrics
  /probe?service=NAME       one probe of a configured service on demand
    [&endpoint=NAME]        (Prometheus's multi-target pattern); never a
                            free-form target
  /                         a status page
  /healthz, /-/ready        alive; ready once the first round completed

SIGHUP reloads the config (a bad one keeps the old); SIGTERM stops within 5s.
TLS and basic auth come from --web.config.file, the Prometheus exporter
toolkit's web config. Logs go to stderr.`,
		Example: `  # one vantage point, loopback only, probing every minute
  msgprobe serve -c services.yaml
  # reachable from the network: TLS and basic auth from the web config
  msgprobe serve -c services.yaml --listen :9470 --web.config.file web.yml
  # label every series with vantage="paris" (Prometheus usually adds it instead)
  msgprobe serve -c services.yaml --vantage=paris --state /var/lib/msgprobe/state.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			err := noArgs(cmd, args)
			if err != nil && cmd.Flags().Changed("vantage") && opts.Vantage == hostname() {
				return handled{usageErrorf("%v", err).hint("give the vantage name with an equals sign: --vantage=%s", args[0])}
			}
			return err
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), opts, io)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Configs, "config", "c", nil, configFlagUsage)
	f.StringArrayVarP(&opts.Services, "service", "s", nil, "only the service `NAME` (repeatable, case-insensitive)")
	f.StringArrayVarP(&opts.Tags, "tag", "t", nil, "only services with the tag `TAG` (repeatable)")
	f.DurationVar(&opts.Interval, "interval", defaultInterval, "probe every `DUR`, counted from the start of a round and jittered by ±10%")
	f.DurationVar(&opts.Deadline, "deadline", 0, "bound `DUR` on each round; what has not finished is reported down (canceled) (default: the interval)")
	f.DurationVar(&opts.Timeout, "timeout", 0, "per-attempt timeout `DUR`, overrides the config")
	f.IntVar(&opts.Samples, "samples", 0, "`N` attempts per endpoint, overrides the config")
	f.IntVar(&opts.Concurrency, "concurrency", 64, "`N` endpoints probed at once")
	f.StringVar(&opts.State, "state", "", "remember statuses between rounds and restarts in `FILE`; transitions are logged")
	f.BoolVarP(&opts.IPv4, "ipv4", "4", false, "probe over IPv4 only")
	f.BoolVarP(&opts.IPv6, "ipv6", "6", false, "probe over IPv6 only")
	f.StringVar(&opts.Resolver, "resolver", "", "send every name lookup to the DNS server at `HOST:PORT` (overrides resolver: in the config)")
	f.StringVar(&opts.Listen, "listen", defaultListen, "serve HTTP on `HOST:PORT`; an address other than loopback needs --web.config.file or --insecure-listen")
	f.StringVar(&opts.WebConfig, "web.config.file", "", "exporter-toolkit web config `FILE` for TLS and basic auth")
	f.BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow a non-loopback --listen without TLS or authentication")
	f.StringVar(&opts.Vantage, "vantage", "", "add the label vantage=`NAME` to every series (--vantage alone: the host name)")
	f.Lookup("vantage").NoOptDefVal = hostname()
	f.DurationVar(&opts.ProbeOffset, "probe.timeout-offset", 500*time.Millisecond, "/probe ends `DUR` before the scrape's X-Prometheus-Scrape-Timeout-Seconds")
	f.StringVar(&opts.LogLevel, "log.level", "info", "log `LEVEL`: debug, info, warn or error")
	f.StringVar(&opts.LogFormat, "log.format", "logfmt", "log `FORMAT`: logfmt or json")
	return cmd
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func (o *serveOptions) validate() error {
	if o.IPv4 && o.IPv6 {
		return usageErrorf("-4 and -6 exclude each other").hint("give neither to probe over either family")
	}
	if o.Concurrency < 1 {
		return usageErrorf("invalid --concurrency %d: must be at least 1", o.Concurrency)
	}
	if o.Samples < 0 || o.Samples > 100 {
		return usageErrorf("invalid --samples %d: must be from 1 to 100", o.Samples)
	}
	if o.Interval <= 0 {
		return usageErrorf("invalid --interval %s: must be a positive duration", o.Interval)
	}
	if o.Timeout < 0 || o.Deadline < 0 || o.ProbeOffset < 0 {
		return usageErrorf("--timeout, --deadline and --probe.timeout-offset must be positive durations")
	}
	if o.Resolver != "" {
		if err := probe.CheckResolverAddr(o.Resolver); err != nil {
			return usageErrorf("invalid --resolver: %v", err).hint("give the DNS server as HOST:PORT, e.g. 127.0.0.1:53 or [::1]:53")
		}
	}
	if strings.ContainsAny(o.Vantage, "\x00\n") {
		return usageErrorf("invalid --vantage: control characters")
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return usageErrorf("invalid --listen %q: %v", o.Listen, unwrapAddrErr(err)).hint("give HOST:PORT, e.g. %s", defaultListen)
	}
	if !isLoopbackHost(host) && o.WebConfig == "" && !o.InsecureListen {
		what := "every interface"
		if host != "" {
			what = host
		}
		return usageErrorf("refusing to serve on %s without TLS or authentication", what).
			hint("give --web.config.file with TLS and basic auth (see the README), or --insecure-listen if the network is trusted").
			hint("the default, %s, is reachable from this machine only", defaultListen)
	}
	if _, err := logLevel(o.LogLevel); err != nil {
		return err
	}
	if o.LogFormat != "logfmt" && o.LogFormat != "json" {
		return usageErrorf("invalid --log.format %q", o.LogFormat).hint("use logfmt or json")
	}
	return nil
}

func unwrapAddrErr(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

// isLoopbackHost tells a listen host that only this machine reaches: a
// loopback IP or "localhost". An empty host is every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageErrorf("invalid --log.level %q", s).hint("use debug, info, warn or error")
	}
	return l, nil
}

func newLogger(opts *serveOptions, io *IO) *slog.Logger {
	level, _ := logLevel(opts.LogLevel)
	ho := &slog.HandlerOptions{Level: level}
	if opts.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(io.Err, ho))
	}
	return slog.New(slog.NewTextHandler(io.Err, ho))
}

// loadServeConfig loads the config as check does: the files, then -s and
// -t, then --timeout and --samples.
func loadServeConfig(opts *serveOptions, io *IO) (*probe.Config, error) {
	cfg, err := loadConfig(opts.Configs, io)
	if err != nil {
		return nil, err
	}
	if err := selectServices(cfg, opts.Services, opts.Tags); err != nil {
		return nil, err
	}
	applyOverrides(cfg, opts.Timeout, opts.Samples)
	return cfg, nil
}

func runServe(ctx context.Context, opts *serveOptions, io *IO) error {
	if err := opts.validate(); err != nil {
		return err
	}
	if err := web.Validate(opts.WebConfig); err != nil {
		return usageErrorf("invalid --web.config.file %s: %v", opts.WebConfig, err)
	}
	cfg, err := loadServeConfig(opts, io)
	if err != nil {
		return err
	}
	log := newLogger(opts, io)

	loop := round.New(cfg)
	loop.Concurrency = opts.Concurrency
	loop.Network = network(opts.IPv4, opts.IPv6)
	loop.Resolver = opts.Resolver
	loop.Deadline = opts.Deadline
	if loop.Deadline == 0 {
		loop.Deadline = opts.Interval
	}
	loop.Track = true
	if opts.State != "" {
		loop.Store = round.NewStore(io.path(opts.State), opts.State)
		if err := loop.Open(); err != nil {
			return err
		}
		defer loop.Abort()
		var w *round.StateWarning
		if err := loop.LoadState(); errors.As(err, &w) {
			log.Warn(w.Error())
		}
	}

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return usageErrorf("cannot listen on %s: %v", opts.Listen, unwrapAddrErr(err))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if io.Signals {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		go func() {
			select {
			case s := <-sig:
				log.Info("stopping", "signal", s.String())
				stop(probe.ErrInterrupted)
			case <-ctx.Done():
			}
		}()
	}

	srv := newExporter(opts, loop, log)
	loop.Sinks = append(loop.Sinks, round.SinkFunc(srv.publish))
	if io.Signals {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-hup:
					srv.reload(io)
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	httpSrv := &http.Server{
		Handler:           srv.handler(ctx),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() {
		webConfig := opts.WebConfig
		served <- web.Serve(ln, httpSrv, &web.FlagConfig{WebConfigFile: &webConfig}, log)
	}()
	log.Info("serving", "address", ln.Addr().String(), "interval", opts.Interval.String(),
		"services", len(cfg.Services), "endpoints", round.EndpointTotal(cfg), "vantage", opts.Vantage)

	rounds := make(chan struct{})
	go func() {
		defer close(rounds)
		sched := round.Schedule{Interval: opts.Interval, FromStart: true, Jitter: intervalJitter}
		loop.Repeat(ctx, sched, srv.roundDone)
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		stop(nil)
	}
	// The round under way ends at once (the runner reports what it has);
	// the HTTP server finishes the requests in flight.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		httpSrv.Close()
	}
	select {
	case <-rounds:
	case <-sctx.Done():
		log.Warn("the round under way did not end in time")
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %v", ln.Addr(), serveErr)
	}
	log.Info("stopped")
	return nil
}

// probeRenderer writes the report families of /metrics and /probe: the
// renderer of `check -f prometheus`, unchanged.
var probeRenderer = report.NewPrometheus(report.Options{})
