package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
)

// deployDir holds the deploy recipes, seen from this package.
var deployDir = filepath.Join(examplesDir, "deploy")

// acceptCommand parses a msgprobe command line of a recipe with the real
// command tree, without running anything: check lines as acceptArgs does,
// serve lines through serve's own validation (the listen address and its
// protection, durations, log settings) and its service selection.
func acceptCommand(args []string) error {
	io := &IO{Out: new(bytes.Buffer), Err: new(bytes.Buffer)}
	cmd, rest, err := newRoot(io).Find(args)
	if err != nil {
		return err
	}
	switch cmd.Name() {
	case "check":
		return acceptArgs(args)
	case "serve":
	default:
		return fmt.Errorf("not a check or serve command: %s", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	f := cmd.Flags()
	var o serveOptions
	o.Configs, _ = f.GetStringArray("config")
	o.Services, _ = f.GetStringArray("service")
	o.Tags, _ = f.GetStringArray("tag")
	o.Timeout, _ = f.GetDuration("timeout")
	o.Samples, _ = f.GetInt("samples")
	o.Concurrency, _ = f.GetInt("concurrency")
	o.Deadline, _ = f.GetDuration("deadline")
	o.IPv4, _ = f.GetBool("ipv4")
	o.IPv6, _ = f.GetBool("ipv6")
	o.Resolver, _ = f.GetString("resolver")
	o.State, _ = f.GetString("state")
	o.Interval, _ = f.GetDuration("interval")
	o.Listen, _ = f.GetString("listen")
	o.WebConfig, _ = f.GetString("web.config.file")
	o.InsecureListen, _ = f.GetBool("insecure-listen")
	o.Vantage, _ = f.GetString("vantage")
	o.ProbeOffset, _ = f.GetDuration("probe.timeout-offset")
	o.LogLevel, _ = f.GetString("log.level")
	o.LogFormat, _ = f.GetString("log.format")
	if err := o.validate(); err != nil {
		return err
	}
	if len(o.Configs) == 0 {
		cfg, err := loadConfig(nil, io)
		if err != nil {
			return err
		}
		return selectServices(cfg, o.Services, o.Tags)
	}
	return nil
}

// The helper must reject what the CLI rejects, or the recipes' tests
// prove nothing.
func TestAcceptCommandRejects(t *testing.T) {
	for _, bad := range [][]string{
		{"serve", "--listen", ":9470"}, // every interface, unprotected
		{"serve", "--interval", "often"},
		{"serve", "--lissen", "127.0.0.1:9470"},
		{"serve", "--log.format", "xml"},
		{"serve", "-t", "no-such-tag"},
		{"serve", "extra"},
		{"check", "-f", "yaml"},
		{"version"},
	} {
		if acceptCommand(bad) == nil {
			t.Errorf("msgprobe %s was accepted", strings.Join(bad, " "))
		}
	}
	for _, good := range [][]string{
		{"serve"},
		{"serve", "--listen", ":9470", "--insecure-listen", "--state", "/s.json"},
		{"check", "-f", "html", "-o", "status.html"},
	} {
		if err := acceptCommand(good); err != nil {
			t.Errorf("msgprobe %s: %v", strings.Join(good, " "), err)
		}
	}
}

// flagValue is the value of a long flag in args (--name V or --name=V).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// servedPaths answers whether serve's HTTP handler has the path: a request
// to a real handler (before any round) must not be a 404.
func servedPaths(t *testing.T) func(path string) bool {
	t.Helper()
	// No round runs: nothing is ever dialled.
	cfg, err := probe.Load("one.yaml", []byte("version: 1\nservices: [{name: S, endpoints: [{name: e, target: \"tcp://127.0.0.1:9\"}]}]\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	opts := &serveOptions{Interval: time.Minute}
	e := newExporter(opts, round.New(cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := e.handler(context.Background())
	return func(path string) bool {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code != http.StatusNotFound
	}
}

// The hardened systemd unit runs serve with a command line the CLI
// accepts, and keeps every hardening setting the README promises.
func TestDeploySystemdUnit(t *testing.T) {
	unitPath := filepath.Join(deployDir, "msgprobe-serve.service")
	unit := parseUnit(t, unitPath)
	svc := unit["Service"]
	args := msgprobeArgs(t, svc["ExecStart"])
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("ExecStart runs no msgprobe serve: %q", svc["ExecStart"])
	}
	if err := acceptCommand(args); err != nil {
		t.Errorf("ExecStart: msgprobe %s: %v", strings.Join(args, " "), err)
	}
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
		"ProtectHome": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet": "",
		"StateDirectory": "msgprobe", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
		"ProtectControlGroups": "yes", "MemoryDenyWriteExecute": "yes", "RestrictNamespaces": "yes",
		"SystemCallArchitectures": "native", "Type": "exec",
	} {
		got, ok := svc[key]
		if !ok || got != want {
			t.Errorf("[Service] %s=%q (set: %v), want %q", key, got, ok, want)
		}
	}
	// The state goes where the unit may write: its StateDirectory.
	if st := flagValue(args, "--state"); path.Dir(st) != "/var/lib/"+svc["StateDirectory"] {
		t.Errorf("--state %s is outside StateDirectory=%s, the only writable place under ProtectSystem=strict", st, svc["StateDirectory"])
	}
	if !strings.Contains(svc["ExecReload"], "-HUP $MAINPID") {
		t.Errorf("ExecReload=%q does not send SIGHUP, which reloads serve's config", svc["ExecReload"])
	}
	if unit["Install"]["WantedBy"] != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q", unit["Install"]["WantedBy"])
	}
}

// systemd itself reads the unit: `systemd-analyze verify` prints nothing
// (it warns on stderr about unknown keys and bad values, and exits 0), and
// `systemd-analyze security` rates its exposure 2.0 or better.
func TestDeploySystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		fixture.Missing(t, "systemd-analyze", "systemd-analyze is not installed (Debian: apt-get install systemd); .ci/run installs it")
	}
	dir := t.TempDir()
	unit := string(readFile(t, filepath.Join(deployDir, "msgprobe-serve.service")))
	// verify wants the ExecStart binary to exist: the one the tests built.
	unit = strings.ReplaceAll(unit, "/usr/local/bin/msgprobe", binary)
	run := func(name, content string, args ...string) (string, error) {
		t.Helper()
		p := writeFile(t, dir, name, content)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, analyze, append(args, p)...).CombinedOutput()
		return string(out), err
	}
	// A unit with a typo must be reported, or a clean run proves nothing.
	out, err := run("typo.service", strings.Replace(unit, "NoNewPrivileges=", "NoNewPrivilegez=", 1), "verify", "--man=no")
	if err != nil && strings.Contains(out, "Failed to") && !strings.Contains(out, "NoNewPrivilegez") {
		t.Skipf("systemd-analyze cannot verify units here: %v\n%s", err, out)
	}
	if !strings.Contains(out, "NoNewPrivilegez") {
		t.Fatalf("systemd-analyze verify did not report an unknown key: %v\n%s", err, out)
	}
	if out, err := run("msgprobe-serve.service", unit, "verify", "--man=no"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify msgprobe-serve.service: %v\n%s", err, out)
	}
	out, err = run("msgprobe-serve.service", unit, "security", "--offline=yes", "--threshold=20", "--no-pager")
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit worse than 2.0: %v\n%s", err, lastLines(out, 3))
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

// dockerInstr is one instruction of a Dockerfile.
type dockerInstr struct {
	line int
	op   string // upper case
	args string
}

// parseDockerfile reads instructions, joining continued lines and
// skipping comments, as docker does for the plain files recipes hold.
func parseDockerfile(t *testing.T, p string) []dockerInstr {
	t.Helper()
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, p)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{start, strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// execForm decodes a JSON array instruction (ENTRYPOINT, CMD).
func execForm(t *testing.T, in dockerInstr) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("Dockerfile:%d: %s is not in exec form (a JSON array): %v", in.line, in.op, err)
	}
	return v
}

