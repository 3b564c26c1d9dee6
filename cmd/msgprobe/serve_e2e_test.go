package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// server is a `msgprobe serve` process started by a test, with its log.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // where it listens, from its log
	done chan struct{}
	code int

	mu   sync.Mutex
	log  strings.Builder
	seen *sync.Cond
}

// startServe runs `msgprobe serve` in dir on a free loopback port and
// waits until it listens. The test's end stops it (SIGTERM, then a kill
// if it outlives 10s, which fails the test).
func startServe(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s := &server{t: t, done: make(chan struct{})}
	s.seen = sync.NewCond(&s.mu)
	s.cmd = exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Dir = dir
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.seen.Broadcast()
			s.mu.Unlock()
		}
		err := s.cmd.Wait()
		s.mu.Lock()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		}
		close(s.done)
		s.seen.Broadcast()
		s.mu.Unlock()
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
			t.Errorf("serve did not stop within 10s of SIGTERM\n%s", s.logText())
		}
	})
	m := s.waitLog(regexp.MustCompile(`msg=serving address=(\S+)`), 15*time.Second)
	s.addr = m[1]
	return s
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// waitLog waits until the log has a line matching re and returns its
// submatches; the process ending or the deadline passing fails the test.
func (s *server) waitLog(re *regexp.Regexp, within time.Duration) []string {
	s.t.Helper()
	return s.waitLogN(re, 1, within)
}

// waitLogN waits for the n-th line matching re.
func (s *server) waitLogN(re *regexp.Regexp, n int, within time.Duration) []string {
	s.t.Helper()
	timer := time.AfterFunc(within, func() {
		s.mu.Lock()
		s.seen.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(within)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if all := re.FindAllStringSubmatch(s.log.String(), -1); len(all) >= n {
			return all[n-1]
		}
		select {
		case <-s.done:
			s.t.Fatalf("serve ended (exit %d) before logging %q:\n%s", s.code, re, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve did not log %q within %v:\n%s", re, within, s.log.String())
		}
		s.seen.Wait()
	}
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// get fetches path and returns the status code and body.
func (s *server) get(path string) (int, string) {
	s.t.Helper()
	return httpGet(s.t, http.DefaultClient, s.url(path), nil)
}

func httpGet(t *testing.T, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	cc := *c
	cc.Timeout = 20 * time.Second
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// acceptCounter counts the connections a listener accepted.
type acceptCounter struct {
	mu   sync.Mutex
	n    int64
	more chan struct{} // closed and replaced at each accept
}

func (c *acceptCounter) Load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *acceptCounter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	close(c.more)
	c.more = make(chan struct{})
}

// waitFor waits until n connections were accepted, at most within: a
// connect returns to the dialler before the listener's Accept does.
func (c *acceptCounter) waitFor(n int64, within time.Duration) bool {
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got, more := c.n, c.more
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-more:
		case <-timer.C:
			return false
		}
	}
}

// countingListener accepts on loopback and counts the connections.
func countingListener(t *testing.T) (addr string, accepts *acceptCounter) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepts = &acceptCounter{more: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.add()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), accepts
}

// serveConfig writes a config of two services: Alpha, whose chat endpoint
// is at alpha, and Beta at beta; a control at control.
func serveConfig(t *testing.T, dir, name, control, alpha, beta string) string {
	t.Helper()
	return writeFile(t, dir, name, fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
controls:
  - {name: ctl, target: "tcp://%s"}
services:
  - name: Alpha
    tags: [acme]
    endpoints:
      - {name: chat, target: "tcp://%s", role: messaging}
  - name: Beta
    tags: [acme]
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, control, alpha, beta))
}

var roundLine = regexp.MustCompile(`msg=round round=(\d+)`)

// series finds the value of the first series of the exposition text whose
// line starts with prefix.
func series(t *testing.T, text, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	t.Fatalf("no series %s in\n%s", prefix, text)
	return ""
}

