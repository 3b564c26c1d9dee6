package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// connDeadline bounds every server-side connection, so a client that stalls
// cannot pin a goroutine for the life of the fleet.
const connDeadline = 30 * time.Second

// counters are reported when the fleet stops: a failing benchmark run can
// then be told apart from a fleet that refused work.
type counters struct {
	tcp, tls, tlsFailed, https, http atomic.Int64
}

// acceptLoop hands every connection to handle in its own goroutine, so one
// slow handshake never delays the next accept. It returns when ln is closed.
func acceptLoop(ln net.Listener, handle func(net.Conn)) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off rather than
			// spin, as net/http does.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			log.Printf("accept %s: %v; retrying in %v", ln.Addr(), err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go handle(c)
	}
}

// serveTCP accepts and closes: the client only measures the connect.
func serveTCP(ln net.Listener, n *counters) {
	acceptLoop(ln, func(c net.Conn) {
		n.tcp.Add(1)
		c.Close()
	})
}

// serveTLS completes a handshake and closes.
func serveTLS(ln net.Listener, conf *tls.Config, n *counters) {
	acceptLoop(ln, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(connDeadline))
		if err := tls.Server(c, conf).Handshake(); err != nil {
			n.tlsFailed.Add(1)
			return
		}
		n.tls.Add(1)
	})
}

// newHTTPServer answers every request with 200 "ok", after delay.
func newHTTPServer(delay time.Duration, served *atomic.Int64, conf *tls.Config) *http.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	return &http.Server{
		Handler:           h,
		TLSConfig:         conf,
		ReadHeaderTimeout: connDeadline,
		IdleTimeout:       connDeadline,
		// Clients that hang up mid-handshake are expected under load and are
		// counted by the client; logging each would drown the output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// shutdown stops servers and closes listeners; it never waits long.
func shutdown(servers []*http.Server, listeners []net.Listener) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(ctx)
	}
	for _, ln := range listeners {
		ln.Close()
	}
}
