package probe

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

type caFileResult struct {
	certs []*x509.Certificate
	err   error
}

type poolResult struct {
	pool *x509.CertPool
	ok   bool
}

// buildTLS makes ep.TLSConfig once, at load time: reading CA files and
// building pools per attempt would both cost time in the measurement and
// turn a config mistake into a probe failure. nodes are the tls block's
// fields (nil without a block), for error positions.
func (l *loader) buildTLS(ep *Endpoint, nodes map[string]keyVal) {
	cfg := &tls.Config{
		ServerName:         ep.TLS.ServerName,
		InsecureSkipVerify: ep.TLS.InsecureSkipVerify, //nolint:gosec // per-endpoint choice, shown in the report
	}
	if cfg.ServerName == "" {
		// For an IP literal this leaves the IP: crypto/tls then sends no SNI
		// and verifies the certificate's IP SANs, which is what a client
		// dialing that IP gets.
		cfg.ServerName = ep.Host
	}
	if ep.TLS.CAFile != "" || ep.TLS.CAPEM != "" {
		pool, ok := l.rootPool(ep.TLS, nodes)
		if !ok {
			return
		}
		cfg.RootCAs = pool
	}
	ep.TLSConfig = cfg
}

// rootPool builds the pool for one combination of ca_file, ca_pem and
// system_roots; endpoints with the same combination share it.
func (l *loader) rootPool(o TLSOptions, nodes map[string]keyVal) (*x509.CertPool, bool) {
	key := fmt.Sprintf("%q %q %t", o.CAFile, o.CAPEM, o.SystemRoots)
	if r, ok := l.pools[key]; ok {
		return r.pool, r.ok
	}
	pool, ok := l.newRootPool(o, nodes)
	l.pools[key] = poolResult{pool, ok}
	return pool, ok
}

func (l *loader) newRootPool(o TLSOptions, nodes map[string]keyVal) (*x509.CertPool, bool) {
	var pool *x509.CertPool
	ok := true
	if o.SystemRoots {
		sys, err := x509.SystemCertPool()
		if err != nil {
			l.errorf(resolveAlias(nodes["system_roots"].v), "", "cannot load the system's root certificates: %v", err)
			ok = false
		} else {
			pool = sys.Clone()
		}
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	if o.CAFile != "" {
		certs, err := l.readCAFile(o.CAFile)
		if err != nil {
			raw := l.caRaw[o.CAFile]
			hint := ""
			if errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(raw) {
				hint = fmt.Sprintf("looked for %s (relative paths start from the configuration's directory)", o.CAFile)
			}
			l.errorf(resolveAlias(nodes["ca_file"].v), hint, "tls.ca_file %q: %v", raw, err)
			ok = false
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	if o.CAPEM != "" {
		certs, err := parseCerts([]byte(o.CAPEM))
		if err != nil {
			l.errorf(resolveAlias(nodes["ca_pem"].v), `ca_pem holds "-----BEGIN CERTIFICATE-----" blocks`, "tls.ca_pem: %v", err)
			ok = false
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, ok
}

func (l *loader) readCAFile(path string) ([]*x509.Certificate, error) {
	if l.caFiles == nil {
		l.caFiles = map[string]caFileResult{}
	}
	if r, ok := l.caFiles[path]; ok {
		return r.certs, r.err
	}
	certs, err := readCerts(path)
	l.caFiles[path] = caFileResult{certs, err}
	return certs, err
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	return parseCerts(data)
}

// parseCerts reads every CERTIFICATE block of a PEM text; other blocks
// (a key stored alongside) are skipped, and at least one certificate must be
// there.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		certs = append(certs, c)
		n++
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

var tlsKeys = []string{"server_name", "insecure_skip_verify", "ca_file", "ca_pem", "system_roots"}

var tlsBlock = Block{
	Name: "tls",
	Keys: tlsKeys,
	Decode: func(l *loader, n *yaml.Node, ep *Endpoint) {
		l.tlsFields[ep] = l.tlsOptions(n, ep)
	},
}

func (l *loader) tlsOptions(n *yaml.Node, ep *Endpoint) map[string]keyVal {
	f := l.fields(n, keySchema{what: "tls", keys: tlsKeys})
	if f == nil {
		return nil
	}
	if p, ok := f["server_name"]; ok {
		if s, good := l.str(p.v, "tls.server_name"); good {
			if s == "" || strings.ContainsAny(s, " /:@") {
				l.errorf(resolveAlias(p.v), "server_name is a host name, without scheme or port", "tls.server_name %q is not a host name", s)
			} else {
				ep.TLS.ServerName = s
			}
		}
	}
	if p, ok := f["insecure_skip_verify"]; ok {
		ep.TLS.InsecureSkipVerify, _ = l.boolean(p.v, "tls.insecure_skip_verify")
	}
	if p, ok := f["system_roots"]; ok {
		ep.TLS.SystemRoots, _ = l.boolean(p.v, "tls.system_roots")
	}
	if p, ok := f["ca_file"]; ok {
		if s, good := l.str(p.v, "tls.ca_file"); good {
			if s == "" {
				l.errorf(resolveAlias(p.v), "", "tls.ca_file is empty")
			} else {
				ep.TLS.CAFile = l.resolvePath(s)
				l.caRaw[ep.TLS.CAFile] = s
			}
		}
	}
	if p, ok := f["ca_pem"]; ok {
		if s, good := l.str(p.v, "tls.ca_pem"); good {
			ep.TLS.CAPEM = s
		}
	}
	return f
}

// resolvePath makes a path from the config absolute, relative to the config
// file's directory, so that the result does not depend on where msgprobe
// runs from.
