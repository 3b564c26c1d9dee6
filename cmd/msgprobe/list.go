package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/probe"
)

func newListCmd(io *IO) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "list [-c FILE]",
		Short: "Show what check would probe, with the effective settings",
		Long: `List the controls, services and endpoints that 'msgprobe check' would probe,
with their settings after defaults and overrides. Nothing is sent on the network.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(path, io)
			if err != nil {
				return err
			}
			return writeList(io, cfg)
		}),
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config `FILE`; - reads standard input (default: the built-in catalog)")
	return cmd
}

func writeList(io *IO, cfg *probe.Config) error {
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENDPOINT\tROLE\tTARGET\tTIMEOUT\tSAMPLES\tDEGRADED\tCERT DAYS\tNOTES")
	row := func(svc string, ep *probe.Endpoint) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			svc, ep.Name, dash(ep.Role), ep.Target, ep.Timeout, ep.Samples,
			probe.FormatDuration(ep.DegradedLatency), certDays(ep), strings.Join(notes(ep), ", "))
	}
	for _, ep := range cfg.Controls {
		row("(control)", ep)
	}
	for _, s := range cfg.Services {
		for _, ep := range s.Endpoints {
			row(s.Name, ep)
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func certDays(ep *probe.Endpoint) string {
	if !ep.Kind.UsesTLS() {
		return "-"
	}
	return strconv.Itoa(ep.CertMinDays)
}

// notes lists what differs from a plain probe of the target. Header values
// are never shown: they may hold credentials.
func notes(ep *probe.Endpoint) []string {
	var n []string
	if ep.Critical {
		n = append(n, "critical")
	}
	if ep.Kind.UsesHTTP() {
		if ep.HTTP.Method != "" && ep.HTTP.Method != "GET" {
			n = append(n, ep.HTTP.Method)
		}
		if len(ep.Expect.Status) > 0 {
			codes := make([]string, len(ep.Expect.Status))
			for i, c := range ep.Expect.Status {
				codes[i] = strconv.Itoa(c)
			}
			n = append(n, "status "+strings.Join(codes, "/"))
		}
		if ep.Expect.BodyContains != "" {
			n = append(n, "body check")
		}
		if len(ep.HTTP.Headers) > 0 {
			n = append(n, fmt.Sprintf("%d headers", len(ep.HTTP.Headers)))
		}
		if ep.HTTP.FollowRedirects {
			n = append(n, "follows redirects")
		}
	}
	if ep.Kind.UsesTLS() {
		if ep.TLS.InsecureSkipVerify {
			n = append(n, "cert NOT verified")
		}
		if ep.TLS.CAFile != "" || ep.TLS.CAPEM != "" {
			s := "own CA"
			if ep.TLS.SystemRoots {
				s += " + system roots"
			}
			n = append(n, s)
		}
		if ep.TLS.ServerName != "" && ep.TLS.ServerName != ep.Host {
			n = append(n, "sni "+ep.TLS.ServerName)
		}
	}
	return n
}
