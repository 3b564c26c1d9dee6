// Command hostile serves one loopback HTTP listener that misbehaves on
// purpose, for the benches of what a hostile endpoint can cost msgprobe:
//
//	-mode headers  a status line, then header lines without end, as fast as
//	               the client reads them
//	-mode hold     accepts and never answers (the same number of connections
//	               held open, nothing flowing: the idle figure)
//	-mode ok       "HTTP/1.1 200 OK" with an empty body
//
// It prints its address on standard output (or writes it to -addr FILE) and
// serves until signalled or until its standard input closes.
package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("hostile: ")
	mode := flag.String("mode", "headers", "headers, hold or ok")
	addrPath := flag.String("addr", "", "write the listener's address to `FILE` instead of standard output")
	flag.Parse()
	handle, ok := map[string]func(net.Conn){"headers": endlessHeaders, "hold": hold, "ok": answerOK}[*mode]
	if !ok || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A parent that dies without signalling still closes our input.
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	addr := ln.Addr().String() + "\n"
	if *addrPath != "" {
		tmp := *addrPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *addrPath); err != nil {
			log.Fatal(err)
		}
	} else if _, err := os.Stdout.WriteString(addr); err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
	ln.Close()
}

var headerChunk = bytes.Repeat([]byte("X-Filler: "+strings.Repeat("h", 1000)+"\r\n"), 32)

func endlessHeaders(c net.Conn) {
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return
	}
	go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
	if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n"); err != nil {
		return
	}
	for {
		if _, err := c.Write(headerChunk); err != nil {
			return
		}
	}
}

func hold(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

func answerOK(c net.Conn) {
	if _, err := c.Read(make([]byte, 4096)); err != nil {
		return
	}
	_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}
