// Package round is msgprobe's round loop: probe every endpoint of a
// configuration once, let package probe judge it, advance the state kept
// between rounds, compute the transitions, and hand the report to its
// sinks (report files, the state file, and whatever a driver adds).
//
// `msgprobe check` runs one round, `check --watch` and `serve` run them one
// after another; all three drive the same Loop, so that a round means the
// same thing whichever command ran it. The package knows nothing of flags,
// terminals or HTTP: a driver builds a Loop from its options and decides
// what to show.
//
// It lives under internal/ because its types (the state file's shape, the
// sink interface) are the CLI's plumbing, free to change with it, not an
// API for other modules; probe and report are the public packages.
package round
