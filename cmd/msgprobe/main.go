// Command msgprobe tells whether messaging services are up, degraded or
// down right now, or whether the fault is the local network.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], SystemIO())) }
