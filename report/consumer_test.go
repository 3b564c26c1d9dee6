package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fatih/color"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgprobe/msgprobe/probe"
)

// hostile is the fixture with names and messages that break naive
// formatting: separators of every format, quotes, a backslash, line breaks
// and non-ASCII letters.
func hostile() *probe.Report {
	r := fixture()
	r.Services[0].Service.Name = `Whats"App, Inc.` + "\n" + `|=\`
	r.Services[0].Endpoints[0].Endpoint.Name = `it's web|eu=1`
	r.Services[1].Service.Name = "Сигнал ✓"
	r.Services[1].Endpoints[0].Reason = "1/3 timed out,\n\"slow\" | p50 *1.24s* > 1s <b>"
	r.Controls[1].Endpoint.Name = "quad9\tdns"
	return r
}

func endpointTotal(r *probe.Report) int {
	n := len(r.Controls)
	for _, s := range r.Services {
		n += len(s.Endpoints)
	}
	return n
}

func TestCSVReadsBack(t *testing.T) {
	for name, r := range map[string]*probe.Report{"fixture": fixture(), "hostile": hostile()} {
		t.Run(name, func(t *testing.T) {
			out := render(t, "csv", Options{}, r)
			if strings.Count(out, "\r\n") != strings.Count(out, "\n") || !strings.HasSuffix(out, "\r\n") {
				t.Errorf("lines do not all end in CRLF (RFC 4180): %q", out)
			}
			cr := csv.NewReader(strings.NewReader(out))
			cr.FieldsPerRecord = -1
			rows, err := cr.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2+endpointTotal(r) {
				t.Fatalf("%d rows, want a header, %d endpoints and the diagnosis", len(rows), endpointTotal(r))
			}
			for i, row := range rows {
				if len(row) != len(csvHeader) {
					t.Errorf("row %d has %d columns, want %d: %q", i, len(row), len(csvHeader), row)
				}
			}
			if got := rows[1][0]; got != r.Services[0].Service.Name {
				t.Errorf("service column %q, want %q", got, r.Services[0].Service.Name)
			}
			if last := rows[len(rows)-2]; last[0] != csvControl {
				t.Errorf("last endpoint row's service %q, want the control marker %q", last[0], csvControl)
			}
			if d := rows[len(rows)-1]; d[0] != csvDiagnosis || d[1] != r.Diagnosis.Code || d[13] != r.Diagnosis.Message {
				t.Errorf("diagnosis row %q, want %s %q", d, r.Diagnosis.Code, r.Diagnosis.Message)
			}
			for i, row := range rows[1:] {
				if strings.ContainsAny(row[13], "\r\n") {
					t.Errorf("row %d: reason spans lines: %q", i+1, row[13])
				}
			}
		})
	}
}

func TestCSVAbsentMeasurementsEmpty(t *testing.T) {
	cr := csv.NewReader(strings.NewReader(render(t, "csv", Options{}, fixture())))
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		if row[col["service"]] == "Telegram" && row[col["endpoint"]] == "api" {
			if row[col["p50_ms"]] != "" || row[col["http_status"]] != "" {
				t.Errorf("down tcp endpoint shows p50 %q, http_status %q; want both empty", row[col["p50_ms"]], row[col["http_status"]])
			}
			if row[col["class"]] != "connection_refused" || row[col["phase"]] != "connect" {
				t.Errorf("class/phase %q/%q, want connection_refused/connect", row[col["class"]], row[col["phase"]])
			}
			return
		}
	}
	t.Fatal("no Telegram/api row")
}

type xmlSuites struct {
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Suites   []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Skipped  int       `xml:"skipped,attr"`
	Cases    []xmlCase `xml:"testcase"`
}

type xmlCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Body    string `xml:",chardata"`
	} `xml:"failure"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
}

func decodeJUnit(t *testing.T, opt Options, r *probe.Report) xmlSuites {
	t.Helper()
	var s xmlSuites
	if err := xml.Unmarshal([]byte(render(t, "junit", opt, r)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJUnitCountsAgree(t *testing.T) {
	for _, failOn := range []probe.Status{probe.Up, probe.Degraded, probe.Down, FailNever} {
		s := decodeJUnit(t, Options{FailOn: failOn}, hostile())
		var tests, failures, skipped int
		for _, suite := range s.Suites {
			var f, sk int
			for _, c := range suite.Cases {
				if c.Failure != nil {
					f++
				}
				if c.Skipped != nil {
					sk++
				}
			}
			if suite.Tests != len(suite.Cases) || suite.Failures != f || suite.Skipped != sk || suite.Errors != 0 {
				t.Errorf("fail-on %v: suite %q says tests=%d failures=%d skipped=%d errors=%d, has %d cases, %d failures, %d skipped",
					failOn, suite.Name, suite.Tests, suite.Failures, suite.Skipped, suite.Errors, len(suite.Cases), f, sk)
			}
			tests, failures, skipped = tests+suite.Tests, failures+suite.Failures, skipped+suite.Skipped
		}
		// <testsuites> has no skipped attribute in the xunit schema.
		if s.Tests != tests || s.Failures != failures || s.Skipped != 0 || skipped == 0 {
			t.Errorf("fail-on %v: testsuites says %d/%d/%d, suites add up to %d/%d/%d", failOn, s.Tests, s.Failures, s.Skipped, tests, failures, skipped)
		}
		if s.Tests != endpointTotal(hostile()) {
			t.Errorf("%d test cases, want one per endpoint and control (%d)", s.Tests, endpointTotal(hostile()))
		}
	}
}

func TestJUnitDegradedFollowsFailOn(t *testing.T) {
	find := func(s xmlSuites, suite, name string) xmlCase {
		t.Helper()
		for _, su := range s.Suites {
			for _, c := range su.Cases {
				if su.Name == suite && c.Name == name {
					return c
				}
			}
		}
		t.Fatalf("no test case %s/%s", suite, name)
		return xmlCase{}
	}
	for _, c := range []struct {
		failOn         probe.Status
		degradedFailed bool
	}{
		{probe.Degraded, true},
		{probe.Down, false},
		{FailNever, false},
	} {
		s := decodeJUnit(t, Options{FailOn: c.failOn}, fixture())
		if got := find(s, "Signal", "chat").Failure != nil; got != c.degradedFailed {
			t.Errorf("fail-on %v: degraded endpoint failed=%v, want %v", c.failOn, got, c.degradedFailed)
		}
		down := find(s, "Telegram", "api")
		if down.Failure == nil || down.Failure.Type != "connection_refused" || down.Failure.Message != "3/3 attempts refused at connect" {
			t.Errorf("fail-on %v: down endpoint's failure = %+v", c.failOn, down.Failure)
		}
		if !strings.Contains(down.Failure.Body, "connection refused") {
			t.Errorf("failure body lacks the error message: %q", down.Failure.Body)
		}
		if un := find(s, "Olvid", "server"); un.Skipped == nil || un.Failure != nil {
			t.Errorf("unknown endpoint is not skipped: %+v", un)
		}
		if ctl := find(s, "controls", "quad9"); ctl.Classname != "controls" || ctl.Failure == nil {
			t.Errorf("down control: %+v", ctl)
		}
	}
}

// When every control fails the services are unknown while their endpoints
// keep their own (mostly down) statuses: CI must see skipped tests, not
// failures, each with its own reason and the note saying why it was not
// judged.
func TestJUnitUnknownServiceSkipsItsEndpoints(t *testing.T) {
	r := fixture()
	r.Note = "every control endpoint failed"
	for i := range r.Services {
		r.Services[i].Status, r.Services[i].Reason = probe.Unknown, ""
	}
	s := decodeJUnit(t, Options{FailOn: probe.Degraded}, r)
	for _, su := range s.Suites {
		for _, c := range su.Cases {
			if su.Name == "controls" {
				continue
			}
			if c.Failure != nil || c.Skipped == nil || c.Skipped.Message != r.Note && !strings.HasSuffix(c.Skipped.Message, "(not judged: "+r.Note+")") {
				t.Errorf("%s/%s: failure %+v, skipped %+v; want skipped with its reason and the note", su.Name, c.Name, c.Failure, c.Skipped)
			}
		}
	}
	if s.Failures != 1 {
		t.Errorf("%d failures, want only the down control", s.Failures)
	}
	reasons := map[string]bool{}
	for _, su := range s.Suites {
		for _, c := range su.Cases {
			if c.Skipped != nil {
				reasons[c.Skipped.Message] = true
			}
		}
	}
	if len(reasons) < 3 {
		t.Errorf("skipped cases share their reasons: %v", reasons)
	}
}

func TestJSONOmitsAbsentMeasurements(t *testing.T) {
	out := render(t, "json", Options{}, fixture())
	if strings.Contains(out, `"http_status": 0`) {
		t.Error(`json has "http_status": 0`)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "started_at", "duration_ms", "status", "summary", "note", "controls", "services"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("top-level key %q missing", k)
		}
	}
	if doc["duration_ms"] != 812.4 || doc["started_at"] != "2026-11-25T09:38:00Z" || doc["version"] != 1.0 {
		t.Errorf("version/started_at/duration_ms = %v/%v/%v", doc["version"], doc["started_at"], doc["duration_ms"])
	}
	eps := map[string]map[string]any{}
	for _, s := range doc["services"].([]any) {
		sm := s.(map[string]any)
		for _, e := range sm["endpoints"].([]any) {
			eps[sm["name"].(string)+"/"+e.(map[string]any)["name"].(string)] = e.(map[string]any)
		}
	}
	down := eps["Telegram/api"]
	for _, k := range []string{"latency_ms", "phases_ms", "http_status", "tls", "role"} {
		if _, ok := down[k]; ok {
			t.Errorf("down tcp endpoint has %q: %v", k, down[k])
		}
	}
	if _, ok := down["errors"]; !ok {
		t.Error("down endpoint has no errors")
	}
	chat := eps["WhatsApp/chat"]
	phases := chat["phases_ms"].(map[string]any)
	if _, ok := phases["tls"]; ok {
		t.Error("tcp endpoint has a tls phase")
	}
	if _, ok := chat["errors"]; ok {
		t.Error("endpoint without failures has errors")
	}
	if chat["role"] != "messaging" || chat["critical"] != true {
		t.Errorf("role/critical = %v/%v", chat["role"], chat["critical"])
	}
	web := eps["WhatsApp/web"]
	if got := web["phases_ms"].(map[string]any)["ttfb"]; got != 0.04 {
		t.Errorf("a measured 40µs phase must keep its microseconds (0.04), got %v", got)
	}
	tlsInfo := web["tls"].(map[string]any)
	if tlsInfo["version"] != "TLS 1.3" || tlsInfo["days_left"] != 46.0 || tlsInfo["not_after"] != "2027-01-10T00:00:00Z" || tlsInfo["verified"] != true {
		t.Errorf("tls = %v", tlsInfo)
	}
	if lat := web["latency_ms"].(map[string]any); lat["p50"] != 42.3 || lat["p95"] != 55.1 {
		t.Errorf("latency_ms = %v", lat)
	}
	if v := eps["Signal/cdn"]["tls"].(map[string]any)["verified"]; v != false {
		t.Errorf("skipped verification not shown: verified=%v", v)
	}
	if !strings.HasSuffix(out, "}\n") || !strings.Contains(out, "\n  \"version\": 1,") {
		t.Error("json is not indented by two spaces with a trailing newline")
	}
}

func TestJSONEmptyListsAreArrays(t *testing.T) {
	out := render(t, "json", Options{}, &probe.Report{Services: []probe.ServiceResult{{Service: &probe.Service{Name: "x"}}}})
	for _, want := range []string{`"controls": []`, `"tags": []`, `"endpoints": []`, `"note": ""`} {
		if !strings.Contains(out, want) {
			t.Errorf("json lacks %s:\n%s", want, out)
		}
	}
}

func parseProm(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return fams
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestPrometheusParsesBack(t *testing.T) {
	r := hostile()
	text := render(t, "prometheus", Options{}, r)
	fams := parseProm(t, text)
	for _, name := range []string{
		"msgprobe_endpoint_up", "msgprobe_endpoint_status", "msgprobe_endpoint_latency_seconds",
		"msgprobe_endpoint_phase_seconds", "msgprobe_endpoint_failures", "msgprobe_endpoint_attempts",
		"msgprobe_tls_cert_not_after_timestamp_seconds", "msgprobe_service_status", "msgprobe_service_up",
		"msgprobe_run_duration_seconds", "msgprobe_last_run_timestamp_seconds", "msgprobe_run_status",
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("metric %s missing", name)
			continue
		}
		want := dto.MetricType_GAUGE
		if name == "msgprobe_endpoint_latency_seconds" {
			want = dto.MetricType_SUMMARY
		}
		if f.GetType() != want || f.GetHelp() == "" {
			t.Errorf("%s: type %v, help %q; want a %v with help", name, f.GetType(), f.GetHelp(), want)
		}
	}
	if !strings.Contains(text, "# TYPE msgprobe_endpoint_up gauge") || !strings.Contains(text, "# HELP msgprobe_endpoint_up ") {
		t.Error("no HELP/TYPE lines")
	}

	// The hostile service name survives the round trip exactly.
	wantService := r.Services[0].Service.Name
	found := false
	for _, m := range fams["msgprobe_service_up"].GetMetric() {
		if labels(m)["service"] == wantService {
			found = true
		}
	}
	if !found {
		t.Errorf("service label %q did not round-trip", wantService)
	}

	// Exactly one status series per endpoint is 1.
	ones := map[string]int{}
	for _, m := range fams["msgprobe_endpoint_status"].GetMetric() {
		l := labels(m)
		key := l["service"] + "/" + l["endpoint"]
		if m.GetGauge().GetValue() == 1 {
			ones[key]++
		}
	}
	if len(ones) != endpointTotal(r) {
		t.Errorf("%d endpoints with a status set, want %d", len(ones), endpointTotal(r))
	}
	for k, n := range ones {
		if n != 1 {
			t.Errorf("%s has %d statuses set", k, n)
		}
	}

	for _, m := range fams["msgprobe_endpoint_latency_seconds"].GetMetric() {
		l := labels(m)
		if l["service"] == "Telegram" {
			t.Errorf("down endpoint %s has a latency", l["endpoint"])
		}
	}
	if v := fams["msgprobe_run_duration_seconds"].GetMetric()[0].GetGauge().GetValue(); v != 0.8124 {
		t.Errorf("run duration %v, want 0.8124", v)
	}
	want := float64(fixedNow.UnixMilli())/1e3 + 0.812
	if v := fams["msgprobe_last_run_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); v != want {
		t.Errorf("last run %v, want %v", v, want)
	}
	for _, m := range fams["msgprobe_endpoint_up"].GetMetric() {
		if l := labels(m); l["endpoint"] == "quad9\tdns" && l["service"] != csvControl {
			t.Errorf("control labelled service=%q, want %q", l["service"], csvControl)
		}
	}
}

// Duplicates would make Prometheus reject the whole file: the first
// endpoint and the first service of each label set are written, the others
// left out.
func TestPrometheusDuplicatesFirstWins(t *testing.T) {
	r := fixture()
	s := &r.Services[0]
	dup := s.Endpoints[0]
	dup.Attempts, dup.Failures, dup.Status = dup.Attempts[:1], 1, probe.Down
	s.Endpoints = append(s.Endpoints, dup)
	again := r.Services[0]
	again.Status = probe.Down
	r.Services = append(r.Services, again)
	// A service named like the controls' marker comes before the controls.
	r.Services = append(r.Services, probe.ServiceResult{
		Service: &probe.Service{Name: csvControl}, Status: probe.Down,
		Endpoints: []probe.EndpointResult{{Endpoint: r.Controls[0].Endpoint, Status: probe.Down, Attempts: r.Controls[0].Attempts[:2]}},
	})

	fams := parseProm(t, render(t, "prometheus", Options{}, r))
	count := map[string]int{}
	for _, m := range fams["msgprobe_endpoint_attempts"].GetMetric() {
		l := labels(m)
		key := l["service"] + "/" + l["endpoint"]
		count[key]++
		switch key {
		case "WhatsApp/web":
			if v := m.GetGauge().GetValue(); v != 3 {
				t.Errorf("WhatsApp/web has %v attempts, want the first endpoint's 3", v)
			}
		case csvControl + "/cloudflare":
			if v := m.GetGauge().GetValue(); v != 2 {
				t.Errorf("(control)/cloudflare has %v attempts, want the service endpoint's 2, which comes first", v)
			}
		}
	}
	for key, n := range count {
		if n != 1 {
			t.Errorf("%s written %d times", key, n)
		}
	}
	if count["WhatsApp/web"] != 1 {
		t.Error("WhatsApp/web missing")
	}
	for _, m := range fams["msgprobe_service_up"].GetMetric() {
		if labels(m)["service"] == "WhatsApp" && m.GetGauge().GetValue() != 1 {
			t.Error("WhatsApp is down: the second service of that name won")
		}
	}
	if n := len(fams["msgprobe_service_status"].GetMetric()); n != 4*5 {
		t.Errorf("%d service status series, want 4 statuses of 5 services", n)
	}
}

// The renderer writes the text itself; client_golang and expfmt define
// what it must be. Gathering the parsed families through client_golang
// sorts them and their series as a registry does and rejects
// inconsistencies (duplicates, label sets that differ), and expfmt writes
// them back: the result must be the very bytes the renderer wrote.
func TestPrometheusMatchesClientGolang(t *testing.T) {
	interleaved := fixture()
	wa := &interleaved.Services[0]
	// Same service, endpoint name and kind, other targets: their status
	// series interleave by status, which sorts before target.
	for _, tgt := range []string{"https://a.whatsapp.com/", "https://z.whatsapp.com/"} {
		e := wa.Endpoints[0]
		ep := *e.Endpoint
		ep.Target = tgt
		e.Endpoint, e.Status = &ep, probe.Degraded
		e.Phases.TTFB = 0
		wa.Endpoints = append(wa.Endpoints, e)
	}
	// Same endpoint name and kind in a service that sorts first: phase
	// series interleave by phase, which sorts before service.
	aa := interleaved.Services[0]
	aa.Service = &probe.Service{Name: "Aaa"}
	aa.Endpoints = aa.Endpoints[:1:1]
	interleaved.Services = append(interleaved.Services, aa)

	badUTF8 := hostile()
	badUTF8.Services[2].Service.Name = "Tele\xffgram"
	badUTF8.Services[2].Endpoints[0].Endpoint.Name = "a\xc3"
	badUTF8.Diagnosis.Code = "ok\xfe"

	noDiagnosis := fixture()
	noDiagnosis.Diagnosis = probe.Diagnosis{}

	cases := map[string]*probe.Report{
		"fixture": fixture(), "hostile": hostile(), "interleaved": interleaved,
		"invalid utf-8": badUTF8, "no diagnosis": noDiagnosis, "empty": {},
	}
	if !testing.Short() {
		cases["bench"] = benchReport()
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			text := render(t, "prometheus", Options{}, r)
			fams := parseProm(t, text)
			gathered, err := prometheus.Gatherers{prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
				out := make([]*dto.MetricFamily, 0, len(fams))
				for _, f := range fams {
					out = append(out, f)
				}
				return out, nil
			})}.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range gathered {
				if err := enc.Encode(f); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.String(); got != text {
				t.Errorf("expfmt writes it differently:\n%s", firstDifference(text, got))
			}
		})
	}
}

// firstDifference shows the first line where two texts differ, not both
// texts in full: the bench report is megabytes.
func firstDifference(ours, theirs string) string {
	a, b := strings.Split(ours, "\n"), strings.Split(theirs, "\n")
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  ours:   " + a[i] + "\n  expfmt: " + b[i]
		}
	}
	return "ours has " + strconv.Itoa(len(a)) + " lines, expfmt " + strconv.Itoa(len(b))
}

func TestPrometheusFamiliesInNameOrder(t *testing.T) {
	if !slices.IsSortedFunc(promFamilies, func(a, b *promFamily) int { return strings.Compare(a.name, b.name) }) {
		t.Error("promFamilies is not in name order")
	}
}

// Every label value of the hostile report reads back as it was.
func TestPrometheusHostileLabelsRoundTrip(t *testing.T) {
	r := hostile()
	want := map[[4]string]bool{}
	add := func(service string, e *probe.EndpointResult) {
		want[[4]string{service, e.Endpoint.Name, e.Endpoint.Target, string(e.Endpoint.Kind)}] = true
	}
	for _, s := range r.Services {
		for i := range s.Endpoints {
			add(s.Service.Name, &s.Endpoints[i])
		}
	}
	for i := range r.Controls {
		add(csvControl, &r.Controls[i])
	}
	fams := parseProm(t, render(t, "prometheus", Options{}, r))
	for _, name := range []string{"msgprobe_endpoint_up", "msgprobe_endpoint_attempts", "msgprobe_endpoint_failures"} {
		got := map[[4]string]bool{}
		for _, m := range fams[name].GetMetric() {
			l := labels(m)
			got[[4]string{l["service"], l["endpoint"], l["target"], l["kind"]}] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s label sets:\n got %q\nwant %q", name, slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(want)))
		}
	}
}

func TestPrometheusDiagnosis(t *testing.T) {
	fams := parseProm(t, render(t, "prometheus", Options{}, fixture()))
	ms := fams["msgprobe_diagnosis"].GetMetric()
	if len(ms) != 1 || labels(ms[0])["code"] != probe.DiagServiceOutage || ms[0].GetGauge().GetValue() != 1 {
		t.Errorf("msgprobe_diagnosis = %v, want one series code=%q of value 1", ms, probe.DiagServiceOutage)
	}
	if fams["msgprobe_diagnosis"].GetHelp() == "" || fams["msgprobe_diagnosis"].GetType() != dto.MetricType_GAUGE {
		t.Error("msgprobe_diagnosis is not a gauge with help")
	}
	r := fixture()
	r.Diagnosis = probe.Diagnosis{}
	if out := render(t, "prometheus", Options{}, r); strings.Contains(out, "msgprobe_diagnosis") {
		t.Errorf("a run without a diagnosis has the family:\n%s", out)
	}
}

func TestPrometheusFloats(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {0.0905, "0.0905"}, {4e-05, "4e-05"},
		{1.795599480812e+09, "1.795599480812e+09"}, {1e21, "1e+21"}, {200, "200"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	} {
		if got := string(appendPromFloat(nil, c.v)); got != c.want {
			t.Errorf("%v written %q, want %q", c.v, got, c.want)
		}
	}
}

func TestPrometheusEscaping(t *testing.T) {
	for _, c := range []struct {
		in, label, help string
	}{
		{`plain`, `plain`, `plain`},
		{`a"b`, `a\"b`, `a"b`},
		{`a\b`, `a\\b`, `a\\b`},
		{"a\nb", `a\nb`, `a\nb`},
		{"\"\\\n", `\"\\\n`, `"\\\n`},
		{"tab\tи ✓", "tab\tи ✓", "tab\tи ✓"},
	} {
		for _, q := range []struct {
			quotes bool
			want   string
		}{{true, c.label}, {false, c.help}} {
			var b strings.Builder
			w := bufio.NewWriter(&b)
			writeEscaped(w, c.in, q.quotes)
			w.Flush()
			if b.String() != q.want {
				t.Errorf("%q escaped (quotes %v) as %q, want %q", c.in, q.quotes, b.String(), q.want)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPrometheusWriteError(t *testing.T) {
	if err := NewPrometheus(Options{}).Render(failingWriter{}, fixture()); err == nil || err.Error() != "disk full" {
		t.Errorf("Render to a failing writer = %v, want its error", err)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestTableColorsKeepAlignment(t *testing.T) {
	r := hostile()
	plain := render(t, "table", Options{}, r)
	colored := render(t, "table", Options{Color: true}, r)
	if strings.Contains(plain, "\x1b[") {
		t.Error("Color=false output has escape codes")
	}
	if !strings.Contains(colored, "\x1b[") {
		t.Error("Color=true output has no escape codes")
	}
	if got := ansi.ReplaceAllString(colored, ""); got != plain {
		t.Errorf("colored table without its escape codes differs from the plain one:\n%s\nplain:\n%s", got, plain)
	}

	lines := strings.Split(plain, "\n")
	header := []rune(lines[0])
	var offsets []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			offsets = append(offsets, i)
		}
	}
	if len(offsets) != numCols {
		t.Fatalf("header %q has %d columns", lines[0], len(offsets))
	}
	rows := 0
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "note:") || strings.HasPrefix(line, "diagnosis:") || strings.Contains(line, " · ") {
			continue
		}
		rows++
		rs := []rune(line)
		for c := 1; c < numCols; c++ {
			o := offsets[c]
			if o > len(rs) {
				break
			}
			// A column boundary is a gap on every row: two spaces before
			// the column (the last cell ends at least two cells earlier).
			if rs[o-1] != ' ' || rs[o-2] != ' ' {
				t.Errorf("row %q: no gap before column %s at offset %d", line, tableHeader[c], o)
			}
		}
		// Status words start exactly under STATUS.
		st := offsets[colStatus]
		if len(rs) > st {
			word := strings.Fields(string(rs[st:]))[0]
			if _, err := probe.ParseStatus(word); err != nil {
				t.Errorf("row %q: %q under STATUS is not a status", line, word)
			}
		}
	}
	if rows != 1+len(r.Services)+endpointTotal(r) {
		t.Errorf("%d table rows, want %d", rows, 1+len(r.Services)+endpointTotal(r))
	}
	for _, line := range lines {
		if strings.HasSuffix(line, " ") {
			t.Errorf("line ends in spaces: %q", line)
		}
	}
}

// The global color.NoColor reflects the process's stdout; a renderer told
// to color must color anyway, and one told not to must not.
func TestTableIgnoresGlobalNoColor(t *testing.T) {
	saved := color.NoColor
	t.Cleanup(func() { color.NoColor = saved })

	color.NoColor = true
	if out := render(t, "table", Options{Color: true}, fixture()); !strings.Contains(out, "\x1b[") {
		t.Error("Color=true gave no colors while color.NoColor is set")
	}
	color.NoColor = false
	if out := render(t, "table", Options{Color: false}, fixture()); strings.Contains(out, "\x1b[") {
		t.Error("Color=false gave colors while color.NoColor is unset")
	}
}

func TestTableDetail(t *testing.T) {
	out := render(t, "table", Options{}, fixture())
	for _, want := range []string{
		"HTTP 200, TLS 1.3, cert 46d",
		"HTTP 200, TLS 1.2, cert not verified",
		"note: 1 of 2 controls failed: quad9",
		"4 services: 1 up, 1 degraded, 1 down, 1 unknown · 7 endpoints · 2 controls · 812ms",
		"1.24s",
		"1/3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// nagiosPerf is one perfdata item: a latency with its warning threshold,
// or U for an endpoint that had no successful attempt.
const nagiosPerf = `'([^'=|\n]|'')+'=([0-9]+(\.[0-9]+)?ms;[0-9]*(\.[0-9]+)?;;0|U)`