// The Dockerfile builds a static binary in one stage and runs it in a
// second on scratch or distroless, as a non-root user, with the CA bundle,
// its entrypoint and command a serve line the CLI accepts.
func TestDeployDockerfile(t *testing.T) {
	instrs := parseDockerfile(t, filepath.Join(deployDir, "Dockerfile"))
	var stages [][]dockerInstr
	for _, in := range instrs {
		if in.op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.op != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.op)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	buildName := ""
	if f := strings.Fields(build[0].args); len(f) == 3 && strings.EqualFold(f[1], "AS") {
		buildName = f[2]
	} else {
		t.Fatalf("Dockerfile:%d: the build stage has no name: FROM %s", build[0].line, build[0].args)
	}
	// The Go image must be at least the go.mod's version.
	goMod := string(readFile(t, "../../go.mod"))
	modVersion := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindStringSubmatch(goMod)
	image := regexp.MustCompile(`^golang:(1\.(\d+))`).FindStringSubmatch(build[0].args)
	if modVersion == nil || image == nil {
		t.Fatalf("the build stage is not a golang image of a version: FROM %s", build[0].args)
	}
	imageMinor, _ := strconv.Atoi(image[2])
	modMinor, _ := strconv.Atoi(strings.TrimPrefix(modVersion[1], "1."))
	if imageMinor < modMinor {
		t.Errorf("FROM %s is older than go.mod's go %s", build[0].args, modVersion[1])
	}

	var buildCmd string
	for _, in := range build {
		if in.op == "RUN" && strings.Contains(in.args, "go build") {
			buildCmd = in.args
		}
	}
	if !strings.Contains(buildCmd, "CGO_ENABLED=0") {
		t.Errorf("the go build (%q) does not set CGO_ENABLED=0: the binary would need a libc", buildCmd)
	}
	out := regexp.MustCompile(`-o (\S+) (\./cmd/msgprobe)\b`).FindStringSubmatch(buildCmd)
	if out == nil {
		t.Fatalf("the go build does not write ./cmd/msgprobe to a file: %q", buildCmd)
	}

	base := strings.Fields(final[0].args)[0]
	if base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("the runtime stage is FROM %s, want scratch or distroless/static", base)
	}
	copied := map[string]string{} // destination -> source, from the build stage
	var user string
	var entrypoint, cmd []string
	for _, in := range final {
		switch in.op {
		case "COPY":
			f := strings.Fields(in.args)
			if !slices.Contains(f, "--from="+buildName) {
				continue
			}
			var rest []string
			for _, w := range f {
				if !strings.HasPrefix(w, "--") {
					rest = append(rest, w)
				}
			}
			if len(rest) == 2 {
				copied[rest[1]] = rest[0]
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		}
	}
	if src := copied["/etc/ssl/certs/ca-certificates.crt"]; src != "/etc/ssl/certs/ca-certificates.crt" {
		t.Errorf("the CA bundle is not copied to /etc/ssl/certs/ca-certificates.crt (copied: %v)", copied)
	}
	uid := strings.Split(user, ":")[0]
	if n, err := strconv.Atoi(uid); user == "" || uid == "root" || (err == nil && n == 0) {
		t.Errorf("USER %q: the container must not run as root", user)
	}
	if len(entrypoint) != 1 || copied[entrypoint[0]] != out[1] {
		t.Errorf("ENTRYPOINT %q is not the binary the build wrote (%s; copied: %v)", entrypoint, out[1], copied)
	}
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("CMD %q does not run serve", cmd)
	}
	if err := acceptCommand(cmd); err != nil {
		t.Errorf("CMD: msgprobe %s: %v", strings.Join(cmd, " "), err)
	}
	if st := flagValue(cmd, "--state"); st != "" && copied[path.Dir(st)] == "" {
		t.Errorf("--state %s: its directory is not made (and owned) by the image", st)
	}
	if _, port, _ := net.SplitHostPort(flagValue(cmd, "--listen")); !slices.ContainsFunc(final, func(in dockerInstr) bool { return in.op == "EXPOSE" && in.args == port }) {
		t.Errorf("the port of --listen %s is not EXPOSEd", flagValue(cmd, "--listen"))
	}

	// The build stage's go build, with CGO_ENABLED=0, gives a binary with
	// no interpreter and no shared library, which runs. (-trimpath and
	// -ldflags change neither, and -trimpath would rebuild every package.)
	if testing.Short() {
		t.Skip("building the static binary: skipped with -short")
	}
	static := filepath.Join(t.TempDir(), "msgprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gobuild := exec.CommandContext(ctx, "go", "build", "-o", static, ".")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, b)
	}
	f, err := elf.Open(static)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the CGO_ENABLED=0 binary has a %s program header: it is not static", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the CGO_ENABLED=0 binary needs %v", libs)
	}
	if b, err := exec.CommandContext(ctx, static, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "msgprobe ") {
		t.Errorf("the static binary does not run: %v %s", err, b)
	}
}

