package round

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is the one-line counter a terminal shows on stderr while a run
// takes long enough to wonder about it. Quick runs never show it, so a
// one-second check does not flash a line; it is erased before the report is
// printed, so it never ends up in a scrollback or a pipe.
type Progress struct {
	w     io.Writer
	delay time.Duration // how long a run goes before the counter appears
	every time.Duration // the least time between two redraws
	now   func() time.Time
	// after runs f once d has passed and returns a function that cancels
	// it; tests replace it to fire the timer themselves.
	after func(d time.Duration, f func()) (stop func() bool)

	mu          sync.Mutex
	done, total int
	shown       bool
	ended       bool
	drawn       time.Time
	stop        func() bool
}

const (
	progressDelay = 300 * time.Millisecond
	progressEvery = 100 * time.Millisecond
	eraseLine     = "\r\x1b[K"
)

// NewProgress returns a counter drawn on w, a terminal. A nil *Progress
// is a counter that does nothing: the driver passes nil unless stderr is a
// terminal and the run is not quiet.
func NewProgress(w io.Writer) *Progress {
	return &Progress{
		w:     w,
		delay: progressDelay,
		every: progressEvery,
		now:   time.Now,
		after: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
	}
}

// Start arms the counter for a run of total endpoints.
func (p *Progress) Start(total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total, p.shown, p.ended = 0, total, false, false
	p.stop = p.after(p.delay, p.reveal)
}

// update is the runner's Progress hook.
func (p *Progress) update(done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if p.shown && !p.ended && p.now().Sub(p.drawn) >= p.every {
		p.draw()
	}
}

// reveal shows the counter once the run has lasted the delay.
func (p *Progress) reveal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || p.shown {
		return
	}
	p.shown = true
	p.draw()
}

func (p *Progress) draw() {
	p.drawn = p.now()
	fmt.Fprintf(p.w, "%sprobing %d/%d endpoints…", eraseLine, p.done, p.total)
}

// End erases the counter, if it was shown, and disarms it.
func (p *Progress) End() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.stop != nil {
		p.stop()
	}
	if p.shown {
		io.WriteString(p.w, eraseLine)
	}
}

// Hook is the function to hand to probe.Runner.Progress.
func (p *Progress) Hook() func(done, total int) {
	if p == nil {
		return nil
	}
	return p.update
}
