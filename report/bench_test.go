package report

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// benchReport is a report of 1,000 services of ten endpoints each, in the
// mix a large fleet shows: mostly up with TLS details, one endpoint in ten
// degraded and one down.
func benchReport() *probe.Report {
	start := time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)
	ms := time.Millisecond
	info := &probe.TLSInfo{Version: tls.VersionTLS13, NotAfter: start.Add(90 * 24 * time.Hour), Subject: "chat.test", Issuer: "bench CA", Verified: true}
	refused := &probe.Failure{Class: probe.ClassConnectionRefused, Phase: probe.PhaseConnect, Err: errors.New("connect: connection refused")}
	rep := &probe.Report{StartedAt: start, Duration: 9 * time.Second, Services: make([]probe.ServiceResult, 1000)}
	for i := range rep.Services {
		svc := &probe.Service{Name: fmt.Sprintf("service-%04d", i), Tags: []string{"bench"}}
		eps := make([]probe.EndpointResult, 10)
		for j := range eps {
			ep := &probe.Endpoint{
				Service: svc.Name, Name: fmt.Sprintf("e%d", j), Kind: probe.KindHTTPS,
				Target:   fmt.Sprintf("https://127.0.0.1:%d/", 40000+j),
				Settings: probe.Settings{Timeout: 10 * time.Second, Samples: 3, DegradedLatency: 5 * time.Second, CertMinDays: 7},
			}
			svc.Endpoints = append(svc.Endpoints, ep)
			as := make([]probe.Attempt, 3)
			for k := range as {
				as[k] = probe.Attempt{Start: start, HTTPStatus: 200, TLS: info,
					Timings: probe.Timings{Connect: 200 * time.Microsecond, TLS: 2 * ms, TTFB: ms, Total: time.Duration(3+k) * ms}}
			}
			switch j {
			case 3:
				as[1] = probe.Attempt{Start: start, Failure: refused, Timings: probe.Timings{Total: ms}}
			case 7:
				for k := range as {
					as[k] = probe.Attempt{Start: start, Failure: refused, Timings: probe.Timings{Total: ms}}
				}
			}
			eps[j] = probe.JudgeEndpoint(ep, as, start)
		}
		rep.Services[i] = probe.JudgeService(svc, eps)
	}
	probe.JudgeRun(rep)
	return rep
}

// BenchmarkRender renders a 10,000-endpoint report in every format.
func BenchmarkRender(b *testing.B) {
	rep := benchReport()
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			r, err := New(format, Options{})
			if err != nil {
				b.Fatal(err)
			}
			w := &countingWriter{}
			b.ReportAllocs()
			for b.Loop() {
				w.n = 0
				if err := r.Render(w, rep); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n), "out-bytes")
		})
	}
}

// countingWriter discards what it is given and counts it, the size of the
// report rendered.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return io.Discard.Write(p)
}
