package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/msgprobe/msgprobe/internal/round"
	"github.com/msgprobe/msgprobe/probe"
	"github.com/msgprobe/msgprobe/report"
)

// Terminal control for the redraw: cursor home, then clear the screen.
const clearScreen = "\x1b[H\x1b[2J"

// watch probes round after round, --watch apart (counted from the end of a
// round, so rounds never overlap), until ctx ends or the user presses
// Ctrl-C. Every round writes the report files and the state; a round cut
// short by Ctrl-C is dropped unless it is the first, and the exit code is
// that of the last round reported.
func (c *checkRun) watch(ctx context.Context) error {
	ctx, stop := watchContext(ctx, c.io)
	defer stop()
	c.loop.Track = true
	var (
		lastChange time.Time
		changeNote string
		first      time.Time
	)
	last, err := c.loop.Repeat(ctx, round.Schedule{Interval: c.opts.Watch}, func(r *round.Result, err error) error {
		if err != nil {
			return err
		}
		rep := r.Report
		if r.Round == 1 {
			first = rep.StartedAt
		}
		if changes := report.Changes(rep); len(changes) > 0 {
			lastChange = rep.StartedAt
			changeNote = report.TransitionLine(changes[0], rep.StartedAt)
			if len(changes) > 1 {
				changeNote += fmt.Sprintf(" (+%d more)", len(changes)-1)
			}
		}
		return c.show(rep, watchLine(r.Round, c.opts.Watch, rep.StartedAt, first, lastChange, changeNote))
	})
	if err != nil {
		return err
	}
	return verdictExit(last.Report.Status, c.failOn, c.failOnSet)
}

// watchLine says which round this is and what changed last:
//
//	round 7 · 09:41:07 · every 30s · last change 09:40:37: Signal: up → down (up since 09:38, 3 runs)
//	round 1 · 09:38:07 · every 30s · no change since 09:38:07
func watchLine(round int, every time.Duration, at, first, lastChange time.Time, change string) string {
	s := fmt.Sprintf("round %d · %s · every %s · ", round, at.Format("15:04:05"), every)
	if lastChange.IsZero() {
		return s + "no change since " + first.In(at.Location()).Format("15:04:05")
	}
	return s + "last change " + lastChange.In(at.Location()).Format("15:04:05") + ": " + change
}

// show prints a round. On a terminal the screen is redrawn in place with
// the watch line under the report. In a pipe the table rounds follow one
// another, each opened by "== " and the watch line; the other formats are
// written back to back, so that JSON reads as a stream of documents.
func (c *checkRun) show(rep *probe.Report, line string) error {
	o := c.stdout
	if o == nil {
		if c.opts.Quiet && news(rep) {
			printDigest(c.io.Out, rep)
		}
		return nil
	}
	if c.opts.Quiet && !news(rep) {
		return nil
	}
	var b bytes.Buffer
	switch {
	case c.io.OutTTY:
		b.WriteString(clearScreen)
		if err := o.renderer.Render(&b, rep); err != nil {
			return err
		}
		b.WriteString(line + "\n")
	case o.format == "table":
		b.WriteString("== " + line + "\n")
		if err := o.renderer.Render(&b, rep); err != nil {
			return err
		}
		b.WriteString("\n")
	default:
		if err := o.renderer.Render(&b, rep); err != nil {
			return err
		}
	}
	// One write per round, so a redraw never shows half a table.
	_, err := c.io.Out.Write(b.Bytes())
	return err
}

// watchContext ends the watch on Ctrl-C or SIGTERM; a second one kills the
// process at once.
func watchContext(parent context.Context, io *IO) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	if !io.Signals {
		return ctx, func() { cancel(nil) }
	}
	remove := onInterrupt(func() { cancel(probe.ErrInterrupted) })
	return ctx, func() {
		remove()
		cancel(nil)
	}
}
