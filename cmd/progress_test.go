package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/sources"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name         string
		total        int64
		known        bool
		read, events int64
		done         int64
		want         []string
		notWant      string
	}{
		{"sizes known", 4 << 30, true, 1 << 30, 1_000_000, 1, []string{"[======>", " 25%", "1.00 GiB / 4.00 GiB", "1/3 inputs", "512.0 MiB/s", "1000000 events", "ETA 6s"}, ""},
		{"size unknown (stdin, a stream)", 0, false, 3 << 20, 10, 0, []string{"3.0 MiB", "0/3 inputs", "1.5 MiB/s"}, "ETA"},
		{"done", 1 << 20, true, 1 << 20, 10, 3, []string{"[========================] 100%", "3/3 inputs"}, "ETA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &progressBar{p: &sources.Progress{}, inputs: 3, total: tt.total, known: tt.known}
			b.p.Bytes.Store(tt.read)
			b.p.Events.Store(tt.events)
			b.p.InputsDone.Store(tt.done)
			got := b.line(2 * time.Second)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("line %q lacks %q", got, w)
				}
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("line %q has %q", got, tt.notWant)
			}
		})
	}
}

// TestNoProgressWhenNotATerminal: output that is not a terminal (a pipe,
// a file, the tests' buffers) never gets a progress bar.
func TestNoProgressWhenNotATerminal(t *testing.T) {
	var opts sources.ReadOptions
	var sb strings.Builder
	if b := startProgress(&sb, false, &opts); b != nil || opts.Progress != nil {
		t.Fatal("a progress bar on a strings.Builder")
	}
}
