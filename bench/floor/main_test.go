package main

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// TestRunCountsEveryAttempt runs the floor against servers of its own: each
// kind succeeds against a trusted server, and fails when the certificate is
// not trusted or nothing listens.
func TestRunCountsEveryAttempt(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	wrongCA := filepath.Join(dir, "other.pem")
	// Every httptest server shares one certificate, so the untrusted CA is
	// made here.
	for path, der := range map[string][]byte{caFile: srv.Certificate().Raw, wrongCA: fixture.NewCA(t).Cert().Raw} {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	addr := srv.Listener.Addr().String()
	tests := []struct {
		name   string
		target string
		ca     string
		ok     bool
	}{
		{"tcp", "tcp://" + addr, "", true},
		{"tls", "tls://" + addr, caFile, true},
		{"https", "https://" + addr + "/", caFile, true},
		{"tls untrusted", "tls://" + addr, wrongCA, false},
		{"https untrusted", "https://" + addr + "/", wrongCA, false},
		{"tcp refused", "tcp://" + closed, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "c.yaml")
			yaml := fmt.Sprintf("version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: %s\n        tls: {ca_file: %q}\n      - target: %s\n        tls: {ca_file: %q}\n",
				tt.target, tt.ca, tt.target, tt.ca)
			if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			probes, err := prepare(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := run(probes, 3, 2, 10*time.Second)
			want := summary{Endpoints: 2, Attempts: 6, OK: 6}
			if !tt.ok {
				want.OK, want.Failed = 0, 6
			}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}
