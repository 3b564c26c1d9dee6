// Command fleet serves loopback endpoints for the msgprobe benchmark: plain
// TCP (accept then close), TLS (handshake then close), HTTPS and HTTP (200
// "ok"), all with certificates from a private CA made at start. It writes the
// CA's PEM to a file, prints its addresses as JSON, and serves until it is
// signalled or its standard input closes.
//
// A handful of listeners of each kind is enough: a benchmark config points
// many named endpoints at the same listener.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/msgprobe/msgprobe/bench/internal/fleetaddr"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("fleet: ")
	per := flag.Int("n", 4, "listeners of each kind")
	caPath := flag.String("ca", "ca.pem", "write the CA certificate (PEM) to `FILE`")
	addrsPath := flag.String("addrs", "", "write the addresses (JSON) to `FILE` instead of standard output")
	delay := flag.Duration("delay", 0, "wait this long before answering a plain HTTP request")
	watchStdin := flag.Bool("stdin", true, "stop when standard input reaches end of file (ignored when it is /dev/null)")
	flag.Parse()
	if flag.NArg() > 0 || *per < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*per, *caPath, *addrsPath, *delay, *watchStdin); err != nil {
		log.Fatal(err)
	}
}

func run(per int, caPath, addrsPath string, delay time.Duration, watchStdin bool) error {
	p, err := newPKI(time.Now())
	if err != nil {
		return fmt.Errorf("make certificates: %w", err)
	}
	caAbs, err := filepath.Abs(caPath)
	if err != nil {
		return err
	}
	if err := fleetaddr.WriteFileAtomic(caAbs, p.caPEM); err != nil {
		return err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{p.leaf}}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if watchStdin && !stdinIsDevNull() {
		// A parent that dies without a chance to signal still closes our
		// standard input, so a pipe there ties the fleet's life to it.
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	var (
		n         counters
		listeners []net.Listener
		servers   []*http.Server
		addrs     = fleetaddr.Addrs{CA: caAbs}
	)
	defer func() { shutdown(servers, listeners) }()
	listen := func(list *[]string) (net.Listener, error) {
		// net.Listen asks for the kernel's maximum backlog (somaxconn), so
		// bursts of connects queue instead of being refused.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, ln)
		*list = append(*list, ln.Addr().String())
		return ln, nil
	}
	for range per {
		ln, err := listen(&addrs.TCP)
		if err != nil {
			return err
		}
		go serveTCP(ln, &n)

		if ln, err = listen(&addrs.TLS); err != nil {
			return err
		}
		go serveTLS(ln, conf, &n)

		if ln, err = listen(&addrs.HTTPS); err != nil {
			return err
		}
		s := newHTTPServer(0, &n.https, conf)
		servers = append(servers, s)
		go s.ServeTLS(ln, "", "")

		if ln, err = listen(&addrs.HTTP); err != nil {
			return err
		}
		s = newHTTPServer(delay, &n.http, nil)
		servers = append(servers, s)
		go s.Serve(ln)
	}

	out, err := json.MarshalIndent(addrs, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if addrsPath == "" {
		if _, err := os.Stdout.Write(out); err != nil {
			return err
		}
	} else if err := fleetaddr.WriteFileAtomic(addrsPath, out); err != nil {
		return err
	}

	<-ctx.Done()
	log.Printf("served tcp=%d tls=%d (handshake failures %d) https=%d http=%d",
		n.tcp.Load(), n.tls.Load(), n.tlsFailed.Load(), n.https.Load(), n.http.Load())
	return nil
}

func stdinIsDevNull() bool {
	in, err := os.Stdin.Stat()
	if err != nil {
		return true
	}
	null, err := os.Stat(os.DevNull)
	if err != nil {
		return false
	}
	return os.SameFile(in, null)
}
