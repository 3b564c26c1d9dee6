// Command floor does exactly the network work msgprobe does for a config,
// with nothing else: N endpoints, S attempts each one after another, C
// endpoints at once, a fresh connection and a verified handshake per attempt.
// Its cost is the floor that msgprobe's cost is compared with.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("floor: ")
	path := flag.String("c", "", "config `FILE` (msgprobe's schema; only targets, ca_file, samples and timeout are read)")
	samples := flag.Int("samples", 0, "attempts per endpoint (default: the config's, else 3)")
	concurrency := flag.Int("concurrency", 64, "endpoints probed at once")
	timeout := flag.Duration("timeout", 0, "bound on one attempt (default: the config's, else 5s)")
	flag.Parse()
	if *path == "" || flag.NArg() > 0 || *concurrency < 1 || *samples < 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg, err := load(*path)
	if err != nil {
		log.Fatal(err)
	}
	if *samples == 0 {
		*samples = cfg.samples
	}
	if *timeout == 0 {
		*timeout = cfg.timeout
	}
	probes, err := prepare(cfg)
	if err != nil {
		log.Fatal(err)
	}
	s := run(probes, *samples, *concurrency, *timeout)
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	if s.Failed > 0 {
		os.Exit(1)
	}
}

// summary is the one line floor prints.
type summary struct {
	Endpoints int   `json:"endpoints"`
	Attempts  int64 `json:"attempts"`
	OK        int64 `json:"ok"`
	Failed    int64 `json:"failed"`
}

// maxLogged bounds the distinct errors printed, so a dead fleet gives a
// readable message rather than thousands of lines.
const maxLogged = 5

func run(probes []probeFunc, samples, concurrency int, timeout time.Duration) summary {
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		seen       = map[string]bool{}
		wg         sync.WaitGroup
		jobs       = make(chan probeFunc)
	)
	for range min(concurrency, len(probes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				for range samples {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					err := p(ctx)
					cancel()
					if err == nil {
						ok.Add(1)
						continue
					}
					failed.Add(1)
					mu.Lock()
					if msg := err.Error(); !seen[msg] && len(seen) < maxLogged {
						seen[msg] = true
						log.Print(msg)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range probes {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	return summary{
		Endpoints: len(probes),
		Attempts:  ok.Load() + failed.Load(),
		OK:        ok.Load(),
		Failed:    failed.Load(),
	}
}
