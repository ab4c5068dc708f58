package sources

import (
	"io"
	"sync/atomic"
)

// Progress counts what Read has done so far, for a progress bar; every
// field may be read while Read runs.
type Progress struct {
	// Bytes is how many raw (compressed, as stored) bytes were read.
	Bytes atomic.Int64
	// InputsDone counts inputs read to their end (or given up).
	InputsDone atomic.Int64
	// Events counts events decoded.
	Events atomic.Int64
}

// TotalSize is the raw size of inputs whose size is known, and whether it
// is known for all of them (then a progress bar can show an ETA).
func TotalSize(inputs []Input) (total int64, known bool) {
	known = true
	for _, in := range inputs {
		if in.Size <= 0 {
			known = false
			continue
		}
		total += in.Size
	}
	return total, known
}

// countingReader counts the raw bytes read into a Progress.
type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}