func TestServeMetricsReadinessAndStatus(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	serveConfig(t, dir, "s.yaml", up, up, fixture.ClosedPort(t))
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1h")
	s.waitLog(roundLine, 15*time.Second)

	if code, body := s.get("/-/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/-/ready after the first round: %d %q", code, body)
	}
	if code, body := s.get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, text := s.get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, text)
	}
	for prefix, want := range map[string]string{
		`msgprobe_service_up{service="Alpha"}`:                                              "1",
		`msgprobe_service_up{service="Beta"}`:                                               "0",
		`msgprobe_endpoint_up{endpoint="chat",kind="tcp",service="Beta",`:                   "0",
		`msgprobe_diagnosis{code="service_outage"}`:                                         "1",
		`msgprobe_round_success `:                                                           "1",
		`msgprobe_rounds_total `:                                                            "1",
		`msgprobe_round_overruns_total `:                                                    "0",
		`msgprobe_endpoint_info{endpoint="chat",function="messaging",service="Alpha"}`:      "1",
		`msgprobe_endpoint_info{endpoint="chat",function="chat",service="Beta"}`:            "1",
		`msgprobe_service_tag_info{service="Beta",tag="acme"}`:                              "1",
		`msgprobe_config_last_reload_successful `:                                           "1",
		`msgprobe_endpoint_status{endpoint="chat",kind="tcp",service="Beta",status="down",`: "1",
	} {
		if got := series(t, text, prefix); got != want {
			t.Errorf("%s is %s, want %s", prefix, got, want)
		}
	}
	for _, family := range []string{"go_goroutines", "process_resident_memory_bytes", "msgprobe_round_duration_seconds", "msgprobe_round_timestamp_seconds", "msgprobe_last_run_timestamp_seconds"} {
		series(t, text, family+" ")
	}
	if strings.Contains(text, "vantage=") {
		t.Error("a vantage label without --vantage")
	}
	if code, body := s.get("/"); code != 200 || !strings.Contains(body, "Beta") || !strings.Contains(body, "down") {
		t.Errorf("/: %d\n%s", code, body)
	}
	if code, _ := s.get("/nothing-here"); code != 404 {
		t.Errorf("/nothing-here: %d", code)
	}
}

func TestServeVantageLabel(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	serveConfig(t, dir, "s.yaml", up, up, up)
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1h", "--vantage=par\"is")
	s.waitLog(roundLine, 15*time.Second)
	_, text := s.get("/metrics")
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "#") && !strings.Contains(line, `vantage="par\"is"`) {
			t.Fatalf("a series without the vantage label: %s", line)
		}
	}
	series(t, text, `msgprobe_service_up{vantage="par\"is",service="Alpha"}`)
	series(t, text, `go_goroutines{vantage="par\"is"}`)

	// --vantage alone is the host name; --vantage NAME is a mistake with a hint.
	r := msgprobe(t, dir, "", "serve", "-c", "s.yaml", "--vantage", "paris")
	if r.code != exitUnknown || !strings.Contains(r.stderr, "hint: give the vantage name with an equals sign: --vantage=paris") {
		t.Errorf("--vantage paris: exit %d\n%s", r.code, r.stderr)
	}
}

// The SSRF hole of multi-target exporters: /probe must never connect
// where a query says. Every refused request is checked against a listener
// that counts its connections, and /probe of a configured service against
// another, so that the test would see a connection if one were made.
func TestServeProbeOnlyConfiguredServices(t *testing.T) {
	dir := t.TempDir()
	known, knownAccepts := countingListener(t)
	stranger, strangerAccepts := countingListener(t)
	serveConfig(t, dir, "s.yaml", known, known, known)
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1h")
	s.waitLog(roundLine, 15*time.Second)
	// The first round connected to the control, Alpha and Beta.
	if !knownAccepts.waitFor(3, 5*time.Second) {
		t.Fatalf("the first round made %d connections, want 3", knownAccepts.Load())
	}
	before := knownAccepts.Load()

	for _, q := range []string{
		"/probe?target=http://example.invalid",
		"/probe?target=http://" + stranger + "/",
		"/probe?target=" + stranger,
		"/probe?service=Alpha&target=" + stranger,
		"/probe?module=tcp&target=" + stranger,
		"/probe?service=" + stranger,
		"/probe?service=Gamma",
		"/probe?service=Alpha&endpoint=" + stranger,
		"/probe?service=Alpha&service=Beta",
		"/probe",
	} {
		code, body := s.get(q)
		if code != 400 {
			t.Errorf("%s: %d %q, want 400", q, code, body)
		}
	}
	code, text := s.get("/probe?service=alpha")
	if code != 200 || series(t, text, "msgprobe_probe_success ") != "1" || series(t, text, `msgprobe_service_up{service="Alpha"}`) != "1" {
		t.Fatalf("/probe?service=alpha: %d\n%s", code, text)
	}
	if strings.Contains(text, `service="Beta"`) || strings.Contains(text, `service="(control)"`) {
		t.Errorf("/probe?service=alpha reports other services:\n%s", text)
	}
	// The refused requests were answered before this probe began, so a
	// connection they made would have been counted by the time this one is.
	knownAccepts.waitFor(before+1, 5*time.Second)
	if n := knownAccepts.Load(); n != before+1 {
		t.Errorf("the refused requests and /probe?service=alpha made %d connections to the configured listener, want 1", n-before)
	}
	if n := strangerAccepts.Load(); n != 0 {
		t.Fatalf("/probe connected %d times to an address no config names", n)
	}
	code, text = s.get("/probe?service=Beta&endpoint=chat")
	if code != 200 || series(t, text, `msgprobe_endpoint_up{endpoint="chat",kind="tcp",service="Beta"`) != "1" {
		t.Errorf("/probe?service=Beta&endpoint=chat: %d\n%s", code, text)
	}
}

