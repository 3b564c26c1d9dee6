package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
)

// probeFunc is one attempt: it returns nil when the attempt succeeded.
type probeFunc func(ctx context.Context) error

// prepare does once, before any attempt, everything msgprobe may do once:
// parse targets, read and parse CA files, build TLS configs and HTTP clients.
// The attempts then do only network work.
func prepare(cfg *config) ([]probeFunc, error) {
	pools := map[string]*x509.CertPool{}
	tlsConfs := map[[2]string]*tls.Config{}
	clients := map[string]*http.Client{}

	pool := func(caFile string) (*x509.CertPool, error) {
		if caFile == "" {
			return nil, nil // the system roots
		}
		if p, ok := pools[caFile]; ok {
			return p, nil
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		pools[caFile] = p
		return p, nil
	}
	tlsConf := func(caFile, serverName string) (*tls.Config, error) {
		key := [2]string{caFile, serverName}
		if c, ok := tlsConfs[key]; ok {
			return c, nil
		}
		p, err := pool(caFile)
		if err != nil {
			return nil, err
		}
		c := &tls.Config{RootCAs: p, ServerName: serverName}
		tlsConfs[key] = c
		return c, nil
	}
	client := func(caFile string) (*http.Client, error) {
		if c, ok := clients[caFile]; ok {
			return c, nil
		}
		p, err := pool(caFile)
		if err != nil {
			return nil, err
		}
		c := &http.Client{
			Transport: &http.Transport{
				Proxy:             nil,
				DialContext:       (&net.Dialer{}).DialContext,
				TLSClientConfig:   &tls.Config{RootCAs: p},
				DisableKeepAlives: true, // a fresh connection per attempt
			},
			// msgprobe's default: a redirect is an answer, not a hop.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		clients[caFile] = c
		return c, nil
	}

	var d net.Dialer
	probes := make([]probeFunc, 0, len(cfg.endpoints))
	for _, e := range cfg.endpoints {
		u, err := url.Parse(e.target)
		if err != nil {
			return nil, err
		}
		target := e.target
		switch u.Scheme {
		case "tcp":
			addr := u.Host
			probes = append(probes, func(ctx context.Context) error {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					return err
				}
				return c.Close()
			})
		case "tls":
			addr := u.Host
			conf, err := tlsConf(e.caFile, u.Hostname())
			if err != nil {
				return nil, err
			}
			probes = append(probes, func(ctx context.Context) error {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				return tls.Client(c, conf).HandshakeContext(ctx)
			})
		case "http", "https":
			cl, err := client(e.caFile)
			if err != nil {
				return nil, err
			}
			probes = append(probes, func(ctx context.Context) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
				if err != nil {
					return err
				}
				resp, err := cl.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode < 200 || resp.StatusCode > 399 {
					return fmt.Errorf("%s: status %d", target, resp.StatusCode)
				}
				return nil
			})
		default:
			return nil, errors.New(target + ": unsupported scheme")
		}
	}
	return probes, nil
}
