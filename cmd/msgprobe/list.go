package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/msgprobe/msgprobe/probe"
)

func newListCmd(io *IO) *cobra.Command {
	var (
		paths  []string
		format string
	)
	cmd := &cobra.Command{
		Use:   "list [-c FILE]... [-f table|json]",
		Short: "Show what check would probe, with the effective settings",
		Long: `List the controls, services and endpoints that 'msgprobe check' would probe,
with their settings after defaults and overrides and the level that set each:
built-in, defaults, service or endpoint. Nothing is sent on the network.
Header values are never shown, only their names (json) or count (table).`,
		Example: `  msgprobe list
  msgprobe list -c conf.d/ -f json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return usageErrorf("unknown list format %q", format).hint("use table or json")
			}
			cfg, err := loadConfig(paths, io)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeListJSON(io, cfg)
			}
			return writeList(io, cfg)
		}),
	}
	cmd.Flags().StringArrayVarP(&paths, "config", "c", nil, configFlagUsage)
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	return cmd
}

func writeList(io *IO, cfg *probe.Config) error {
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENDPOINT\tROLE\tTARGET\tTIMEOUT\tSAMPLES\tDEGRADED\tCERT DAYS\tNOTES")
	row := func(svc string, ep *probe.Endpoint) {
		certDays := "-"
		if ep.Kind.UsesTLS() {
			certDays = withLevel(strconv.Itoa(ep.CertMinDays), ep.SetBy.CertMinDays)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			svc, ep.Name, dash(ep.Role), ep.Target,
			withLevel(ep.Timeout.String(), ep.SetBy.Timeout),
			withLevel(strconv.Itoa(ep.Samples), ep.SetBy.Samples),
			withLevel(ep.DegradedLatency.String(), ep.SetBy.DegradedLatency),
			certDays, strings.Join(notes(ep), ", "))
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

// withLevel shows a value with the level that set it: "5s (defaults)".
func withLevel(v string, src probe.SettingSource) string {
	if src.Level == "" {
		return v
	}
	return v + " (" + src.Level + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
	if p := probe.ProtocolOf(ep.Kind); p != nil && p.Notes != nil {
		n = append(n, p.Notes(ep)...)
	}
	return n
}

// The JSON listing: the table's content, structured, with where each
// setting was given.
type (
	listDoc struct {
		Sources  []string       `json:"sources"`
		Resolver string         `json:"resolver,omitempty"`
		Controls []listEndpoint `json:"controls"`
		Services []listService  `json:"services"`
	}
	listService struct {
		Name        string                  `json:"name"`
		Description string                  `json:"description,omitempty"`
		Tags        []string                `json:"tags,omitempty"`
		Functions   map[string]listFunction `json:"functions,omitempty"`
		Endpoints   []listEndpoint          `json:"endpoints"`
	}
	listFunction struct {
		Critical bool `json:"critical"`
		MinUp    int  `json:"min_up"`
	}
	listEndpoint struct {
		Name            string       `json:"name"`
		Target          string       `json:"target"` // passwords masked by the loader
		Kind            string       `json:"kind"`
		Role            string       `json:"role,omitempty"`
		Critical        bool         `json:"critical"`
		Timeout         listSetting  `json:"timeout"`
		Samples         listSetting  `json:"samples"`
		DegradedLatency listSetting  `json:"degraded_latency"`
		CertMinDays     *listSetting `json:"cert_min_days,omitempty"`
		Expect          *listExpect  `json:"expect,omitempty"`
		HTTP            *listHTTP    `json:"http,omitempty"`
		TLS             *listTLS     `json:"tls,omitempty"`
	}
	listSetting struct {
		Value any    `json:"value"`
		SetBy string `json:"set_by"`
		At    string `json:"at,omitempty"` // FILE:LINE:COL of the value; none for built-in
	}
	listExpect struct {
		Status       []int  `json:"status,omitempty"` // none: any 2xx or 3xx
		BodyContains string `json:"body_contains,omitempty"`
	}
	listHTTP struct {
		Method          string   `json:"method"`
		HeaderNames     []string `json:"header_names,omitempty"` // values may be secrets
		FollowRedirects bool     `json:"follow_redirects"`
	}
	listTLS struct {
		ServerName         string `json:"server_name"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
		CAFile             string `json:"ca_file,omitempty"`
		CAPEM              bool   `json:"ca_pem,omitempty"`
		SystemRoots        bool   `json:"system_roots"`
	}
)

func writeListJSON(io *IO, cfg *probe.Config) error {
	doc := listDoc{
		Sources:  cfg.Sources,
		Resolver: cfg.Resolver,
		Controls: []listEndpoint{},
		Services: []listService{},
	}
	if len(doc.Sources) == 0 {
		doc.Sources = []string{embeddedName}
	}
	for _, ep := range cfg.Controls {
		doc.Controls = append(doc.Controls, listEndpointOf(ep))
	}
	for _, s := range cfg.Services {
		ls := listService{Name: s.Name, Description: s.Description, Tags: s.Tags, Endpoints: []listEndpoint{}}
		if len(s.Functions) > 0 {
			ls.Functions = map[string]listFunction{}
			for role, f := range s.Functions {
				ls.Functions[role] = listFunction{Critical: f.Critical, MinUp: f.MinUp}
			}
		}
		for _, ep := range s.Endpoints {
			ls.Endpoints = append(ls.Endpoints, listEndpointOf(ep))
		}
		doc.Services = append(doc.Services, ls)
	}
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func setting(v any, src probe.SettingSource) listSetting {
	s := listSetting{Value: v, SetBy: src.Level}
	if src.Pos.Line > 0 {
		s.At = fmt.Sprintf("%s:%d:%d", src.Pos.File, src.Pos.Line, src.Pos.Column)
	}
	return s
}

func listEndpointOf(ep *probe.Endpoint) listEndpoint {
	le := listEndpoint{
		Name:            ep.Name,
		Target:          ep.Target,
		Kind:            string(ep.Kind),
		Role:            ep.Role,
		Critical:        ep.Critical,
		Timeout:         setting(ep.Timeout.String(), ep.SetBy.Timeout),
		Samples:         setting(ep.Samples, ep.SetBy.Samples),
		DegradedLatency: setting(ep.DegradedLatency.String(), ep.SetBy.DegradedLatency),
	}
	if ep.Kind.UsesHTTP() {
		if len(ep.Expect.Status) > 0 || ep.Expect.BodyContains != "" {
			le.Expect = &listExpect{Status: ep.Expect.Status, BodyContains: ep.Expect.BodyContains}
		}
		h := &listHTTP{Method: ep.HTTP.Method, FollowRedirects: ep.HTTP.FollowRedirects}
		for name := range ep.HTTP.Headers {
			h.HeaderNames = append(h.HeaderNames, name)
		}
		sort.Strings(h.HeaderNames)
		le.HTTP = h
	}
	if ep.Kind.UsesTLS() {
		cd := setting(ep.CertMinDays, ep.SetBy.CertMinDays)
		le.CertMinDays = &cd
		sni := ep.TLS.ServerName
		if sni == "" {
			sni = ep.Host
		}
		le.TLS = &listTLS{
			ServerName:         sni,
			InsecureSkipVerify: ep.TLS.InsecureSkipVerify,
			CAFile:             ep.TLS.CAFile,
			CAPEM:              ep.TLS.CAPEM != "",
			SystemRoots:        ep.TLS.SystemRoots,
		}
	}
	return le
}
