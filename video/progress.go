package video

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress tells a person what an ingest is doing: on a terminal a bar per long stage
// (transcoding, then uploading), elsewhere (a log, a CI job) only the lines between them,
// because a bar redrawn with carriage returns is noise in a file. A nil *progress says
// nothing.
type progress struct {
	w   io.Writer
	tty bool
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		fi, err := f.Stat()
		p.tty = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	return p
}

func (p *progress) printf(format string, args ...any) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// start shows a bar that fills up to total, counted in bytes when bytes is set.
func (p *progress) start(desc string, total int64, bytes bool) {
	if p == nil || !p.tty {
		return
	}
	w := p.w
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(40),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
}

// set moves the bar to n; transcoding reports where it is, not how far it moved.
func (p *progress) set(n int64) {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Set64(min(n, p.bar.GetMax64()))
}

// add moves the bar on by n; it is safe from several goroutines.
func (p *progress) add(n int64) {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Add64(n)
}

// finish fills the bar and ends its line, so that what is printed next starts on its own.
func (p *progress) finish() {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Finish()
	p.bar = nil
}