var nagiosLine = regexp.MustCompile(`^MSGPROBE (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| ` + nagiosPerf + `( ` + nagiosPerf + `)*)?\n$`)

func TestNagios(t *testing.T) {
	allUp := fixture()
	allUp.Status, allUp.Note = probe.Up, ""
	for i := range allUp.Services {
		allUp.Services[i].Status = probe.Up
	}
	down := fixture()
	down.Status, down.Note = probe.Down, ""
	down.Services[3].Status = probe.Down
	warn := fixture()
	warn.Status = probe.Degraded
	warn.Services = warn.Services[:2]

	for _, c := range []struct {
		name string
		r    *probe.Report
		want string
	}{
		{"ok", allUp, "MSGPROBE OK - 4 services up | "},
		{"critical", down, "MSGPROBE CRITICAL - 2 down: Telegram, Olvid; 1 degraded: Signal | "},
		{"warning", warn, "MSGPROBE WARNING - 1 degraded: Signal | 'WhatsApp/web'=42.3ms;800;;0 "},
		{"unknown", fixture(), "MSGPROBE UNKNOWN - 1 of 2 controls failed: quad9 | "},
		{"hostile", hostile(), "MSGPROBE UNKNOWN - 1 of 2 controls failed: quad9 | "},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, "nagios", Options{}, c.r)
			if !nagiosLine.MatchString(out) {
				t.Errorf("not a plugin line: %q", out)
			}
			if !strings.HasPrefix(out, c.want) {
				t.Errorf("got %q, want it to start with %q", out, c.want)
			}
		})
	}
	out := render(t, "nagios", Options{}, hostile())
	if !strings.Contains(out, `'Whats"App, Inc. /_\/it''s web/eu_1'=42.3ms;800;;0`) {
		t.Errorf("hostile label not escaped as expected: %q", out)
	}
}

