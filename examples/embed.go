// Package examples holds the service catalogs compiled into msgprobe.
package examples

import "embed"

// Messaging is the default catalog, the content of messaging.yaml: what
// `msgprobe check` probes when it is given no --config. Copy the file to
// change it; editing it here only changes future builds.
//
//go:embed messaging.yaml
var Messaging []byte

// FS holds every catalog of this directory, messaging.yaml included, so
// that catalogs added later ship without new variables.
//
//go:embed *.yaml
var FS embed.FS