// /probe is bounded by the scrape's timeout minus the offset.
func TestServeProbeBoundedByScrapeTimeout(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	silent := fixture.SilentTLS(t)
	writeFile(t, dir, "s.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 20s, samples: 1}
services:
  - name: Slow
    endpoints:
      - {name: tls, target: "tls://%s"}
  - name: Up
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, silent, up))
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1h", "-s", "Up")
	s.waitLog(roundLine, 15*time.Second)
	// -s keeps Slow out of the config, so /probe does not know it.
	if code, _ := s.get("/probe?service=Slow"); code != 400 {
		t.Fatalf("a service left out by -s: %d", code)
	}

	s2 := startServe(t, dir, "-c", "s.yaml", "--interval", "1h", "--deadline", "1s")
	s2.waitLog(roundLine, 15*time.Second)
	start := time.Now()
	code, text := httpGet(t, http.DefaultClient, s2.url("/probe?service=Slow"), http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"1.5"}})
	took := time.Since(start)
	if code != 200 || series(t, text, "msgprobe_probe_success ") != "0" {
		t.Fatalf("/probe of a silent server: %d\n%s", code, text)
	}
	if took < 900*time.Millisecond || took > 1800*time.Millisecond {
		t.Errorf("/probe took %v, want about 1.5s − 0.5s = 1s", took)
	}
	if code, _ := httpGet(t, http.DefaultClient, s2.url("/probe?service=Slow"), http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"0.2"}}); code != 400 {
		t.Errorf("a scrape timeout below the offset: %d", code)
	}
}

func TestServeRefusesToExposeItselfUnprotected(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	serveConfig(t, dir, "s.yaml", up, up, up)
	for _, listen := range []string{":9470", "0.0.0.0:9470", "[::]:9470", "192.0.2.1:9470"} {
		r := msgprobe(t, dir, "", "serve", "-c", "s.yaml", "--listen", listen)
		if r.code != exitUnknown || !strings.Contains(r.stderr, "msgprobe: refusing to serve on ") || !strings.Contains(r.stderr, "hint: give --web.config.file") {
			t.Errorf("--listen %s: exit %d\n%s", listen, r.code, r.stderr)
		}
	}
	r := msgprobe(t, dir, "", "serve", "-c", "s.yaml", "--listen", "nonsense")
	if r.code != exitUnknown || !strings.Contains(r.stderr, "invalid --listen") {
		t.Errorf("--listen nonsense: exit %d\n%s", r.code, r.stderr)
	}
	writeFile(t, dir, "web.yml", "tls_server_config:\n  cert_file: /nonexistent.pem\n")
	r = msgprobe(t, dir, "", "serve", "-c", "s.yaml", "--web.config.file", "web.yml")
	if r.code != exitUnknown || !strings.Contains(r.stderr, "invalid --web.config.file web.yml") {
		t.Errorf("bad web config: exit %d\n%s", r.code, r.stderr)
	}
}