// The state word is the exit code's whatever --fail-on says, and the text
// still names what is not up.
func TestNagiosStateFollowsFailOn(t *testing.T) {
	down := fixture()
	down.Status, down.Note = probe.Down, ""
	degraded := fixture()
	degraded.Status, degraded.Services = probe.Degraded, degraded.Services[:2]
	for _, c := range []struct {
		failOn probe.Status
		r      *probe.Report
		want   string
	}{
		{FailNever, down, "MSGPROBE OK - 1 unknown: Olvid; 1 down: Telegram; 1 degraded: Signal |"},
		{probe.Down, down, "MSGPROBE CRITICAL - "},
		{probe.Down, degraded, "MSGPROBE OK - 1 degraded: Signal |"},
		{probe.Degraded, degraded, "MSGPROBE WARNING - 1 degraded: Signal |"},
		{FailNever, fixture(), "MSGPROBE UNKNOWN - "},
	} {
		out := render(t, "nagios", Options{FailOn: c.failOn}, c.r)
		if !strings.HasPrefix(out, c.want) {
			t.Errorf("fail-on %v, %s: got %q, want %q", c.failOn, c.r.Status, out, c.want)
		}
	}
	if out := render(t, "nagios", Options{}, down); !strings.Contains(out, " 'Telegram/api'=U ") {
		t.Errorf("a down endpoint lost its perfdata label: %q", out)
	}
}

