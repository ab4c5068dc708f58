package cmd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-audit/kubectl-audit/sources"
)

// progressBar draws the reading progress on stderr when it is a terminal:
// inputs, bytes, rate and, when every input's size is known, a bar and an
// ETA. It appears only after progressDelay, so short runs print nothing,
// and it is erased before the command prints its summary.
type progressBar struct {
	w      io.Writer
	p      *sources.Progress
	inputs int
	total  int64
	known  bool
	start  time.Time
	done   chan struct{}
	wg     sync.WaitGroup
	drawn  bool
}

const (
	progressDelay = time.Second
	progressEvery = 200 * time.Millisecond
)

// startProgress returns a progress bar for the read (nil when w is not a
// terminal or quiet is set).
func startProgress(w io.Writer, quiet bool, opts *sources.ReadOptions) *progressBar {
	if quiet || !isTerminal(w) {
		return nil
	}
	b := &progressBar{w: w, p: &sources.Progress{}, inputs: len(opts.Inputs), start: time.Now(), done: make(chan struct{})}
	b.total, b.known = sources.TotalSize(opts.Inputs)
	opts.Progress = b.p
	b.wg.Add(1)
	go b.run()
	return b
}

func (b *progressBar) run() {
	defer b.wg.Done()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-tick.C:
		}
		if time.Since(b.start) < progressDelay {
			continue
		}
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(time.Since(b.start)))
		b.drawn = true
	}
}

// line is one frame: "[=====>    ]  45%  1.2 GiB / 2.6 GiB  3/10 inputs  812 MB/s  1.0M events  ETA 2s".
func (b *progressBar) line(elapsed time.Duration) string {
	read := b.p.Bytes.Load()
	rate := float64(read) / elapsed.Seconds()
	var parts []string
	if b.known && b.total > 0 {
		frac := min(float64(read)/float64(b.total), 1)
		const width = 24
		n := int(frac * width)
		bar := strings.Repeat("=", n)
		if n < width {
			bar += ">" + strings.Repeat(" ", width-n-1)
		}
		parts = append(parts, fmt.Sprintf("[%s] %3.0f%%", bar, 100*frac), sources.HumanBytes(read)+" / "+sources.HumanBytes(b.total))
	} else {
		parts = append(parts, sources.HumanBytes(read))
	}
	parts = append(parts, fmt.Sprintf("%d/%d inputs", b.p.InputsDone.Load(), b.inputs),
		sources.HumanBytes(int64(rate))+"/s", fmt.Sprintf("%d events", b.p.Events.Load()))
	if b.known && b.total > 0 && rate > 0 && read < b.total {
		eta := time.Duration(float64(b.total-read) / rate * float64(time.Second))
		parts = append(parts, "ETA "+eta.Round(time.Second).String())
	}
	return strings.Join(parts, "  ")
}

// stop ends the bar and erases it.
func (b *progressBar) stop() {
	if b == nil {
		return
	}
	close(b.done)
	b.wg.Wait()
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
}