// k8sObject is the part of a Kubernetes manifest the tests read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
}

type k8sPodSpec struct {
	RestartPolicy   string `yaml:"restartPolicy"`
	SecurityContext struct {
		RunAsNonRoot bool  `yaml:"runAsNonRoot"`
		RunAsUser    int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe   *k8sHTTPProbe `yaml:"livenessProbe"`
		ReadinessProbe  *k8sHTTPProbe `yaml:"readinessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name string `yaml:"name"`
	} `yaml:"volumes"`
}

type k8sHTTPProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests decodes every document of a manifest file, strictly
// enough that a typo in a field the tests read is an error.
func readManifests(t *testing.T, name string) map[string]k8sObject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, filepath.Join(deployDir, "kubernetes", name))))
	objs := map[string]k8sObject{}
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("%s: a document without apiVersion, kind or name: %+v", name, o)
		}
		objs[o.Kind] = o
	}
	return objs
}

func decodeNode(t *testing.T, n *yaml.Node, v any) {
	t.Helper()
	if err := n.Decode(v); err != nil {
		t.Fatalf("line %d: %v", n.Line, err)
	}
}

// checkPod checks what both manifests' pods must be: one container whose
// args are an msgprobe command line the CLI accepts, run as a non-root
// user with no privilege and a read-only root, every path it writes on a
// mounted volume. It returns the container's args.
func checkPod(t *testing.T, where string, pod k8sPodSpec) []string {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(pod.Containers))
	}
	c := pod.Containers[0]
	if err := acceptCommand(c.Args); err != nil {
		t.Errorf("%s: msgprobe %s: %v", where, strings.Join(c.Args, " "), err)
	}
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("%s: the pod may run as root: %+v", where, pod.SecurityContext)
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: container securityContext %+v, want no privilege escalation, a read-only root and every capability dropped", where, sc)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	onVolume := func(p string) bool {
		for _, m := range c.VolumeMounts {
			if volumes[m.Name] && strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
				return true
			}
		}
		return false
	}
	written := []string{flagValue(c.Args, "--state")}
	for i, a := range c.Args {
		if (a == "-f" || a == "--format") && i+1 < len(c.Args) {
			if _, file, ok := strings.Cut(c.Args[i+1], "="); ok {
				written = append(written, file)
			}
		}
	}
	for _, p := range written {
		if p != "" && !onVolume(p) {
			t.Errorf("%s: %s is written on the read-only root file system, not on a volume", where, p)
		}
	}
	return c.Args
}

// serve.yaml: a Deployment of serve, a Service in front of it, and a
// ServiceMonitor that scrapes it; the ports, labels and probe paths agree
// with one another and with what serve really serves.
func TestDeployKubernetesServe(t *testing.T) {
	objs := readManifests(t, "serve.yaml")
	dep, svc, mon := objs["Deployment"], objs["Service"], objs["ServiceMonitor"]
	if dep.APIVersion != "apps/v1" || svc.APIVersion != "v1" || mon.APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("want a Deployment, a Service and a ServiceMonitor; have %v", keys(objs))
	}
	var ds struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec yaml.Node `yaml:"spec"`
		} `yaml:"template"`
	}
	decodeNode(t, &dep.Spec, &ds)
	var pod k8sPodSpec
	decodeNode(t, &ds.Template.Spec, &pod)
	if ds.Replicas != 1 {
		t.Errorf("%d replicas: each would probe and export the same series", ds.Replicas)
	}
	if !labelsMatch(ds.Selector.MatchLabels, ds.Template.Metadata.Labels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", ds.Selector.MatchLabels, ds.Template.Metadata.Labels)
	}
	args := checkPod(t, "Deployment", pod)
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("the Deployment runs %q, not serve", args)
	}
	c := pod.Containers[0]
	_, listenPort, _ := net.SplitHostPort(flagValue(args, "--listen"))
	if len(c.Ports) != 1 || strconv.Itoa(c.Ports[0].ContainerPort) != listenPort {
		t.Fatalf("container ports %+v, want the one of --listen (%s)", c.Ports, listenPort)
	}
	portName := c.Ports[0].Name

	has := servedPaths(t)
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Fatal("the container has no liveness or readiness probe")
	}
	for what, p := range map[string]*k8sHTTPProbe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if !has(p.HTTPGet.Path) || p.HTTPGet.Port != portName {
			t.Errorf("%s probe GET %s on port %q: serve has no such path, or the port is not %q", what, p.HTTPGet.Path, p.HTTPGet.Port, portName)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
		t.Errorf("readiness is %s, not /-/ready (ready once a round completed)", c.ReadinessProbe.HTTPGet.Path)
	}

	var ss struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	decodeNode(t, &svc.Spec, &ss)
	if !labelsMatch(ss.Selector, ds.Template.Metadata.Labels) || len(ss.Ports) != 1 || ss.Ports[0].TargetPort != portName {
		t.Errorf("the Service (selector %v, ports %+v) does not reach the pods' port %q", ss.Selector, ss.Ports, portName)
	}
	var ms struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Endpoints []struct {
			Port        string `yaml:"port"`
			Path        string `yaml:"path"`
			Interval    string `yaml:"interval"`
			Relabelings []struct {
				TargetLabel string `yaml:"targetLabel"`
				Replacement string `yaml:"replacement"`
			} `yaml:"relabelings"`
		} `yaml:"endpoints"`
	}
	decodeNode(t, &mon.Spec, &ms)
	if !labelsMatch(ms.Selector.MatchLabels, svc.Metadata.Labels) || len(ms.Endpoints) != 1 {
		t.Fatalf("the ServiceMonitor (selector %v, endpoints %+v) does not select the Service %v", ms.Selector.MatchLabels, ms.Endpoints, svc.Metadata.Labels)
	}
	ep := ms.Endpoints[0]
	if ep.Port != ss.Ports[0].Name || ep.Path != "/metrics" || !has(ep.Path) {
		t.Errorf("the ServiceMonitor scrapes port %q path %q; want the Service's port %q and /metrics", ep.Port, ep.Path, ss.Ports[0].Name)
	}
	if d, err := time.ParseDuration(ep.Interval); err != nil || d != durationFlag(t, args, "--interval") {
		t.Errorf("the ServiceMonitor scrapes every %s, serve probes every %s: each scrape should read a new round", ep.Interval, flagValue(args, "--interval"))
	}
	if !slices.ContainsFunc(ep.Relabelings, func(r struct {
		TargetLabel string `yaml:"targetLabel"`
		Replacement string `yaml:"replacement"`
	}) bool {
		return r.TargetLabel == "vantage" && r.Replacement != ""
	}) {
		t.Errorf("the ServiceMonitor sets no vantage label, which every rule groups by: %+v", ep.Relabelings)
	}
}

func durationFlag(t *testing.T, args []string, name string) time.Duration {
	t.Helper()
	v := flagValue(args, name)
	if v == "" {
		return defaultInterval
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s %s: %v", name, v, err)
	}
	return d
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// cronjob.yaml: a CronJob running the one-shot textfile mode: a check the
// CLI accepts that writes the Prometheus textfile (and its state) on the
// mounted textfile directory, never two at once, bounded in time.
func TestDeployKubernetesCronJob(t *testing.T) {
	objs := readManifests(t, "cronjob.yaml")
	cj, ok := objs["CronJob"]
	if !ok || cj.APIVersion != "batch/v1" {
		t.Fatalf("no batch/v1 CronJob: %v", keys(objs))
	}
	var spec struct {
		Schedule          string `yaml:"schedule"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				ActiveDeadlineSeconds int `yaml:"activeDeadlineSeconds"`
				Template              struct {
					Spec yaml.Node `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	}
	decodeNode(t, &cj.Spec, &spec)
	fields := strings.Fields(spec.Schedule)
	if len(fields) != 5 || slices.ContainsFunc(fields, func(f string) bool { return strings.Trim(f, "0123456789*/,-") != "" }) {
		t.Errorf("schedule %q is not five cron fields", spec.Schedule)
	}
	if spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy %q: two runs would write the same textfile and state", spec.ConcurrencyPolicy)
	}
	var pod k8sPodSpec
	decodeNode(t, &spec.JobTemplate.Spec.Template.Spec, &pod)
	if pod.RestartPolicy != "Never" && pod.RestartPolicy != "OnFailure" {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	args := checkPod(t, "CronJob", pod)
	if len(args) == 0 || args[0] != "check" || flagValueFormat(args, "prometheus") == "" {
		t.Fatalf("the CronJob runs %q, not a check writing the prometheus textfile", args)
	}
	if !strings.HasSuffix(flagValueFormat(args, "prometheus"), ".prom") {
		t.Errorf("the textfile %s does not end in .prom, which node_exporter's collector requires", flagValueFormat(args, "prometheus"))
	}
	d := durationFlag(t, args, "--deadline")
	if limit := time.Duration(spec.JobTemplate.Spec.ActiveDeadlineSeconds) * time.Second; limit <= d {
		t.Errorf("activeDeadlineSeconds %v does not leave check its --deadline %v", limit, d)
	}
	if flagValue(args, "--fail-on") != "never" {
		t.Errorf("--fail-on %q: a service down would mark the Job failed, though the textfile carries the verdict", flagValue(args, "--fail-on"))
	}
}

// flagValueFormat is the FILE of -f FORMAT=FILE in args.
func flagValueFormat(args []string, format string) string {
	for i, a := range args {
		if (a == "-f" || a == "--format") && i+1 < len(args) {
			if f, file, ok := strings.Cut(args[i+1], "="); ok && f == format {
				return file
			}
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