// TLS and basic auth through the exporter toolkit's web config, with a
// certificate from the test CA.
func TestServeWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	serveConfig(t, dir, "s.yaml", up, up, up)
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: %s\n", hash))

	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1h", "--web.config.file", filepath.Join(dir, "web.yml"))
	s.waitLog(roundLine, 15*time.Second)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	url := "https://" + s.addr + "/metrics"
	if code, _ := httpGet(t, client, url, nil); code != 401 {
		t.Errorf("no credentials: %d, want 401", code)
	}
	auth := func(user, pass string) http.Header {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth(user, pass)
		return req.Header
	}
	if code, _ := httpGet(t, client, url, auth("prom", "wrong")); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
	code, text := httpGet(t, client, url, auth("prom", "s3cret"))
	if code != 200 || series(t, text, `msgprobe_service_up{service="Alpha"}`) != "1" {
		t.Errorf("with credentials: %d\n%s", code, text)
	}
	// Plain HTTP gets no metrics.
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served the metrics")
		}
		resp.Body.Close()
	}
}

// SIGHUP reloads the config, keeping the old one when the new one does
// not load; the state and the transitions work as in check; SIGTERM
// stops serve within 5 s, mid-round included.
func TestServeReloadStateAndStop(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	closed := fixture.ClosedPort(t)
	serveConfig(t, dir, "s.yaml", up, up, up)
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "200ms", "--state", "st.json")
	s.waitLog(regexp.MustCompile(`no state in st.json yet`), 15*time.Second)
	s.waitLogN(roundLine, 2, 15*time.Second)

	// A config that does not load: logged, the old one kept.
	writeFile(t, dir, "s.yaml", "version: 1\nservices: [\n")
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(regexp.MustCompile(`level=ERROR msg="config reload failed, keeping the previous config" err=".*s.yaml:`), 15*time.Second)
	n := len(roundLine.FindAllString(s.logText(), -1))
	s.waitLogN(roundLine, n+1, 15*time.Second)
	_, text := s.get("/metrics")
	if series(t, text, "msgprobe_config_last_reload_successful ") != "0" || series(t, text, `msgprobe_service_up{service="Beta"}`) != "1" {
		t.Fatalf("after a bad reload:\n%s", text)
	}

	// A good one: Beta goes down, which is a transition.
	serveConfig(t, dir, "s.yaml", up, up, closed)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(regexp.MustCompile(`msg="config reloaded" services=2`), 15*time.Second)
	s.waitLog(regexp.MustCompile(`msg="status changed" service=Beta from=up to=down since=\S+ runs=\d+ reason="chat: 1/1 attempts refused at connect"`), 15*time.Second)
	s.waitLog(regexp.MustCompile(`msg="status changed" service=Beta endpoint=chat from=up to=down`), 15*time.Second)
	n = len(roundLine.FindAllString(s.logText(), -1))
	s.waitLogN(roundLine, n+1, 15*time.Second)
	st, err := os.ReadFile(filepath.Join(dir, "st.json"))
	if err != nil || !regexp.MustCompile(`"Beta": \{\s+"status": "down"`).Match(st) {
		t.Fatalf("state file: %v\n%s", err, st)
	}
	_, text = s.get("/metrics")
	if series(t, text, "msgprobe_config_last_reload_successful ") != "1" || series(t, text, `msgprobe_service_up{service="Beta"}`) != "0" {
		t.Fatalf("after a good reload:\n%s", text)
	}

	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("serve still runs 5s after SIGTERM:\n%s", s.logText())
	}
	if s.code != 0 || !strings.Contains(s.logText(), "msg=stopped") {
		t.Errorf("exit %d after %v:\n%s", s.code, time.Since(start), s.logText())
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".st.json.*")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// A round that cannot finish (an endpoint that never answers) does not
// hold up SIGTERM, nor does a /probe in flight.
func TestServeStopsMidRound(t *testing.T) {
	dir := t.TempDir()
	silent := fixture.SilentTLS(t)
	writeFile(t, dir, "s.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 30s, samples: 3}
services:
  - name: Slow
    endpoints:
      - {name: tls, target: "tls://%s"}
`, silent))
	s := startServe(t, dir, "-c", "s.yaml", "--interval", "1m")
	if code, _ := s.get("/-/ready"); code != 503 {
		t.Errorf("/-/ready before the first round: %d, want 503", code)
	}
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		resp, err := http.Get(s.url("/probe?service=Slow"))
		if err == nil {
			resp.Body.Close()
		}
	}()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("serve still runs 5s after SIGTERM:\n%s", s.logText())
	}
	<-probing
	if s.code != 0 {
		t.Errorf("exit %d after %v:\n%s", s.code, time.Since(start), s.logText())
	}
}
