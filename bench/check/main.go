// Command check validates one benchmark run, so that a run that failed is
// never reported as a fast one.
//
//	check -n N -samples S msgprobe-report.json
//	check -n N -samples S -floor floor-summary.json
//
// A msgprobe run is valid when its JSON report lists exactly N endpoints,
// each "up" after S attempts with no failure. A floor run is valid when its
// summary counts N×S attempts, all successful.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
)

type report struct {
	Status   string `json:"status"`
	Services []struct {
		Name      string `json:"name"`
		Endpoints []struct {
			Name     string `json:"name"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
			Attempts int    `json:"attempts"`
			Failures int    `json:"failures"`
		} `json:"endpoints"`
	} `json:"services"`
}

type floorSummary struct {
	Endpoints int `json:"endpoints"`
	Attempts  int `json:"attempts"`
	OK        int `json:"ok"`
	Failed    int `json:"failed"`
}

// maxShown bounds the problems printed for one run.
const maxShown = 5

func main() {
	log.SetFlags(0)
	log.SetPrefix("check: ")
	n := flag.Int("n", 0, "expected number of endpoints")
	samples := flag.Int("samples", 0, "expected attempts per endpoint")
	floor := flag.Bool("floor", false, "the file is the floor's one-line summary")
	flag.Parse()
	if flag.NArg() != 1 || *n < 1 || *samples < 1 {
		flag.Usage()
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	var problems []string
	if *floor {
		problems, err = checkFloor(b, *n, *samples)
	} else {
		problems, err = checkReport(b, *n, *samples)
	}
	if err != nil {
		log.Fatalf("%s: %v", flag.Arg(0), err)
	}
	for i, p := range problems {
		if i == maxShown {
			log.Printf("... and %d more", len(problems)-maxShown)
			break
		}
		log.Print(p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func checkFloor(b []byte, n, samples int) ([]string, error) {
	var s floorSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	var p []string
	if s.Endpoints != n {
		p = append(p, fmt.Sprintf("floor probed %d endpoints, want %d", s.Endpoints, n))
	}
	if want := n * samples; s.Attempts != want || s.OK != want || s.Failed != 0 {
		p = append(p, fmt.Sprintf("floor made %d attempts, %d ok, %d failed; want %d, all ok", s.Attempts, s.OK, s.Failed, want))
	}
	return p, nil
}

func checkReport(b []byte, n, samples int) ([]string, error) {
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	var p []string
	count := 0
	for _, s := range r.Services {
		for _, e := range s.Endpoints {
			count++
			where := s.Name + "/" + e.Name
			switch {
			case e.Status != "up":
				p = append(p, fmt.Sprintf("%s is %s: %s", where, e.Status, e.Reason))
			case e.Failures != 0:
				p = append(p, fmt.Sprintf("%s: %d failures", where, e.Failures))
			case e.Attempts != samples:
				p = append(p, fmt.Sprintf("%s: %d attempts, want %d", where, e.Attempts, samples))
			}
		}
	}
	if count != n {
		p = append(p, fmt.Sprintf("the report lists %d endpoints, want %d", count, n))
	}
	if r.Status != "up" && len(p) == 0 {
		p = append(p, fmt.Sprintf("overall status is %q, want \"up\"", r.Status))
	}
	return p, nil
}