func TestNagiosDownServicesNamed(t *testing.T) {
	r := fixture()
	r.Status, r.Note = probe.Unknown, ""
	out := render(t, "nagios", Options{}, r)
	if !strings.HasPrefix(out, "MSGPROBE UNKNOWN - 1 unknown: Olvid; 1 down: Telegram; 1 degraded: Signal |") {
		t.Errorf("got %q", out)
	}
}

// mdCells splits a table row on the pipes that are not escaped.
func mdCells(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

func TestMarkdownCellsStayCells(t *testing.T) {
	out := render(t, "markdown", Options{}, hostile())
	rows := 0
	cells := 6
	for _, line := range strings.Split(out, "\n") {
		if line == "### Controls" {
			cells = 5
		}
		if !strings.HasPrefix(line, "|") {
			continue
		}
		rows++
		if n := mdCells(line); n != cells {
			t.Errorf("row has %d cells, want %d: %q", n, cells, line)
		}
	}
	if want := 2*2 + len(hostile().Services) + endpointTotal(hostile()); rows != want {
		t.Errorf("%d table lines, want %d:\n%s", rows, want, out)
	}
	for _, want := range []string{"✅ up", "⚠️ degraded", "❌ down", "❔ unknown", `\<b\>`, `\*1.24s\*`} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

// promlint holds the rules `promtool check metrics` applies, so the textfile
// is checked as node_exporter's users check it even where promtool is not
// installed.
func TestPrometheusPassesPromlint(t *testing.T) {
	for name, r := range map[string]*probe.Report{"fixture": fixture(), "hostile": hostile()} {
		problems, err := promlint.New(strings.NewReader(render(t, "prometheus", Options{}, r))).Lint()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
}
